"""The chunked AEAD format (storage/stream_aead.py): round trips, layout and tamper detection."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from qianshu.storage.errors import BlobIntegrityError
from qianshu.storage.stream_aead import (
    HEADER_BYTES,
    TAG_BYTES,
    BlobDecryptor,
    ciphertext_size,
    encrypt_chunks,
    new_key,
    parse_header,
)

C = 64  # the smallest chunk size: many chunks from few bytes
BLOB = "blb_0123456789abcdefghjk"
KEY = bytes(range(32))


def seal(
    data: bytes, *, chunk_size: int = C, key: bytes = KEY, blob_id: str = BLOB, pieces: int = 7
) -> bytes:
    chunks = [data[i : i + pieces] for i in range(0, len(data), pieces)]
    return b"".join(encrypt_chunks(key=key, blob_id=blob_id, chunks=chunks, chunk_size=chunk_size))


def unseal(
    blob: bytes | Iterable[bytes], *, key: bytes = KEY, blob_id: str = BLOB, **expect: object
) -> bytes:
    source = [blob] if isinstance(blob, bytes) else blob
    with BlobDecryptor(key=key, blob_id=blob_id, source=source, **expect) as chunks:  # type: ignore[arg-type]
        return b"".join(chunks)


def segments(blob: bytes, chunk_size: int = C) -> tuple[bytes, list[bytes]]:
    body = blob[HEADER_BYTES:]
    seg = chunk_size + TAG_BYTES
    return blob[:HEADER_BYTES], [body[i : i + seg] for i in range(0, len(body), seg)]


@pytest.mark.parametrize("size", [0, 1, C - 1, C, C + 1, 2 * C, 2 * C + 1, 10 * C, 10 * C + 33])
def test_round_trip_at_every_boundary(size: int) -> None:
    data = os.urandom(size)
    blob = seal(data)
    assert len(blob) == ciphertext_size(size, C)
    assert unseal(blob) == data


@pytest.mark.parametrize("size", [0, 1, 65536, 65537, 3 * 65536, 200_000])
def test_round_trip_with_default_chunks(size: int) -> None:
    data = os.urandom(size)
    blob = b"".join(encrypt_chunks(key=KEY, blob_id=BLOB, chunks=[data]))
    assert len(blob) == ciphertext_size(size)
    assert unseal(blob) == data


def test_decrypts_whatever_the_read_size() -> None:
    data = os.urandom(5 * C + 3)
    blob = seal(data)
    for step in (1, 5, HEADER_BYTES, C + TAG_BYTES, 1000):
        assert unseal([blob[i : i + step] for i in range(0, len(blob), step)]) == data


def test_empty_file_is_one_authenticated_final_chunk() -> None:
    blob = seal(b"")
    assert len(blob) == HEADER_BYTES + TAG_BYTES
    with pytest.raises(BlobIntegrityError, match="truncated"):
        unseal(blob[:HEADER_BYTES])


def test_format_matches_the_documented_layout() -> None:
    data = b"A" * C + b"B" * 10
    prefix = bytes.fromhex("01020304050607")
    blob = b"".join(
        encrypt_chunks(key=KEY, blob_id=BLOB, chunks=[data], chunk_size=C, nonce_prefix=prefix)
    )
    header, segs = segments(blob)
    assert header == b"QSBL" + b"\x01" + C.to_bytes(4, "big") + prefix
    aad = header + len(b"qianshu.storage.blob.v1").to_bytes(2, "big") + b"qianshu.storage.blob.v1"
    aad += len(BLOB).to_bytes(2, "big") + BLOB.encode()
    aead = AESGCM(KEY)
    assert segs[0] == aead.encrypt(prefix + (0).to_bytes(4, "big") + b"\x00", b"A" * C, aad)
    assert segs[1] == aead.encrypt(prefix + (1).to_bytes(4, "big") + b"\x01", b"B" * 10, aad)


def test_every_blob_gets_a_fresh_prefix_and_key() -> None:
    assert new_key() != new_key() and len(new_key()) == 32
    a, b = seal(b"same"), seal(b"same")
    assert a[9:16] != b[9:16] and a != b


@pytest.mark.parametrize(
    "offset", [0, 4, 5, 8, 9, 15, HEADER_BYTES, HEADER_BYTES + C, HEADER_BYTES + C + TAG_BYTES + 3, -1]
)
def test_flipping_any_byte_is_detected(offset: int) -> None:
    blob = bytearray(seal(os.urandom(3 * C + 5)))
    blob[offset] ^= 0x01
    with pytest.raises(BlobIntegrityError):
        unseal(bytes(blob))


def test_truncating_at_a_chunk_boundary_is_detected() -> None:
    data = os.urandom(3 * C)
    blob = seal(data)
    header, segs = segments(blob)
    for keep in (1, 2):
        with pytest.raises(BlobIntegrityError, match="chunk"):
            unseal(header + b"".join(segs[:keep]))


@pytest.mark.parametrize("cut", [1, TAG_BYTES - 1, TAG_BYTES, TAG_BYTES + 1, C])
def test_truncating_inside_a_chunk_is_detected(cut: int) -> None:
    blob = seal(os.urandom(3 * C + 20))
    with pytest.raises(BlobIntegrityError):
        unseal(blob[:-cut])


def test_swapping_reordering_or_repeating_chunks_is_detected() -> None:
    header, segs = segments(seal(os.urandom(4 * C + 9)))
    for order in ([1, 0, 2, 3, 4], [0, 2, 1, 3, 4], [0, 0, 1, 2, 3, 4], [0, 1, 2, 4], [0, 1, 2, 3, 3, 4]):
        with pytest.raises(BlobIntegrityError, match="chunk"):
            unseal(header + b"".join(segs[i] for i in order))


def test_appending_bytes_is_detected() -> None:
    blob = seal(os.urandom(2 * C + 1))
    _, segs = segments(blob)
    for extra in (b"\x00", segs[0], os.urandom(C + TAG_BYTES)):
        with pytest.raises(BlobIntegrityError):
            unseal(blob + extra)


def test_chunks_from_another_blob_are_rejected_even_under_the_same_key() -> None:
    data = os.urandom(2 * C)
    mine = seal(data, blob_id=BLOB)
    other = seal(data, blob_id="blb_zzzzzzzzzzzzzzzzzzzz")
    header, segs = segments(mine)
    _, other_segs = segments(other)
    with pytest.raises(BlobIntegrityError):
        unseal(header + other_segs[0] + segs[1])
    with pytest.raises(BlobIntegrityError):
        unseal(mine, blob_id="blb_zzzzzzzzzzzzzzzzzzzz")
    with pytest.raises(BlobIntegrityError):
        unseal(mine, key=new_key())


def test_header_errors_are_named() -> None:
    blob = seal(b"x")
    with pytest.raises(BlobIntegrityError, match="not a Qianshu blob"):
        unseal(b"PK\x03\x04" + blob[4:])
    with pytest.raises(BlobIntegrityError, match="version"):
        unseal(blob[:4] + b"\x02" + blob[5:])
    with pytest.raises(BlobIntegrityError, match="chunk size"):
        parse_header(blob[:5] + (1 << 30).to_bytes(4, "big") + blob[9:16])
    with pytest.raises(BlobIntegrityError, match="truncated header"):
        unseal(blob[:10])


def test_first_chunk_is_verified_before_anything_is_released() -> None:
    blob = bytearray(seal(os.urandom(C // 2)))
    blob[HEADER_BYTES + 1] ^= 0xFF
    with pytest.raises(BlobIntegrityError):
        BlobDecryptor(key=KEY, blob_id=BLOB, source=[bytes(blob)])


def test_later_chunk_fails_while_streaming() -> None:
    data = os.urandom(3 * C)
    blob = bytearray(seal(data))
    blob[-1] ^= 0x01
    reader = BlobDecryptor(key=KEY, blob_id=BLOB, source=[bytes(blob)])
    got = [next(reader), next(reader)]
    assert b"".join(got) == data[: 2 * C]
    with pytest.raises(BlobIntegrityError, match="chunk 2"):
        next(reader)
    assert list(reader) == []


def test_recorded_size_and_digest_are_checked() -> None:
    data = os.urandom(3 * C + 1)
    blob = seal(data)
    digest = hashlib.sha256(data).hexdigest()
    assert unseal(blob, expect_size=len(data), expect_sha256=digest) == data
    with pytest.raises(BlobIntegrityError, match="length"):
        unseal(blob, expect_size=len(data) + 1)
    with pytest.raises(BlobIntegrityError, match="longer"):
        unseal(blob, expect_size=C)
    with pytest.raises(BlobIntegrityError, match="SHA-256"):
        unseal(blob, expect_sha256="0" * 64)


def test_closing_early_releases_the_source() -> None:
    closed: list[bool] = []

    class Source:
        def __init__(self, data: bytes) -> None:
            self._it = iter([data[i : i + 50] for i in range(0, len(data), 50)])

        def __iter__(self) -> Source:
            return self

        def __next__(self) -> bytes:
            return next(self._it)

        def close(self) -> None:
            closed.append(True)

    reader = BlobDecryptor(key=KEY, blob_id=BLOB, source=Source(seal(os.urandom(5 * C))))
    next(reader)
    reader.close()
    assert closed == [True]
    assert list(reader) == []


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="256-bit"):
        list(encrypt_chunks(key=b"short", blob_id=BLOB, chunks=[]))
    with pytest.raises(ValueError, match="chunk size"):
        list(encrypt_chunks(key=KEY, blob_id=BLOB, chunks=[], chunk_size=8))
    with pytest.raises(ValueError, match="prefix"):
        list(encrypt_chunks(key=KEY, blob_id=BLOB, chunks=[], nonce_prefix=b"123"))
