"""Key custody: private keys live inside a custody backend and never leave it in plain form.

Backends: sealed key files (default) and PKCS#11 (HSM; SoftHSM2 in tests). Which one is used is
configuration (`QIANSHU_CUSTODY_BACKEND`), not code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

KeyAlgorithm = Literal["ecdsa-p256", "rsa-3072", "ed25519"]


@dataclass(frozen=True)
class KeyRef:
    """A handle to a key inside custody: its label and algorithm, plus its public key (DER SPKI)."""

    label: str
    algorithm: KeyAlgorithm
    public_key_der: bytes


@runtime_checkable
class KeyCustody(Protocol):
    """Generates keys and signs with them; the private key material stays inside."""

    def generate(self, label: str, algorithm: KeyAlgorithm) -> KeyRef:
        """Create a new key pair under `label` (unique) and return its handle."""
        ...

    def get(self, label: str) -> KeyRef | None:
        """Return the handle of the key `label`, or None when custody has no such key."""
        ...

    def sign_digest(self, label: str, digest: bytes, hash_algorithm: str) -> bytes:
        """Sign a precomputed digest; ECDSA returns DER (RFC 3279), RSA PKCS#1 v1.5, Ed25519 raw.

        For Ed25519 `digest` is the whole message (EdDSA hashes internally) and hash_algorithm is "".
        """
        ...

    def destroy(self, label: str) -> None:
        """Delete the key `label` (crypto-shredding); signing with it afterwards fails."""
        ...
