"""The C2SP tlog-tiles layout: tile coordinates, their URL paths, partial widths and entry bundles.

A tile at level L, index N holds up to 256 consecutive hashes of perfect subtrees of height 8·L:
position i is MTH(D[(N·256 + i)·256^L : (N·256 + i + 1)·256^L]) (tlog-tiles §Merkle Tree).
Its path is `tile/<L>/<N>` with N written in 3-digit groups, all but the last prefixed by `x`
(`tile/0/x001/234`), and `.p/<W>` for a partial tile of width W < 256. Entry bundles use
`tile/entries/<N>[.p/<W>]` and hold uint16-length-prefixed entries (tlog-tiles §Log entries).
Pure: no database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qianshu.evidence.merkle import HASH_SIZE, Subtree, perfect_root

TILE_HEIGHT = 8  # tlog-tiles: each tile is a subtree of height 8
TILE_WIDTH = 1 << TILE_HEIGHT  # 256 hashes, 8,192 bytes when full
MAX_LEVEL = 63
MAX_ENTRY_SIZE = 0xFFFF  # entry bundles prefix each entry with a big-endian uint16 length

_LEVEL_RE = r"(0|[1-9][0-9]?)"
_INDEX_RE = r"((?:x[0-9]{3}/)*[0-9]{3})"
_WIDTH_RE = r"(?:\.p/([1-9][0-9]{0,2}))?"
_TILE_PATH = re.compile(rf"tile/(?:entries|{_LEVEL_RE})/{_INDEX_RE}{_WIDTH_RE}")


@dataclass(frozen=True)
class TileRef:
    """A tile (`level` 0..63) or an entry bundle (`level` None), its index and width (1..256)."""

    level: int | None
    index: int
    width: int = TILE_WIDTH

    @property
    def is_entries(self) -> bool:
        """Tell whether this is an entry bundle rather than a hash tile."""
        return self.level is None

    @property
    def is_partial(self) -> bool:
        """Tell whether the tile is partial (fewer than 256 hashes or entries)."""
        return self.width < TILE_WIDTH

    @property
    def path(self) -> str:
        """Return the tile's path below the log prefix."""
        return tile_path(self.level, self.index, self.width)

    def subtrees(self) -> list[Subtree]:
        """Return the perfect subtrees whose hashes the tile holds, in order (tlog-tiles §Merkle Tree)."""
        height = TILE_HEIGHT * (self.level or 0)
        first = self.index * TILE_WIDTH
        return [(height, first + i) for i in range(self.width)]

    def leaf_range(self) -> tuple[int, int]:
        """Return the leaf indices [start, end) the tile covers (tlog-tiles start and end index)."""
        shift = TILE_HEIGHT * (self.level or 0)
        start = (self.index * TILE_WIDTH) << shift
        return start, start + (self.width << shift)


def format_index(index: int) -> str:
    """Encode a tile index as zero-padded 3-digit elements, all but the last prefixed by `x`."""
    if index < 0:
        raise ValueError("tile index must not be negative")
    digits = str(index)
    digits = digits.zfill(-(-len(digits) // 3) * 3)
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    return "/".join([f"x{g}" for g in groups[:-1]] + groups[-1:])


def tile_path(level: int | None, index: int, width: int = TILE_WIDTH) -> str:
    """Return `tile/<L>/<N>[.p/<W>]`, or `tile/entries/<N>[.p/<W>]` when level is None."""
    if level is not None and not 0 <= level <= MAX_LEVEL:
        raise ValueError("tile level must be between 0 and 63")
    if not 1 <= width <= TILE_WIDTH:
        raise ValueError("tile width must be between 1 and 256")
    head = "entries" if level is None else str(level)
    suffix = "" if width == TILE_WIDTH else f".p/{width}"
    return f"tile/{head}/{format_index(index)}{suffix}"


def parse_tile_path(path: str) -> TileRef | None:
    """Parse a tile or entry-bundle path; return None unless it is the canonical encoding."""
    match = _TILE_PATH.fullmatch(path)
    if match is None:
        return None
    level_text, index_text, width_text = match.groups()
    level = None if path.startswith("tile/entries/") else int(level_text)
    index = int(index_text.replace("x", "").replace("/", ""))
    width = int(width_text) if width_text else TILE_WIDTH
    if level is not None and level > MAX_LEVEL:
        return None
    if width_text is not None and width >= TILE_WIDTH:
        return None
    ref = TileRef(level=level, index=index, width=width)
    return ref if ref.path == path else None  # one URL per tile: no superfluous leading groups


def partial_width(level: int, size: int) -> int:
    """Return the width of the partial tile at `level` for a tree of `size` leaves (0: none)."""
    return (size >> (TILE_HEIGHT * level)) % TILE_WIDTH


def tiles_for_size(size: int) -> list[TileRef]:
    """Return every tile (full and partial) a tree of `size` leaves is served as, level by level."""
    out: list[TileRef] = []
    level = 0
    while size >> (TILE_HEIGHT * level) and level <= MAX_LEVEL:
        hashes_at_level = size >> (TILE_HEIGHT * level)
        full, rest = divmod(hashes_at_level, TILE_WIDTH)
        out.extend(TileRef(level, n) for n in range(full))
        if rest:
            out.append(TileRef(level, full, rest))
        level += 1
    return out


def tile_for_subtree(height: int, index: int) -> tuple[int, int, int, int]:
    """Locate a perfect subtree in the tiles: (level, tile index, first position, count).

    A subtree of height 8·L + r is the MTH of 2^r consecutive hashes of one level-L tile.
    """
    level, extra = divmod(height, TILE_HEIGHT)
    first = index << extra
    tile_index, position = divmod(first, TILE_WIDTH)
    return level, tile_index, position, 1 << extra


def subtree_hash_from_tile(tile: bytes, position: int, count: int) -> bytes:
    """Return the MTH of `count` (a power of two) hashes of a tile starting at `position`."""
    end = position + count
    if end * HASH_SIZE > len(tile):
        raise LookupError("the tile does not hold that subtree yet")
    return perfect_root(split_tile(tile[position * HASH_SIZE : end * HASH_SIZE]))


def split_tile(data: bytes) -> list[bytes]:
    """Split tile bytes into its 32-byte hashes."""
    if len(data) % HASH_SIZE:
        raise ValueError("tile length is not a multiple of the hash size")
    return [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]


def encode_entry_bundle(entries: list[bytes]) -> bytes:
    """Concatenate entries, each prefixed with its big-endian uint16 length (tlog-tiles §Log entries)."""
    out = bytearray()
    for entry in entries:
        if len(entry) > MAX_ENTRY_SIZE:
            raise ValueError("an entry exceeds 65,535 bytes")
        out += len(entry).to_bytes(2, "big") + entry
    return bytes(out)


def decode_entry_bundle(data: bytes) -> list[bytes]:
    """Split an entry bundle back into its entries; raise ValueError if it is truncated."""
    entries: list[bytes] = []
    pos = 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise ValueError("truncated entry length")
        length = int.from_bytes(data[pos : pos + 2], "big")
        pos += 2
        if pos + length > len(data):
            raise ValueError("truncated entry")
        entries.append(data[pos : pos + length])
        pos += length
    return entries
