"""RFC 6962 / RFC 9162 Merkle hashing and proofs: known answers, every size to 64, tampering."""

from __future__ import annotations

import hashlib

import pytest

from qianshu.evidence import merkle
from qianshu.evidence.merkle import InvalidProof, MemoryTree

h = bytes.fromhex

# The RFC 6962 test vectors of the certificate-transparency reference code (also used by
# transparency-dev/merkle testonly): eight leaf inputs and the roots of their prefixes.
CT_LEAVES = [
    h(x)
    for x in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
CT_ROOTS = [
    h(x)
    for x in [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]
]
CT_INCLUSION = {  # (index, size): audit path
    (0, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (5, 8): [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
    (2, 3): ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    (1, 2): ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"],
}
CT_CONSISTENCY = {  # (first, second): proof
    (1, 1): [],
    (1, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (6, 8): [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
    (2, 5): [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
}


# --- an independent, deliberately naive reading of RFC 6962 §2.1 on the raw data ----------------


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def naive_mth(data: list[bytes]) -> bytes:
    """MTH(D[n]) by the recursive definition of RFC 6962 §2.1."""
    if not data:
        return hashlib.sha256(b"").digest()
    if len(data) == 1:
        return hashlib.sha256(b"\x00" + data[0]).digest()
    k = _k(len(data))
    return hashlib.sha256(b"\x01" + naive_mth(data[:k]) + naive_mth(data[k:])).digest()


def naive_path(m: int, data: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of RFC 6962 §2.1.1."""
    if len(data) <= 1:
        return []
    k = _k(len(data))
    if m < k:
        return [*naive_path(m, data[:k]), naive_mth(data[k:])]
    return [*naive_path(m - k, data[k:]), naive_mth(data[:k])]


def naive_subproof(m: int, data: list[bytes], whole: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) of RFC 6962 §2.1.2."""
    n = len(data)
    if m == n:
        return [] if whole else [naive_mth(data)]
    k = _k(n)
    if m <= k:
        return [*naive_subproof(m, data[:k], whole), naive_mth(data[k:])]
    return [*naive_subproof(m - k, data[k:], False), naive_mth(data[:k])]


DATA = [f"entry-{i}".encode() for i in range(64)]
TREE = MemoryTree(merkle.leaf_hash(d) for d in DATA)


# --- known answers ------------------------------------------------------------------------------


def test_empty_tree_hash_is_sha256_of_the_empty_string() -> None:
    assert merkle.empty_root() == h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    assert MemoryTree().root() == merkle.empty_root()


def test_leaf_and_node_hashes_use_the_rfc6962_prefixes() -> None:
    assert merkle.leaf_hash(b"") == hashlib.sha256(b"\x00").digest() == CT_ROOTS[0]
    a, b = merkle.leaf_hash(b"a"), merkle.leaf_hash(b"b")
    assert merkle.node_hash(a, b) == hashlib.sha256(b"\x01" + a + b).digest()
    assert merkle.node_hash(a, b) != merkle.node_hash(b, a)


def test_roots_match_the_ct_vectors() -> None:
    tree = MemoryTree(merkle.leaf_hash(d) for d in CT_LEAVES)
    for size in range(1, 9):
        assert tree.root(size) == CT_ROOTS[size - 1]
        assert naive_mth(CT_LEAVES[:size]) == CT_ROOTS[size - 1]


@pytest.mark.parametrize(("index", "size"), sorted(CT_INCLUSION))
def test_inclusion_proofs_match_the_ct_vectors(index: int, size: int) -> None:
    tree = MemoryTree(merkle.leaf_hash(d) for d in CT_LEAVES)
    proof = merkle.inclusion_proof(index, size, tree.read)
    assert [p.hex() for p in proof] == CT_INCLUSION[(index, size)]
    merkle.verify_inclusion(index, size, merkle.leaf_hash(CT_LEAVES[index]), proof, CT_ROOTS[size - 1])


@pytest.mark.parametrize(("first", "second"), sorted(CT_CONSISTENCY))
def test_consistency_proofs_match_the_ct_vectors(first: int, second: int) -> None:
    tree = MemoryTree(merkle.leaf_hash(d) for d in CT_LEAVES)
    proof = merkle.consistency_proof(first, second, tree.read)
    assert [p.hex() for p in proof] == CT_CONSISTENCY[(first, second)]
    merkle.verify_consistency(first, second, proof, CT_ROOTS[first - 1], CT_ROOTS[second - 1])


# --- every size from 1 to 64, cross-checked against the naive recursion ---------------------------


def test_roots_for_every_size_match_the_naive_recursion() -> None:
    for size in range(0, 65):
        assert TREE.root(size) == naive_mth(DATA[:size])


def test_inclusion_proofs_for_every_size_and_index() -> None:
    for size in range(1, 65):
        root = naive_mth(DATA[:size])
        for index in range(size):
            proof = merkle.inclusion_proof(index, size, TREE.read)
            assert proof == naive_path(index, DATA[:size])
            merkle.verify_inclusion(index, size, merkle.leaf_hash(DATA[index]), proof, root)
            assert merkle.root_from_inclusion_proof(index, size, merkle.leaf_hash(DATA[index]), proof) == root


def test_consistency_proofs_for_every_pair_of_sizes() -> None:
    for second in range(1, 65):
        second_root = naive_mth(DATA[:second])
        for first in range(1, second + 1):
            proof = merkle.consistency_proof(first, second, TREE.read)
            assert proof == naive_subproof(first, DATA[:second], True)
            merkle.verify_consistency(first, second, proof, naive_mth(DATA[:first]), second_root)


def test_proofs_need_only_a_logarithmic_number_of_stored_hashes() -> None:
    reads: list[int] = []

    def counting(subtrees: list[tuple[int, int]]) -> list[bytes]:
        reads.append(len(subtrees))
        return TREE.read(subtrees)

    merkle.inclusion_proof(37, 63, counting)  # type: ignore[arg-type]
    merkle.consistency_proof(21, 63, counting)  # type: ignore[arg-type]
    assert len(reads) == 2  # one batch each
    assert max(reads) <= 2 * 6


# --- tampering ----------------------------------------------------------------------------------


def _flip(value: bytes) -> bytes:
    return bytes([value[0] ^ 1]) + value[1:]


def test_tampered_inclusion_proofs_are_rejected() -> None:
    size, index = 45, 17
    leaf, root = merkle.leaf_hash(DATA[index]), TREE.root(size)
    proof = merkle.inclusion_proof(index, size, TREE.read)
    merkle.verify_inclusion(index, size, leaf, proof, root)
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = _flip(bad[i])
        with pytest.raises(InvalidProof):
            merkle.verify_inclusion(index, size, leaf, bad, root)
    cases = [
        (index + 1, size, leaf, proof, root),  # wrong position
        (index, 2 * size, leaf, proof, root),  # a size with another shape
        (index, size, _flip(leaf), proof, root),  # other leaf
        (index, size, leaf, proof, _flip(root)),  # other root
        (index, size, leaf, proof[:-1], root),  # truncated
        (index, size, leaf, [*proof, proof[0]], root),  # extended
        (index, size, leaf, proof[::-1], root),  # reordered
        (size, size, leaf, proof, root),  # index outside the tree
        (index, size, leaf, [proof[0][:31], *proof[1:]], root),  # short hash
    ]
    for args in cases:
        with pytest.raises(InvalidProof):
            merkle.verify_inclusion(*args)


def test_tampered_consistency_proofs_are_rejected() -> None:
    first, second = 13, 50
    r1, r2 = TREE.root(first), TREE.root(second)
    proof = merkle.consistency_proof(first, second, TREE.read)
    merkle.verify_consistency(first, second, proof, r1, r2)
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = _flip(bad[i])
        with pytest.raises(InvalidProof):
            merkle.verify_consistency(first, second, bad, r1, r2)
    cases = [
        (first, second, proof, _flip(r1), r2),
        (first, second, proof, r1, _flip(r2)),
        (first + 1, second, proof, r1, r2),
        (first, second - 20, proof, r1, r2),
        (first, second, proof[:-1], r1, r2),
        (first, second, [*proof, proof[0]], r1, r2),
        (first, second, [], r1, r2),
        (second, first, proof, r2, r1),
        (first, first, [proof[0]], r1, r1),  # equal sizes need an empty proof
        (first, first, [], r1, r2),  # ... and equal roots
    ]
    for args in cases:
        with pytest.raises(InvalidProof):
            merkle.verify_consistency(*args)


def test_a_forked_tree_fails_the_consistency_check() -> None:
    forked = MemoryTree(merkle.leaf_hash(d) for d in [*DATA[:9], b"rewritten", *DATA[10:40]])
    proof = merkle.consistency_proof(12, 40, forked.read)
    with pytest.raises(InvalidProof):
        merkle.verify_consistency(12, 40, proof, TREE.root(12), forked.root(40))


def test_the_empty_tree_is_consistent_with_any_tree() -> None:
    merkle.verify_consistency(0, 40, [], merkle.empty_root(), TREE.root(40))
    with pytest.raises(InvalidProof):
        merkle.verify_consistency(0, 40, [TREE.root(1)], merkle.empty_root(), TREE.root(40))


def test_ranges_must_align_with_subtrees() -> None:
    assert merkle.subtrees_of_range(8, 13) == [(2, 2), (0, 12)]
    with pytest.raises(ValueError, match="aligned"):
        merkle.subtrees_of_range(3, 7)
    with pytest.raises(ValueError):
        merkle.inclusion_ranges(5, 5)
    with pytest.raises(ValueError):
        merkle.consistency_ranges(0, 5)


def test_memory_tree_refuses_incomplete_subtrees() -> None:
    tree = MemoryTree(merkle.leaf_hash(d) for d in DATA[:5])
    with pytest.raises(LookupError):
        tree.read([(3, 0)])
    assert tree.read([(2, 0)]) == [naive_mth(DATA[:4])]
