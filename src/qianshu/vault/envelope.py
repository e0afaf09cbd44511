"""The vault's ciphertext format: AES-256-GCM under a subject's data key, bound to its place.

Format version 1 (all integers big-endian):

    offset   size   field
    0        1      version = 0x01
    1        1      n = length of the key id (1..64)
    2        n      key id (ASCII): the id of the data key that encrypted the value
    2+n      12     nonce (random, NIST SP 800-38D §8.2.2)
    14+n     ...    AES-GCM ciphertext ‖ 16-byte tag (NIST SP 800-38D §7.1)

The associated data (SP 800-38D §5.2.1.1 "A") is the header (bytes 0..2+n) followed by the
length-prefixed parts `"qianshu.vault.field.v1"`, subject id, table, column and row id, so a
ciphertext copied to another row, column or person fails authentication. Random 96-bit nonces
are safe here because one data key encrypts at most a few thousand values (SP 800-38D §8.3).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from qianshu.vault.errors import VaultIntegrityError

VERSION_1 = 0x01
NONCE_BYTES = 12
TAG_BYTES = 16
KEY_BYTES = 32
_FIELD_LABEL = b"qianshu.vault.field.v1"


@dataclass(frozen=True)
class Place:
    """Where a value lives: whose it is, and which table, column and row hold it."""

    subject_id: str
    table: str
    column: str
    row_id: str


@dataclass(frozen=True)
class Envelope:
    """A parsed ciphertext: header fields and the sealed bytes."""

    version: int
    key_id: str
    nonce: bytes
    sealed: bytes
    header: bytes


def length_prefixed(*parts: str | bytes) -> bytes:
    """Encode `parts` unambiguously: each as a 2-byte length followed by its bytes."""
    out = bytearray()
    for part in parts:
        raw = part.encode("utf-8") if isinstance(part, str) else part
        if len(raw) > 0xFFFF:
            raise ValueError("associated-data part too long")
        out += len(raw).to_bytes(2, "big") + raw
    return bytes(out)


def _header(key_id: str) -> bytes:
    kid = key_id.encode("ascii")
    if not 1 <= len(kid) <= 64:
        raise ValueError("key id must be 1..64 ASCII bytes")
    return bytes([VERSION_1, len(kid)]) + kid


def _aad(header: bytes, place: Place) -> bytes:
    return header + length_prefixed(_FIELD_LABEL, place.subject_id, place.table, place.column, place.row_id)


def seal(*, key: bytes, key_id: str, place: Place, plaintext: bytes) -> bytes:
    """Encrypt `plaintext` with AES-256-GCM (SP 800-38D §7.1) into a version-1 envelope."""
    if len(key) != KEY_BYTES:
        raise ValueError("data keys are 256-bit")
    header = _header(key_id)
    nonce = os.urandom(NONCE_BYTES)
    return header + nonce + AESGCM(key).encrypt(nonce, plaintext, _aad(header, place))


def parse(blob: bytes) -> Envelope:
    """Split a ciphertext into its header fields; raise VaultIntegrityError when malformed."""
    if len(blob) < 2 or blob[0] != VERSION_1:
        raise VaultIntegrityError("密文版本不受支持", detail_en="Unsupported ciphertext version")
    n = blob[1]
    start = 2 + n
    if n == 0 or len(blob) < start + NONCE_BYTES + TAG_BYTES:
        raise VaultIntegrityError("密文已截断", detail_en="Truncated ciphertext")
    try:
        key_id = blob[2:start].decode("ascii")
    except UnicodeDecodeError:
        raise VaultIntegrityError("密文头部损坏", detail_en="Corrupt ciphertext header") from None
    return Envelope(
        version=blob[0],
        key_id=key_id,
        nonce=blob[start : start + NONCE_BYTES],
        sealed=blob[start + NONCE_BYTES :],
        header=blob[:start],
    )


def open_envelope(*, key: bytes, envelope: Envelope, place: Place) -> bytes:
    """Decrypt and authenticate (SP 800-38D §7.2); raise VaultIntegrityError on any mismatch."""
    try:
        return AESGCM(key).decrypt(envelope.nonce, envelope.sealed, _aad(envelope.header, place))
    except InvalidTag:
        raise VaultIntegrityError(
            "加密数据与其位置不符或已被篡改", detail_en="Ciphertext does not belong here or was altered"
        ) from None
