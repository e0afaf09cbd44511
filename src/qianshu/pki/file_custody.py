"""Key custody in sealed key files: one AES-256-GCM sealed PKCS#8 key per file.

Layout under `settings.secrets_dir / "keys"` (directory 0700, files 0600), one JSON file per key:

    {"v": 1, "label": …, "algorithm": …, "public_key": b64(SPKI DER),
     "nonce": b64(12 bytes), "sealed": b64(AES-256-GCM(PKCS#8 DER))}

The associated data binds the format version, label, algorithm and public key, so a sealed key
cannot be moved to another label or paired with another public key (NIST SP 800-38D §5.2.1.1).
The private key is unsealed only inside this object, to sign.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from qianshu.pki.custody import (
    KeyAlgorithm,
    KeyRef,
    check_algorithm,
    check_digest,
    check_label,
)
from qianshu.pki.errors import CustodyUnavailable, KeyAlreadyExists, SigningKeyMissing

__all__ = ["FileKeyCustody"]

_FORMAT = 1
_AAD_PREFIX = b"qianshu.pki.custody.v1\x00"
_CACHE_SIZE = 256
_HASHES: dict[str, hashes.HashAlgorithm] = {
    "sha256": hashes.SHA256(),
    "sha384": hashes.SHA384(),
    "sha512": hashes.SHA512(),
}
_PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


def _generate_private_key(algorithm: KeyAlgorithm) -> _PrivateKey:
    if algorithm == "ecdsa-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "rsa-3072":
        return rsa.generate_private_key(public_exponent=65537, key_size=3072)
    return ed25519.Ed25519PrivateKey.generate()


def _aad(label: str, algorithm: str, public_key_der: bytes) -> bytes:
    parts = [label.encode(), algorithm.encode(), public_key_der]
    return _AAD_PREFIX + b"".join(len(p).to_bytes(4, "big") + p for p in parts)


class FileKeyCustody:
    """Sealed key files under one directory, unsealed in memory only to sign."""

    def __init__(self, directory: Path, sealing_key: bytes) -> None:
        if len(sealing_key) != 32:
            raise ValueError("the sealing key must be 32 bytes (AES-256)")
        self.directory = directory
        self._aead = AESGCM(sealing_key)
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, tuple[KeyRef, _PrivateKey]] = OrderedDict()
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o700)

    def _path(self, label: str) -> Path:
        return self.directory / f"{check_label(label)}.key"

    def generate(self, label: str, algorithm: KeyAlgorithm) -> KeyRef:
        """Create a key pair under `label`, seal it and write it atomically; refuse a used label."""
        algorithm = check_algorithm(algorithm)
        path = self._path(label)
        if path.exists():
            raise KeyAlreadyExists(detail_en=f"Key custody already holds {label}")
        private_key = _generate_private_key(algorithm)
        public_der = private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        pkcs8 = private_key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, pkcs8, _aad(label, algorithm, public_der))
        record = {
            "v": _FORMAT,
            "label": label,
            "algorithm": algorithm,
            "public_key": base64.b64encode(public_der).decode(),
            "nonce": base64.b64encode(nonce).decode(),
            "sealed": base64.b64encode(sealed).decode(),
        }
        self._write_new(path, json.dumps(record).encode())
        ref = KeyRef(label=label, algorithm=algorithm, public_key_der=public_der)
        with self._lock:
            self._remember(label, ref, private_key)
        return ref

    def _write_new(self, path: Path, data: bytes) -> None:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # fails if another writer took the label meanwhile
        except FileExistsError:
            raise KeyAlreadyExists(detail_en=f"Key custody already holds {path.stem}") from None
        finally:
            tmp.unlink(missing_ok=True)

    def _remember(self, label: str, ref: KeyRef, key: _PrivateKey) -> None:
        self._cache[label] = (ref, key)
        self._cache.move_to_end(label)
        while len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)

    def _load(self, label: str) -> tuple[KeyRef, _PrivateKey] | None:
        path = self._path(label)
        with self._lock:
            hit = self._cache.get(label)
            if hit is not None:
                if not path.exists():  # destroyed by another process
                    del self._cache[label]
                    return None
                self._cache.move_to_end(label)
                return hit
        try:
            record: dict[str, Any] = json.loads(path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise CustodyUnavailable("密钥文件无法读取", detail_en=f"Key file {label} is unreadable") from exc
        try:
            if record.get("v") != _FORMAT or record.get("label") != label:
                raise ValueError("wrong format or label")
            algorithm = check_algorithm(str(record["algorithm"]))
            public_der = base64.b64decode(record["public_key"], validate=True)
            nonce = base64.b64decode(record["nonce"], validate=True)
            sealed = base64.b64decode(record["sealed"], validate=True)
            pkcs8 = self._aead.decrypt(nonce, sealed, _aad(label, algorithm, public_der))
        except (KeyError, TypeError, ValueError, InvalidTag) as exc:
            raise CustodyUnavailable(
                "密钥文件已损坏或密封密钥不匹配", detail_en=f"Key file {label} fails to unseal"
            ) from exc
        private_key = serialization.load_der_private_key(pkcs8, password=None)
        if not isinstance(
            private_key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
        ):
            raise CustodyUnavailable(detail_en=f"Key file {label} holds an unsupported key type")
        ref = KeyRef(label=label, algorithm=algorithm, public_key_der=public_der)
        with self._lock:
            self._remember(label, ref, private_key)
        return ref, private_key

    def get(self, label: str) -> KeyRef | None:
        """Return the handle of `label` (after checking it unseals), or None."""
        loaded = self._load(label)
        return None if loaded is None else loaded[0]

    def sign_digest(self, label: str, digest: bytes, hash_algorithm: str) -> bytes:
        """Sign a digest: ECDSA → DER (RFC 3279 §2.2.3), RSA → PKCS#1 v1.5 (RFC 8017 §8.2), Ed25519 raw."""
        loaded = self._load(label)
        if loaded is None:
            raise SigningKeyMissing(detail_en=f"Key custody holds no key {label}")
        ref, key = loaded
        check_digest(ref.algorithm, digest, hash_algorithm)
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return key.sign(digest)
        prehashed = utils.Prehashed(_HASHES[hash_algorithm])
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(digest, ec.ECDSA(prehashed))
        return key.sign(digest, padding.PKCS1v15(), prehashed)

    def destroy(self, label: str) -> None:
        """Delete the key file of `label` and forget it (no error when it is already gone)."""
        path = self._path(label)
        with self._lock:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            self._cache.pop(label, None)
