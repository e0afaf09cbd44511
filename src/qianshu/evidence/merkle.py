"""RFC 6962 Merkle tree hashing, inclusion and consistency proofs, and their verification.

The tree is the one of RFC 6962 §2.1, restated in RFC 9162 §2.1: SHA-256, leaves hashed as
`SHA-256(0x00 ‖ data)`, interior nodes as `SHA-256(0x01 ‖ left ‖ right)`, the left subtree of
`n` leaves holding the largest power of two below `n`.

Proofs are built from *perfect subtrees*: the subtree at `(height h, index k)` spans the leaves
`[k·2^h, (k+1)·2^h)`. Its hash never changes once its last leaf exists, so a store keeps only
those (as tlog tiles) and every proof or root is folded from O(log n) of them, fetched in one
batch through a `HashReader`. This module is pure: no database, no HTTP.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

from qianshu.core.errors import VerificationFailed

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"  # RFC 6962 §2.1 / RFC 9162 §2.1.1: leaf hash domain separator
NODE_PREFIX = b"\x01"  # RFC 6962 §2.1 / RFC 9162 §2.1.1: interior node domain separator

Subtree = tuple[int, int]  # (height h, index k): the perfect subtree over leaves [k·2^h, (k+1)·2^h)
HashReader = Callable[[Sequence[Subtree]], Sequence[bytes]]


class InvalidProof(VerificationFailed):
    """A Merkle proof does not verify; `step` names the RFC 9162 algorithm that failed."""

    slug = "invalid-log-proof"
    title = "日志证明未通过验证"
    title_en = "The log proof does not verify"


def empty_root() -> bytes:
    """Return the hash of the empty tree, SHA-256 of the empty string (RFC 9162 §2.1.1)."""
    return hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """Hash one leaf: SHA-256(0x00 ‖ data) (RFC 6962 §2.1)."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Hash an interior node: SHA-256(0x01 ‖ left ‖ right) (RFC 6962 §2.1)."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """Return k, the largest power of two smaller than n (n > 1), per RFC 6962 §2.1."""
    return 1 << ((n - 1).bit_length() - 1)


def perfect_root(hashes: Sequence[bytes]) -> bytes:
    """Return the root over a power-of-two number of subtree hashes (RFC 6962 §2.1 MTH)."""
    count = len(hashes)
    if count == 0 or count & (count - 1):
        raise ValueError("perfect_root needs a power-of-two, non-zero number of hashes")
    level = list(hashes)
    while len(level) > 1:
        level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def subtrees_of_range(start: int, end: int) -> list[Subtree]:
    """Split leaves [start, end) into the perfect subtrees whose fold gives MTH(D[start:end]).

    RFC 6962 §2.1 cuts a range of n leaves into a perfect left part of k = 2^⌊log2(n-1)⌋ leaves
    and the rest, so the range must start on a multiple of its largest perfect part; every
    range that occurs in an RFC 6962 proof or root does.
    """
    if not 0 <= start < end:
        raise ValueError("empty or negative leaf range")
    out: list[Subtree] = []
    n = end - start
    top = 1 << (n.bit_length() - 1)
    if start % top:
        raise ValueError("range is not aligned to a Merkle subtree boundary")
    pos = start
    for height in range(n.bit_length() - 1, -1, -1):
        if n >> height & 1:
            out.append((height, pos >> height))
            pos += 1 << height
    return out


def fold_subtrees(hashes: Sequence[bytes]) -> bytes:
    """Combine perfect-subtree hashes from `subtrees_of_range` into the range's MTH (right fold)."""
    if not hashes:
        raise ValueError("nothing to fold")
    acc = hashes[-1]
    for left in reversed(hashes[:-1]):
        acc = node_hash(left, acc)
    return acc


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """Return the leaf ranges whose MTH make PATH(index, D[size]), leaf-side first (RFC 9162 §2.1.3.1)."""
    if not 0 <= index < size:
        raise ValueError("leaf index outside the tree")
    top_down: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            top_down.append((lo + k, hi))
            hi = lo + k
        else:
            top_down.append((lo, lo + k))
            lo += k
    return top_down[::-1]


def consistency_ranges(first: int, second: int) -> list[tuple[int, int]]:
    """Return the leaf ranges whose MTH make PROOF(first, D[second]) (RFC 9162 §2.1.4.1)."""
    if not 0 < first <= second:
        raise ValueError("consistency needs 0 < first <= second")
    top_down: list[tuple[int, int]] = []
    lo, hi, whole = 0, second, True  # `whole` is SUBPROOF's flag b
    while first < hi:
        k = _split(hi - lo)
        if first <= lo + k:
            top_down.append((lo + k, hi))
            hi = lo + k
        else:
            top_down.append((lo, lo + k))
            lo += k
            whole = False
    if not whole:
        top_down.append((lo, hi))  # SUBPROOF(m, D[m], false) = {MTH(D[m])}
    return top_down[::-1]


