"""Key-encryption keys (KEKs), the blind-index key, and the keyring that holds them.

A KEK only wraps and unwraps data keys; it never sees personal data. `KeyEncryptionKey` and
`KekStore` are the seams for an HSM: a PKCS#11 store would keep the AES key inside the token and
implement `wrap`/`unwrap` with CKM_AES_GCM, leaving everything else unchanged.

File layout under `settings.secrets_dir` (directories 0700, files 0600):

    vault/kek/<kid>.key      32 random bytes per KEK
    vault/kek/CURRENT        the kid new data keys are wrapped with
    vault/blind-index.key    32 random bytes, the HMAC key of blind indexes
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import re
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Protocol, runtime_checkable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from qianshu.core.ids import new_id
from qianshu.core.runtime import read_or_create_secret
from qianshu.vault.envelope import KEY_BYTES, NONCE_BYTES, length_prefixed
from qianshu.vault.errors import KeyMissing, VaultIntegrityError

_WRAP_LABEL = b"qianshu.vault.dek.v1"
_BLIND_LABEL = b"qianshu.vault.blind.v1"
_KID_RE = re.compile(r"^kek_[0-9a-z]{20}$")
_CACHE_SIZE = 4096


@runtime_checkable
class KeyEncryptionKey(Protocol):
    """A key that wraps data keys; its material may live outside the process (an HSM)."""

    @property
    def kid(self) -> str:
        """Return the key id recorded beside every data key it wraps."""
        ...

    def wrap(self, key: bytes, *, context: bytes) -> bytes:
        """Encrypt the data key `key`, binding `context` as associated data."""
        ...

    def unwrap(self, wrapped: bytes, *, context: bytes) -> bytes:
        """Decrypt a wrapped data key; raise VaultIntegrityError when it fails to authenticate."""
        ...


@runtime_checkable
class KekStore(Protocol):
    """Holds the KEK ring: which KEKs exist and which one is current."""

    def current_kid(self) -> str | None:
        """Return the current KEK id, or None before the first KEK exists."""
        ...

    def get(self, kid: str) -> KeyEncryptionKey:
        """Return the KEK `kid`; raise KeyMissing when this store does not hold it."""
        ...

    def create(self) -> KeyEncryptionKey:
        """Generate a new KEK (not yet current) and return it."""
        ...

    def set_current(self, kid: str) -> None:
        """Make `kid` the KEK that wraps new data keys."""
        ...

    def kids(self) -> list[str]:
        """Return the ids of every KEK the store holds."""
        ...

    def destroy(self, kid: str) -> None:
        """Delete the KEK `kid` for good (only once no data key needs it)."""
        ...


class FileKek:
    """A KEK held as a 0600 file; wraps with AES-256-GCM (NIST SP 800-38D) under a fresh nonce."""

    def __init__(self, kid: str, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError("KEKs are 256-bit")
        self._kid = kid
        self._aead = AESGCM(key)

    @property
    def kid(self) -> str:
        """Return the key id."""
        return self._kid

    def _aad(self, context: bytes) -> bytes:
        return length_prefixed(_WRAP_LABEL, self._kid, context)

    def wrap(self, key: bytes, *, context: bytes) -> bytes:
        """Return nonce ‖ AES-GCM(key) ‖ tag with the kid and `context` as associated data."""
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, key, self._aad(context))

    def unwrap(self, wrapped: bytes, *, context: bytes) -> bytes:
        """Return the data key inside `wrapped`."""
        try:
            return self._aead.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], self._aad(context))
        except (InvalidTag, ValueError):
            raise VaultIntegrityError(
                "数据密钥无法解封", detail_en="A data key failed to unwrap under its KEK"
            ) from None


def _write_private(path: Path, data: bytes, *, exclusive: bool) -> None:
    """Write `data` to `path` with mode 0600; exclusive=True refuses to replace a file."""
    if exclusive:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


class FileKekStore:
    """KEKs as files in one private directory, with a CURRENT pointer file."""

    def __init__(self, directory: Path) -> None:
        self._dir = directory
        self._dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self._dir, 0o700)
        self._loaded: dict[str, FileKek] = {}
        self._lock = threading.Lock()

    def _path(self, kid: str) -> Path:
        if not _KID_RE.fullmatch(kid):
            raise KeyMissing("密钥编号无效", detail_en="Malformed KEK id")
        return self._dir / f"{kid}.key"

    def current_kid(self) -> str | None:
        """Read the CURRENT pointer (re-read each time so other processes' rotations are seen)."""
        try:
            kid = (self._dir / "CURRENT").read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return None
        return kid or None

    def get(self, kid: str) -> KeyEncryptionKey:
        """Load the KEK `kid` from its file (once)."""
        with self._lock:
            kek = self._loaded.get(kid)
            if kek is None:
                try:
                    material = self._path(kid).read_bytes()
                except FileNotFoundError:
                    raise KeyMissing(
                        "所需的密钥加密密钥不存在", detail_en=f"Key-encryption key {kid} is not available"
                    ) from None
                kek = FileKek(kid, material)
                self._loaded[kid] = kek
            return kek

    def create(self) -> KeyEncryptionKey:
        """Generate a KEK file with fresh random bytes."""
        kid = new_id("kek")
        _write_private(self._path(kid), os.urandom(KEY_BYTES), exclusive=True)
        return self.get(kid)

    def set_current(self, kid: str) -> None:
        """Point CURRENT at `kid` (atomically replaced)."""
        self.get(kid)
        _write_private(self._dir / "CURRENT", kid.encode("ascii") + b"\n", exclusive=False)

    def claim_first(self, kid: str) -> bool:
        """Make `kid` current only if no KEK is current yet; return whether it won."""
        try:
            _write_private(self._dir / "CURRENT", kid.encode("ascii") + b"\n", exclusive=True)
        except FileExistsError:
            return False
        return True

    def kids(self) -> list[str]:
        """List the KEK files."""
        return sorted(p.stem for p in self._dir.glob("kek_*.key"))

    def destroy(self, kid: str) -> None:
        """Delete the KEK file (and forget the loaded key)."""
        if kid == self.current_kid():
            raise ValueError("refusing to destroy the current KEK")
        with self._lock:
            self._loaded.pop(kid, None)
        with contextlib.suppress(FileNotFoundError):
            self._path(kid).unlink()


class Keyring:
    """The vault's long-lived keys: the KEK store, the blind-index key and a data-key cache."""

    def __init__(self, store: KekStore, blind_key: bytes) -> None:
        self.store = store
        self._blind_key = blind_key
        self._cache: OrderedDict[bytes, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def wrap(self, data_key: bytes, *, context: bytes) -> tuple[str, bytes]:
        """Wrap `data_key` under the current KEK; return (kid, wrapped)."""
        kid = self.store.current_kid()
        if kid is None:
            raise KeyMissing("密钥尚未初始化", detail_en="The vault has no key-encryption key yet")
        return kid, self.store.get(kid).wrap(data_key, context=context)

    def unwrap(self, kid: str, wrapped: bytes, *, context: bytes) -> bytes:
        """Unwrap a data key, caching the result by (kid, wrapped, context)."""
        cache_key = hashlib.sha256(length_prefixed(kid, wrapped, context)).digest()
        with self._lock:
            hit = self._cache.get(cache_key)
            if hit is not None:
                self._cache.move_to_end(cache_key)
                return hit
        key = self.store.get(kid).unwrap(wrapped, context=context)
        with self._lock:
            self._cache[cache_key] = key
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return key

    def forget(self) -> None:
        """Drop every cached data key (after shredding or rotation)."""
        with self._lock:
            self._cache.clear()

    def blind(self, kind: str, normalised: str) -> str:
        """Return hex HMAC-SHA256 (RFC 2104) over the kind and the normalised value."""
        message = length_prefixed(_BLIND_LABEL, kind, normalised)
        return hmac.new(self._blind_key, message, hashlib.sha256).hexdigest()


def _read_secret(path: Path) -> bytes:
    try:
        return read_or_create_secret(path, KEY_BYTES)
    except FileExistsError:  # another process created it between our read and our create
        return read_or_create_secret(path, KEY_BYTES)


def open_file_keyring(secrets_dir: Path) -> tuple[Keyring, list[str]]:
    """Open (creating on first use) the file keyring; return it and what was created."""
    vault_dir = secrets_dir / "vault"
    vault_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(vault_dir, 0o700)
    created: list[str] = []
    blind_path = vault_dir / "blind-index.key"
    if not blind_path.exists():
        created.append("blind-index key")
    blind_key = _read_secret(blind_path)
    store = FileKekStore(vault_dir / "kek")
    if store.current_kid() is None:
        kek = store.create()
        if store.claim_first(kek.kid):
            created.append(f"key-encryption key {kek.kid}")
        else:  # another process won the race; ours was never used
            store.destroy(kek.kid)
    return Keyring(store, blind_key), created
