"""The blob ciphertext format: AES-256-GCM in fixed-size chunks (the STREAM construction).

Large files are encrypted and decrypted in constant memory, one chunk at a time, and yet the
whole file is authenticated: STREAM (Hoang, Reyhanitabar, Rogaway, Vizár, "Online
Authenticated-Encryption and its Nonce-Reuse Misuse-Resistance", CRYPTO 2015, §7) gives each
chunk a nonce made of a per-file prefix, the chunk's position and a flag marking the last chunk,
so dropping, reordering, duplicating or swapping chunks, or cutting the file at a chunk boundary,
makes a chunk fail authentication. The same nonce layout is used by Tink's streaming AEAD.

Format version 1 (all integers big-endian):

    offset  size  field
    0       4     magic "QSBL"
    4       1     version = 0x01
    5       4     C = plaintext bytes per chunk (64 .. 1 MiB; 65536 by default)
    9       7     nonce prefix P (random per file)
    16      ...   segments S_0 .. S_{n-1}; S_i = AES-256-GCM(K, N_i, M_i, A) = ciphertext ‖ 16-byte tag

    N_i = P ‖ uint32(i) ‖ (0x01 if i = n-1 else 0x00)       (96-bit nonce, NIST SP 800-38D §8.2.1:
                                                            fixed field P, invocation field i ‖ flag)
    A   = header (bytes 0..16) ‖ lp("qianshu.storage.blob.v1") ‖ lp(blob id)    (SP 800-38D §5.2.1.1)
    lp(x) = uint16(len(x)) ‖ x

M_0 .. M_{n-2} are exactly C bytes; the last chunk M_{n-1} holds 1..C bytes, or 0 bytes only when
the whole file is empty (so n ≥ 1 and every file ends with an authenticated final chunk). The
header is bound into every chunk through A, and A binds the blob id, so a ciphertext copied to
another blob fails too. K is a fresh random 256-bit key per blob, never reused, and at most 2^32
chunks are written under it, so nonces never repeat (SP 800-38D §8.3).
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from qianshu.storage.errors import BlobIntegrityError

__all__ = [
    "CHUNK_SIZE",
    "HEADER_BYTES",
    "KEY_BYTES",
    "TAG_BYTES",
    "BlobDecryptor",
    "Header",
    "ciphertext_size",
    "encrypt_chunks",
    "new_key",
    "parse_header",
]

MAGIC = b"QSBL"
VERSION_1 = 0x01
KEY_BYTES = 32
TAG_BYTES = 16
PREFIX_BYTES = 7
HEADER_BYTES = 16
CHUNK_SIZE = 64 * 1024
MIN_CHUNK_SIZE = 64
MAX_CHUNK_SIZE = 1024 * 1024
MAX_CHUNKS = 2**32
_LABEL = b"qianshu.storage.blob.v1"
_HEADER = struct.Struct(">4sBI7s")


@dataclass(frozen=True)
class Header:
    """The parsed 16-byte header: version, chunk size and nonce prefix."""

    version: int
    chunk_size: int
    nonce_prefix: bytes
    raw: bytes


def new_key() -> bytes:
    """Return a fresh random 256-bit data key for one blob."""
    return os.urandom(KEY_BYTES)


def ciphertext_size(plaintext_size: int, chunk_size: int = CHUNK_SIZE) -> int:
    """Return the stored size of a `plaintext_size`-byte file: header plus one tag per chunk."""
    chunks = max(1, -(-plaintext_size // chunk_size))
    return HEADER_BYTES + plaintext_size + chunks * TAG_BYTES


def _lp(part: bytes) -> bytes:
    if len(part) > 0xFFFF:
        raise ValueError("associated-data part too long")
    return len(part).to_bytes(2, "big") + part


def _aad(header: bytes, blob_id: str) -> bytes:
    return header + _lp(_LABEL) + _lp(blob_id.encode("ascii"))


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    """Build N_i = P ‖ uint32(i) ‖ last-flag (SP 800-38D §8.2.1 deterministic construction)."""
    if index >= MAX_CHUNKS:
        raise BlobIntegrityError("too many chunks", reason_zh="分块数量超出上限")
    return prefix + index.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


def _check_key(key: bytes) -> None:
    if len(key) != KEY_BYTES:
        raise ValueError("blob data keys are 256-bit")


def _check_chunk_size(chunk_size: int) -> None:
    if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
        raise ValueError(f"chunk size must be {MIN_CHUNK_SIZE}..{MAX_CHUNK_SIZE} bytes")


def _build_header(chunk_size: int, prefix: bytes) -> bytes:
    return _HEADER.pack(MAGIC, VERSION_1, chunk_size, prefix)


def parse_header(raw: bytes) -> Header:
    """Parse and check the 16-byte header; raise BlobIntegrityError when it is not ours."""
    if len(raw) < HEADER_BYTES:
        raise BlobIntegrityError("truncated header", reason_zh="文件头不完整")
    magic, version, chunk_size, prefix = _HEADER.unpack(raw[:HEADER_BYTES])
    if magic != MAGIC:
        raise BlobIntegrityError("not a Qianshu blob", reason_zh="不是签署平台的加密文件")
    if version != VERSION_1:
        raise BlobIntegrityError("unsupported format version", reason_zh="文件格式版本不受支持")
    if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
        raise BlobIntegrityError("bad chunk size", reason_zh="分块大小无效")
    return Header(version=version, chunk_size=chunk_size, nonce_prefix=prefix, raw=bytes(raw[:HEADER_BYTES]))


def encrypt_chunks(
    *,
    key: bytes,
    blob_id: str,
    chunks: Iterable[bytes],
    chunk_size: int = CHUNK_SIZE,
    nonce_prefix: bytes | None = None,
) -> Iterator[bytes]:
    """Encrypt a plaintext stream into the version-1 format, yielding the header then each segment.

    Holds at most one chunk plus one input piece in memory: a full chunk is sealed as non-final
    only once a further byte has arrived, so the last chunk gets the last-chunk flag.
    """
    _check_key(key)
    _check_chunk_size(chunk_size)
    prefix = os.urandom(PREFIX_BYTES) if nonce_prefix is None else nonce_prefix
    if len(prefix) != PREFIX_BYTES:
        raise ValueError("nonce prefix must be 7 bytes")
    header = _build_header(chunk_size, prefix)
    aad = _aad(header, blob_id)
    aead = AESGCM(key)
    yield header
    buf = bytearray()
    index = 0
    for piece in chunks:
        buf += piece
        while len(buf) > chunk_size:
            yield aead.encrypt(_nonce(prefix, index, False), bytes(buf[:chunk_size]), aad)
            del buf[:chunk_size]
            index += 1
    yield aead.encrypt(_nonce(prefix, index, True), bytes(buf), aad)


def _decrypt_segments(*, key: bytes, blob_id: str, source: Iterator[bytes]) -> Generator[bytes, None, None]:
    """Authenticate and decrypt segment by segment (SP 800-38D §7.2), checking order and the end."""
    buf = bytearray()
    for piece in source:
        buf += piece
        if len(buf) >= HEADER_BYTES:
            break
    header = parse_header(bytes(buf[:HEADER_BYTES]))
    del buf[:HEADER_BYTES]
    aad = _aad(header.raw, blob_id)
    aead = AESGCM(key)
    seg_len = header.chunk_size + TAG_BYTES
    index = 0

    def open_segment(segment: bytes, last: bool) -> bytes:
        try:
            return aead.decrypt(_nonce(header.nonce_prefix, index, last), segment, aad)
        except InvalidTag:
            raise BlobIntegrityError(
                f"chunk {index} failed authentication (altered, reordered, truncated or misplaced)",
                reason_zh=f"第 {index} 块未通过认证（被篡改、调换、截断或不属于该文件）",
            ) from None

    more = True
    while more:
        while len(buf) > seg_len:
            yield open_segment(bytes(buf[:seg_len]), False)
            del buf[:seg_len]
            index += 1
        incoming = next(source, None)
        if incoming is None:
            more = False
        else:
            buf += incoming
    if len(buf) < TAG_BYTES:
        raise BlobIntegrityError(
            "truncated: the final chunk is missing", reason_zh="文件被截断，缺少最后一块"
        )
    last = open_segment(bytes(buf), True)
    if index > 0 and not last:
        raise BlobIntegrityError("empty final chunk", reason_zh="最后一块为空")
    yield last


class BlobDecryptor(Iterator[bytes]):
    """Plaintext chunks of a stored blob, each authenticated before it is handed out.

    The header and the first chunk are checked when the decryptor is made, so a blob of one chunk
    (64 KiB by default) is fully verified before any byte is released. For longer blobs a later
    chunk can still fail: consumers must treat an error mid-stream as a failed read and discard
    what they received. When `expect_size`/`expect_sha256` are given the plaintext is also checked
    against them at the end (and the size as it grows).
    """

    def __init__(
        self,
        *,
        key: bytes,
        blob_id: str,
        source: Iterable[bytes],
        expect_size: int | None = None,
        expect_sha256: str | None = None,
    ) -> None:
        _check_key(key)
        self._source = iter(source)
        self._segments = _decrypt_segments(key=key, blob_id=blob_id, source=self._source)
        self._expect_size = expect_size
        self._expect_sha256 = expect_sha256
        self._hash = hashlib.sha256()
        self._size = 0
        self._closed = False
        try:
            self._pending: bytes | None = self._account(next(self._segments))
        except BaseException:
            self.close()
            raise

    def _account(self, plain: bytes) -> bytes:
        self._size += len(plain)
        if self._expect_size is not None and self._size > self._expect_size:
            raise BlobIntegrityError("longer than recorded", reason_zh="内容长度与记录不符")
        self._hash.update(plain)
        return plain

    def _finish(self) -> None:
        if self._expect_size is not None and self._size != self._expect_size:
            raise BlobIntegrityError("length differs from the record", reason_zh="内容长度与记录不符")
        if self._expect_sha256 is not None and self._hash.hexdigest() != self._expect_sha256:
            raise BlobIntegrityError("SHA-256 differs from the record", reason_zh="内容摘要与记录不符")

    def __iter__(self) -> BlobDecryptor:
        return self

    def __next__(self) -> bytes:
        if self._pending is not None:
            out, self._pending = self._pending, None
            if out:
                return out
        while not self._closed:
            try:
                plain = self._account(next(self._segments))
            except StopIteration:
                self.close()
                self._finish()
                raise
            except BaseException:
                self.close()
                raise
            if plain:
                return plain
        raise StopIteration

    def close(self) -> None:
        """Stop reading and release the underlying object stream."""
        if self._closed:
            return
        self._closed = True
        self._pending = None
        self._segments.close()
        close = getattr(self._source, "close", None)
        if callable(close):
            close()

    def __enter__(self) -> BlobDecryptor:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
