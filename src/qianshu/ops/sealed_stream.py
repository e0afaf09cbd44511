"""Passphrase-sealed byte streams: the outer format of backup files.

    magic "QSBACKUP1\\n" ‖ u32 header length ‖ header (JSON: kdf, salt, nonce prefix)
    then records: u32 ciphertext length ‖ AES-256-GCM(record)

The key comes from the passphrase through scrypt (RFC 7914; N=2^15, r=8, p=1 by default, stored
in the header). Records are sealed with the STREAM construction (Hoang, Reyhanitabar, Rogaway,
Vizár, "Online Authenticated-Encryption and its Nonce-Reuse Misuse-Resistance", §7): nonce =
7-byte random prefix ‖ 32-bit record counter ‖ last-record flag, and the header is associated
data of every record. Reordering, truncating, appending to or editing the file, or a wrong
passphrase, all fail authentication; nothing decrypted is returned before its record checks out.
"""

from __future__ import annotations

import io
import json
import os
import struct
from typing import Any, BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

__all__ = ["MAGIC", "RECORD_SIZE", "BadBackupFile", "SealedReader", "SealedWriter", "derive_key"]

MAGIC = b"QSBACKUP1\n"
RECORD_SIZE = 1024 * 1024
_PREFIX_BYTES = 7
_MAX_HEADER = 64 * 1024
_SCRYPT = {"n": 2**15, "r": 8, "p": 1}


class BadBackupFile(ValueError):  # named for what it describes, like BlobNotFound
    """The file is not a backup, is damaged, or the passphrase is wrong."""


def derive_key(passphrase: str, salt: bytes, *, n: int, r: int, p: int) -> bytes:
    """Derive the 256-bit file key with scrypt (RFC 7914 §6)."""
    if not passphrase:
        raise ValueError("the backup passphrase must not be empty")
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    return prefix + struct.pack(">I", counter) + (b"\x01" if last else b"\x00")


class SealedWriter(io.RawIOBase):
    """A write-only file that seals what is written to `out` record by record."""

    def __init__(self, out: BinaryIO, passphrase: str, *, scrypt: dict[str, int] | None = None) -> None:
        super().__init__()
        params = dict(scrypt or _SCRYPT)
        salt = os.urandom(16)
        self._prefix = os.urandom(_PREFIX_BYTES)
        header = {
            "v": 1,
            "kdf": "scrypt",
            **params,
            "salt": salt.hex(),
            "cipher": "AES-256-GCM/STREAM",
            "prefix": self._prefix.hex(),
            "record": RECORD_SIZE,
        }
        self._header = json.dumps(header, sort_keys=True).encode()
        self._aead = AESGCM(derive_key(passphrase, salt, n=params["n"], r=params["r"], p=params["p"]))
        self._out = out
        self._buffer = bytearray()
        self._counter = 0
        out.write(MAGIC + struct.pack(">I", len(self._header)) + self._header)

    def writable(self) -> bool:
        """Tell io that this file takes writes."""
        return True

    def write(self, data: Any) -> int:
        """Buffer `data`, sealing every full record."""
        view = bytes(data)
        self._buffer += view
        while len(self._buffer) > RECORD_SIZE:
            self._seal(bytes(self._buffer[:RECORD_SIZE]), last=False)
            del self._buffer[:RECORD_SIZE]
        return len(view)

    def _seal(self, record: bytes, *, last: bool) -> None:
        sealed = self._aead.encrypt(_nonce(self._prefix, self._counter, last), record, self._header)
        self._out.write(struct.pack(">I", len(sealed)) + sealed)
        self._counter += 1

    def close(self) -> None:
        """Seal the last record (possibly empty) and flush; the output file stays open."""
        if not self.closed:
            self._seal(bytes(self._buffer), last=True)
            self._buffer.clear()
            self._out.flush()
        super().close()


class SealedReader(io.RawIOBase):
    """A read-only file returning the authenticated plaintext of a sealed stream."""

    def __init__(self, source: BinaryIO, passphrase: str) -> None:
        super().__init__()
        if source.read(len(MAGIC)) != MAGIC:
            raise BadBackupFile("not a Qianshu backup file")
        (size,) = struct.unpack(">I", _exact(source, 4))
        if size > _MAX_HEADER:
            raise BadBackupFile("backup header too large")
        self._header = _exact(source, size)
        try:
            header = json.loads(self._header)
            salt, self._prefix = bytes.fromhex(header["salt"]), bytes.fromhex(header["prefix"])
            n, r, p = int(header["n"]), int(header["r"]), int(header["p"])
        except (ValueError, KeyError, TypeError) as exc:
            raise BadBackupFile("malformed backup header") from exc
        if header.get("kdf") != "scrypt" or len(self._prefix) != _PREFIX_BYTES or n > 2**20 or r > 32 or p > 16:
            raise BadBackupFile("unsupported backup header")
        self._aead = AESGCM(derive_key(passphrase, salt, n=n, r=r, p=p))
        self._source = source
        self._counter = 0
        self._pending = b""
        self._done = False

    def readable(self) -> bool:
        """Tell io that this file can be read."""
        return True

    def _next_record(self) -> None:
        raw = self._source.read(4)
        if len(raw) != 4:
            raise BadBackupFile("backup file is truncated")
        (size,) = struct.unpack(">I", raw)
        if size > RECORD_SIZE + 16:
            raise BadBackupFile("backup record too large")
        sealed = _exact(self._source, size)
        for last in (False, True):
            try:
                plain = self._aead.decrypt(_nonce(self._prefix, self._counter, last), sealed, self._header)
            except InvalidTag:
                continue
            self._counter += 1
            self._pending = plain
            if last:
                self._done = True
                if self._source.read(1):
                    raise BadBackupFile("data after the last backup record")
            return
        raise BadBackupFile("backup file is damaged or the passphrase is wrong")

    def readinto(self, buffer: Any) -> int:
        """Fill `buffer` with plaintext; 0 at the authenticated end."""
        while not self._pending and not self._done:
            self._next_record()
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def _exact(source: BinaryIO, size: int) -> bytes:
    data = source.read(size)
    if len(data) != size:
        raise BadBackupFile("backup file is truncated")
    return data
