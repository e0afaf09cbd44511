"""Helpers for the transparency-log tests: an in-memory key custody and entry builders."""

from __future__ import annotations

import hashlib
import threading

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from qianshu.core.runtime import Runtime
from qianshu.evidence import translog
from qianshu.pki.custody import KeyAlgorithm, KeyRef


class MemoryKeyCustody:
    """A KeyCustody that keeps Ed25519 keys in memory (pki's real backends are tested there)."""

    def __init__(self) -> None:
        self._keys: dict[str, Ed25519PrivateKey] = {}
        self._lock = threading.Lock()
        self.signatures = 0

    def generate(self, label: str, algorithm: KeyAlgorithm) -> KeyRef:
        if algorithm != "ed25519":
            raise ValueError("this test custody holds Ed25519 keys only")
        with self._lock:
            if label in self._keys:
                raise ValueError("label already in use")
            self._keys[label] = Ed25519PrivateKey.generate()
        ref = self.get(label)
        assert ref is not None
        return ref

    def get(self, label: str) -> KeyRef | None:
        key = self._keys.get(label)
        if key is None:
            return None
        der = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        return KeyRef(label=label, algorithm="ed25519", public_key_der=der)

    def sign_digest(self, label: str, digest: bytes, hash_algorithm: str) -> bytes:
        assert hash_algorithm == ""
        with self._lock:
            self.signatures += 1
        return self._keys[label].sign(digest)

    def destroy(self, label: str) -> None:
        self._keys.pop(label, None)


def entry(n: int) -> dict[str, object]:
    return {"type": "preservation", "sha256": hashlib.sha256(n.to_bytes(8, "big")).hexdigest(), "n": n}


def append(rt: Runtime, count: int, start: int = 0) -> list[translog.LeafRead]:
    with rt.transaction() as s:
        return [
            translog.append_entry(session=s, clock=rt.clock, entry=entry(i))
            for i in range(start, start + count)
        ]
