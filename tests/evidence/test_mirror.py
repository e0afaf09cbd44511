"""An independent mirror of the log served over HTTP: only the specs, none of our tree code.

The platform listens on a loopback socket; the mirror fetches `/log/key`, `/log/checkpoint`, the
entry bundles and the hash tiles with the standard library's HTTP client, and checks them with
code written here from the specs alone:

- C2SP signed-note: the key `<name>+<hex key id>+<base64(0x01 ‖ Ed25519 public key)>`, key id =
  SHA-256(name ‖ 0x0A ‖ 0x01 ‖ key)[:4], signature lines `— <name> <base64(key id ‖ signature)>`
  over the note text; verified with `cryptography`'s Ed25519 directly.
- C2SP tlog-checkpoint: `<origin>\\n<size>\\n<base64 root>\\n`.
- C2SP tlog-tiles: `tile/<L>/<N>[.p/<W>]`, N in 3-digit groups with `x` before all but the last,
  256 hashes per full tile, entry bundles as big-endian uint16 length-prefixed entries.
- RFC 6962 §2.1: leaf hash SHA-256(0x00 ‖ entry), node hash SHA-256(0x01 ‖ left ‖ right), the
  tree split at the largest power of two smaller than its size.
"""

from __future__ import annotations

import base64
import hashlib
import socket
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from qianshu.config import Settings
from qianshu.core.runtime import Runtime
from qianshu.evidence import translog
from tests.evidence.tlog_support import append
from tests.support.live import serve_platform

TILE_WIDTH = 256
ENTRIES = 600  # two full level-0 tiles and a partial one; a partial level-1 tile of width 2


@pytest.fixture
def _listen_socket() -> Iterator[socket.socket]:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    yield sock
    sock.close()


@pytest.fixture
def settings_overrides(_listen_socket: socket.socket) -> dict[str, Any]:
    return {"public_base_url": f"http://127.0.0.1:{_listen_socket.getsockname()[1]}"}


@pytest.fixture
def served(settings: Settings, _listen_socket: socket.socket) -> Iterator[tuple[Runtime, str]]:
    with serve_platform(settings, _listen_socket) as runtime:
        yield runtime, settings.public_base_url


# --- the mirror: specs only -------------------------------------------------------------------


def _get(base: str, path: str) -> bytes:
    request = urllib.request.Request(f"{base}/log/{path}", headers={"Accept-Encoding": "identity"})
    with urllib.request.urlopen(request, timeout=30) as resp:  # our own loopback URL
        assert resp.status == 200, path
        body: bytes = resp.read()
        return body