def hash_ranges(ranges: Sequence[tuple[int, int]], read: HashReader) -> list[bytes]:
    """Return MTH of each leaf range, reading every perfect subtree needed in one batch."""
    plans = [subtrees_of_range(lo, hi) for lo, hi in ranges]
    wanted = sorted({s for plan in plans for s in plan})
    got = read(wanted) if wanted else []
    if len(got) != len(wanted):
        raise LookupError("the hash store returned the wrong number of subtree hashes")
    table = dict(zip(wanted, got, strict=True))
    return [fold_subtrees([table[s] for s in plan]) for plan in plans]


def root_hash(size: int, read: HashReader) -> bytes:
    """Return MTH(D[0:size]) (RFC 6962 §2.1), the empty-tree hash for size 0."""
    if size == 0:
        return empty_root()
    return hash_ranges([(0, size)], read)[0]


def inclusion_proof(index: int, size: int, read: HashReader) -> list[bytes]:
    """Build the audit path of leaf `index` in the tree of `size` leaves (RFC 9162 §2.1.3.1)."""
    return hash_ranges(inclusion_ranges(index, size), read)


def consistency_proof(first: int, second: int, read: HashReader) -> list[bytes]:
    """Build the consistency proof between tree sizes `first` and `second` (RFC 9162 §2.1.4.1)."""
    return hash_ranges(consistency_ranges(first, second), read)


def _check_hash(value: bytes, what: str, step: str) -> None:
    if len(value) != HASH_SIZE:
        raise InvalidProof(step=step, reason=f"{what} is not a {HASH_SIZE}-byte hash")


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """Recompute the root from a leaf hash and its audit path (RFC 9162 §2.1.3.2 steps 1-4)."""
    step = "RFC 9162 §2.1.3.2 inclusion"
    if not 0 <= index < size:  # step 1
        raise InvalidProof(step=step, reason="leaf index is not below the tree size")
    _check_hash(leaf, "leaf hash", step)
    fn, sn, r = index, size - 1, leaf  # steps 2-3
    for p in proof:  # step 4
        _check_hash(p, "proof element", step)
        if sn == 0:
            raise InvalidProof(step=step, reason="proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:  # step 5, first half
        raise InvalidProof(step=step, reason="proof is shorter than the tree is deep")
    return r


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """Check that `leaf` is at `index` in the tree with `root` (RFC 9162 §2.1.3.2); raise InvalidProof."""
    computed = root_from_inclusion_proof(index, size, leaf, proof)
    if computed != root:  # step 5, second half
        raise InvalidProof(
            step="RFC 9162 §2.1.3.2 inclusion", reason="computed root differs from the tree root"
        )


def verify_consistency(
    first: int, second: int, proof: Sequence[bytes], first_root: bytes, second_root: bytes
) -> None:
    """Check that tree `second` extends tree `first` (RFC 9162 §2.1.4.2); raise InvalidProof."""
    step = "RFC 9162 §2.1.4.2 consistency"
    for value in (first_root, second_root):
        _check_hash(value, "root hash", step)
    if not 0 <= first <= second:
        raise InvalidProof(step=step, reason="the first tree is larger than the second")
    if first == 0 or first == second:
        # The empty tree is a prefix of every tree; equal sizes must have equal roots.
        if proof:
            raise InvalidProof(step=step, reason="proof must be empty for these tree sizes")
        if first == second and first_root != second_root:
            raise InvalidProof(step=step, reason="equal tree sizes with different roots")
        return
    if not proof:  # step 1
        raise InvalidProof(step=step, reason="proof is empty")
    path = list(proof)
    for p in path:
        _check_hash(p, "proof element", step)
    if first & (first - 1) == 0:  # step 2: first is an exact power of two
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1  # step 3
    while fn & 1:  # step 4
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]  # step 5
    for c in path[1:]:  # step 6
        if sn == 0:
            raise InvalidProof(step=step, reason="proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:  # step 7
        raise InvalidProof(step=step, reason="proof is shorter than the tree is deep")
    if fr != first_root:
        raise InvalidProof(step=step, reason="computed first root differs")
    if sr != second_root:
        raise InvalidProof(step=step, reason="computed second root differs")


class MemoryTree:
    """A whole tree held in memory (a mirror, the offline verifier, tests), read as a HashReader."""

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self._levels: list[list[bytes]] = [[]]
        for h in leaf_hashes:
            self.append(h)

    @property
    def size(self) -> int:
        """Return the number of leaves."""
        return len(self._levels[0])

    def append(self, leaf: bytes) -> int:
        """Add one leaf hash, completing the perfect subtrees it closes; return its index."""
        index = self.size
        level, pos, h = 0, index, leaf
        while True:
            if len(self._levels) == level:
                self._levels.append([])
            self._levels[level].append(h)
            if not pos & 1:
                return index
            h = node_hash(self._levels[level][pos - 1], h)
            level, pos = level + 1, pos >> 1

    def read(self, subtrees: Sequence[Subtree]) -> list[bytes]:
        """Return the hash of each complete perfect subtree (a HashReader)."""
        out = []
        for height, index in subtrees:
            if height >= len(self._levels) or index >= len(self._levels[height]):
                raise LookupError(f"subtree ({height}, {index}) is not complete")
            out.append(self._levels[height][index])
        return out

    def root(self, size: int | None = None) -> bytes:
        """Return MTH of the first `size` leaves (all by default)."""
        return root_hash(self.size if size is None else size, self.read)
