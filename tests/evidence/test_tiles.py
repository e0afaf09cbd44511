"""C2SP tlog-tiles layout: paths, partial widths, entry bundles and tile contents."""

from __future__ import annotations

import pytest

from qianshu.evidence import merkle, tiles
from qianshu.evidence.merkle import MemoryTree
from qianshu.evidence.tiles import TileRef


@pytest.mark.parametrize(
    ("index", "encoded"),
    [
        (0, "000"),
        (7, "007"),
        (999, "999"),
        (1000, "x001/000"),
        (1234, "x001/234"),
        (1234067, "x001/x234/067"),
        (10**9, "x001/x000/x000/000"),
    ],
)
def test_index_is_written_in_x_prefixed_three_digit_groups(index: int, encoded: str) -> None:
    assert tiles.format_index(index) == encoded


def test_tile_paths() -> None:
    assert tiles.tile_path(0, 1234) == "tile/0/x001/234"
    assert tiles.tile_path(1, 1234067, 17) == "tile/1/x001/x234/067.p/17"
    assert tiles.tile_path(None, 3) == "tile/entries/003"
    assert tiles.tile_path(None, 3, 255) == "tile/entries/003.p/255"
    for bad in [(64, 0, 256), (0, 0, 0), (0, 0, 257), (0, -1, 256)]:
        with pytest.raises(ValueError):
            tiles.tile_path(*bad)


@pytest.mark.parametrize(
    ("path", "ref"),
    [
        ("tile/0/x001/234", TileRef(0, 1234)),
        ("tile/63/000", TileRef(63, 0)),
        ("tile/2/x001/x234/067.p/1", TileRef(2, 1234067, 1)),
        ("tile/entries/000.p/255", TileRef(None, 0, 255)),
        ("tile/entries/x999/999", TileRef(None, 999999)),
    ],
)
def test_canonical_paths_parse(path: str, ref: TileRef) -> None:
    assert tiles.parse_tile_path(path) == ref
    assert ref.path == path


@pytest.mark.parametrize(
    "path",
    [
        "tile/0/x000/001",  # superfluous leading group
        "tile/0/1",  # not three digits
        "tile/0/x001",  # last element must not carry x
        "tile/01/000",  # leading zero in the level
        "tile/64/000",  # level above 63
        "tile/0/000.p/0",
        "tile/0/000.p/256",  # a full tile has no .p suffix
        "tile/0/000.p/007",
        "tile/entries/000.p/",
        "tile/foo/000",
        "tile/0/000/",
        "tile/0/../000",
    ],
)
def test_non_canonical_paths_are_refused(path: str) -> None:
    assert tiles.parse_tile_path(path) is None


def test_tiles_for_a_size_follow_the_spec_example() -> None:
    # tlog-tiles §Partial Tiles: 70,000 leaves are 273 full level-0 tiles, a level-0 tile of
    # width 112, one full level-1 tile, a level-1 tile of width 17 and a level-2 tile of width 1.
    refs = tiles.tiles_for_size(70000)
    level0 = [r for r in refs if r.level == 0]
    assert len(level0) == 274 and level0[-1] == TileRef(0, 273, 112)
    assert [r for r in refs if r.level != 0] == [TileRef(1, 0), TileRef(1, 1, 17), TileRef(2, 0, 1)]
    assert tiles.tiles_for_size(256) == [TileRef(0, 0), TileRef(1, 0, 1)]
    assert tiles.tiles_for_size(0) == []
    assert tiles.partial_width(0, 70000) == 112
    assert tiles.partial_width(1, 70000) == 17
    assert tiles.partial_width(2, 70000) == 1
    assert tiles.partial_width(0, 512) == 0


def test_tile_ranges() -> None:
    assert TileRef(0, 2).leaf_range() == (512, 768)
    assert TileRef(1, 1, 17).leaf_range() == (65536, 65536 + 17 * 256)
    assert TileRef(None, 1, 3).leaf_range() == (256, 259)
    assert TileRef(1, 0, 2).subtrees() == [(8, 0), (8, 1)]


def _level_hashes(leaf_hashes: list[bytes], level: int) -> list[bytes]:
    """Hashes of complete subtrees of height 8·level, by plain pairwise hashing (RFC 6962 §2.1)."""
    row = leaf_hashes
    for _ in range(8 * level):
        row = [merkle.node_hash(row[i], row[i + 1]) for i in range(0, len(row) - 1, 2)]
    return row


def test_tile_contents_match_the_tree() -> None:
    size = 70000
    leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(size)]
    tree = MemoryTree(leaves)
    by_level = {level: _level_hashes(leaves, level) for level in range(3)}
    for ref in tiles.tiles_for_size(size):
        assert ref.level is not None
        content = b"".join(tree.read(ref.subtrees()))
        assert len(content) == 32 * ref.width
        start = ref.index * 256
        assert content == b"".join(by_level[ref.level][start : start + ref.width])
    # Any perfect subtree is the fold of hashes inside a single tile.
    for height, index in [(0, 69999), (3, 8000), (8, 200), (9, 100), (15, 1), (16, 0), (12, 16)]:
        level, tile_index, position, count = tiles.tile_for_subtree(height, index)
        width = min(256, size // 256**level - tile_index * 256)
        stored = b"".join(tree.read(TileRef(level, tile_index, width).subtrees()))
        assert tiles.subtree_hash_from_tile(stored, position, count) == tree.read([(height, index)])[0]
    with pytest.raises(LookupError):
        tiles.subtree_hash_from_tile(b"\x00" * 64, 0, 4)


def test_entry_bundles_round_trip_with_uint16_lengths() -> None:
    entries = [b"", b"a", b"x" * 300, bytes(range(256))]
    bundle = tiles.encode_entry_bundle(entries)
    assert bundle[:5] == b"\x00\x00\x00\x01a"
    assert tiles.decode_entry_bundle(bundle) == entries
    with pytest.raises(ValueError):
        tiles.decode_entry_bundle(bundle[:-1])
    with pytest.raises(ValueError):
        tiles.decode_entry_bundle(b"\x00")
    with pytest.raises(ValueError):
        tiles.encode_entry_bundle([b"x" * 65536])