def _tile_path(level: int | str, index: int, width: int | None = None) -> str:
    digits = str(index)
    digits = digits.zfill(-(-len(digits) // 3) * 3)
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    path = "/".join([f"x{g}" for g in groups[:-1]] + [groups[-1]])
    return f"tile/{level}/{path}" + (f".p/{width}" if width else "")


def _leaf(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _mth(hashes: list[bytes]) -> bytes:
    if len(hashes) == 1:
        return hashes[0]
    k = _split(len(hashes))
    return _node(_mth(hashes[:k]), _mth(hashes[k:]))


def _entries(bundle: bytes) -> list[bytes]:
    out, at = [], 0
    while at < len(bundle):
        length = int.from_bytes(bundle[at : at + 2], "big")
        out.append(bundle[at + 2 : at + 2 + length])
        at += 2 + length
    assert at == len(bundle)
    return out


def _verify_note(note: str, key: str) -> tuple[str, int, bytes]:
    """Verify a signed note under a signed-note verifier key; return the checkpoint's fields."""
    name, key_id_hex, key_b64 = key.strip().split("+", 2)  # a name has no "+", base64 may
    key_bytes = base64.b64decode(key_b64)
    assert key_bytes[0] == 0x01 and len(key_bytes) == 33  # algorithm 1: Ed25519
    key_id = hashlib.sha256(name.encode() + b"\n" + key_bytes).digest()[:4]
    assert key_id.hex() == key_id_hex
    text, _, signatures = note.partition("\n\n")
    text += "\n"
    public = Ed25519PublicKey.from_public_bytes(key_bytes[1:])
    verified = False
    for line in signatures.splitlines():
        dash, signer, blob_b64 = line.split(" ")
        assert dash == "\u2014"
        blob = base64.b64decode(blob_b64)
        if signer == name and blob[:4] == key_id:
            public.verify(blob[4:], text.encode())  # raises InvalidSignature
            verified = True
    assert verified, "no signature by the log key"
    origin, size, root_b64, *_extensions = text.split("\n")
    return origin, int(size), base64.b64decode(root_b64)


def _mirror(base: str) -> tuple[str, int, bytes, bytes, bytes]:
    """Fetch and check everything; return origin, size, signed root, root from leaves, root from tiles."""
    origin, size, signed_root = _verify_note(_get(base, "checkpoint").decode(), _get(base, "key").decode())
    leaves: list[bytes] = []
    for index in range(-(-size // TILE_WIDTH)):
        width = min(TILE_WIDTH, size - index * TILE_WIDTH)
        partial = width if width < TILE_WIDTH else None
        entries = _entries(_get(base, _tile_path("entries", index, partial)))
        hashes = _get(base, _tile_path(0, index, partial))
        assert len(entries) == width and len(hashes) == 32 * width
        assert b"".join(_leaf(e) for e in entries) == hashes, f"tile 0/{index} differs from its entries"
        leaves += [hashes[i : i + 32] for i in range(0, len(hashes), 32)]
    assert len(leaves) == size
    full = size // TILE_WIDTH
    level1 = _get(base, _tile_path(1, 0, full if full < TILE_WIDTH else None)) if full else b""
    subtree = [level1[i : i + 32] for i in range(0, len(level1), 32)]
    for i, h in enumerate(subtree):  # a level-1 hash is the root of one full level-0 tile
        assert h == _mth(leaves[i * TILE_WIDTH : (i + 1) * TILE_WIDTH])

    def from_tiles(lo: int, hi: int) -> bytes:
        if hi - lo == TILE_WIDTH and lo % TILE_WIDTH == 0:
            return subtree[lo // TILE_WIDTH]
        if hi - lo == 1:
            return leaves[lo]
        k = _split(hi - lo)
        return _node(from_tiles(lo, lo + k), from_tiles(lo + k, hi))

    return origin, size, signed_root, _mth(leaves), from_tiles(0, size)


# --- the tests --------------------------------------------------------------------------------


def test_an_independent_mirror_recomputes_the_signed_root_from_the_tiles(served: tuple[Runtime, str]) -> None:
    runtime, base = served
    append(runtime, ENTRIES)
    translog.sequence_pending(runtime)
    origin, size, signed_root, from_leaves, from_tiles = _mirror(base)
    assert (origin, size) == (runtime.settings.log_origin, ENTRIES)
    assert from_leaves == signed_root == from_tiles
    # The log grows; the mirror follows and still agrees with the new checkpoint.
    append(runtime, 5, start=ENTRIES)
    translog.sequence_pending(runtime)
    _origin, size, signed_root, from_leaves, from_tiles = _mirror(base)
    assert size == ENTRIES + 5 and from_leaves == signed_root == from_tiles


def test_the_independent_note_check_refuses_a_forged_checkpoint(served: tuple[Runtime, str]) -> None:
    runtime, base = served
    append(runtime, 3)
    translog.sequence_pending(runtime)
    note, key = _get(base, "checkpoint").decode(), _get(base, "key").decode()
    _verify_note(note, key)
    origin, size, root, *rest = note.split("\n")
    forged = "\n".join([origin, str(int(size) + 1), root, *rest])  # a bigger tree, same signature
    with pytest.raises(InvalidSignature):
        _verify_note(forged, key)
