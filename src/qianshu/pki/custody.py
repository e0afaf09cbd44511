"""Key custody: private keys live inside a custody backend and never leave it in plain form.

Backends: sealed key files (default) and PKCS#11 (HSM; SoftHSM2 in tests). Which one is used is
configuration (`QIANSHU_CUSTODY_BACKEND`), not code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol, get_args, runtime_checkable

from qianshu.pki.errors import CustodyUnavailable, UnsupportedKeyAlgorithm

if TYPE_CHECKING:
    from qianshu.core.runtime import Runtime

KeyAlgorithm = Literal["ecdsa-p256", "rsa-3072", "ed25519"]
KEY_ALGORITHMS: tuple[KeyAlgorithm, ...] = get_args(KeyAlgorithm)
# Digest sizes of the hash algorithms `sign_digest` accepts (FIPS 180-4).
DIGEST_SIZES = {"sha256": 32, "sha384": 48, "sha512": 64}
_LABEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_COMPONENT = "pki.custody"


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


def check_label(label: str) -> str:
    """Return `label` when it is a valid key label (letters, digits, `_.-`, at most 100)."""
    if not _LABEL_RE.fullmatch(label):
        raise ValueError(f"bad key label {label!r}")
    return label


def check_algorithm(algorithm: str) -> KeyAlgorithm:
    """Return `algorithm` as a KeyAlgorithm or raise UnsupportedKeyAlgorithm."""
    for known in KEY_ALGORITHMS:
        if algorithm == known:
            return known
    raise UnsupportedKeyAlgorithm(
        f"不支持的密钥算法：{algorithm}", detail_en=f"Unsupported key algorithm: {algorithm}"
    )


def check_digest(algorithm: KeyAlgorithm, digest: bytes, hash_algorithm: str) -> None:
    """Refuse a digest whose length does not match `hash_algorithm` (Ed25519 takes the message)."""
    if algorithm == "ed25519":
        if hash_algorithm:
            raise UnsupportedKeyAlgorithm(
                "Ed25519 对整条消息签名", detail_en="Ed25519 signs the whole message"
            )
        return
    size = DIGEST_SIZES.get(hash_algorithm)
    if size is None:
        raise UnsupportedKeyAlgorithm(
            f"不支持的摘要算法：{hash_algorithm}", detail_en=f"Unsupported digest algorithm: {hash_algorithm}"
        )
    if len(digest) != size:
        raise ValueError(f"a {hash_algorithm} digest has {size} bytes, got {len(digest)}")


def _build_custody(runtime: Runtime) -> KeyCustody:
    settings = runtime.settings
    backend = settings.custody_backend
    if backend == "file":
        from qianshu.core.runtime import read_or_create_secret
        from qianshu.pki.file_custody import FileKeyCustody

        # The sealing key will come from the vault's KEK ring; until then a dedicated secret file.
        sealing_key = read_or_create_secret(settings.secrets_dir / "custody.key")
        return FileKeyCustody(settings.secrets_dir / "keys", sealing_key)
    if backend == "pkcs11":
        from qianshu.pki.pkcs11_custody import Pkcs11KeyCustody

        if settings.pkcs11_pin is None:
            raise CustodyUnavailable(
                "未配置 PKCS#11 用户 PIN（QIANSHU_PKCS11_PIN）", detail_en="QIANSHU_PKCS11_PIN is not set"
            )
        custody = Pkcs11KeyCustody(
            module=settings.pkcs11_module,
            token_label=settings.pkcs11_token_label,
            pin=settings.pkcs11_pin.get_secret_value(),
        )
        runtime.on_close(custody.close)
        return custody
    raise CustodyUnavailable(
        f"未知的密钥托管后端：{backend}（可选 file、pkcs11）",
        detail_en=f"Unknown custody backend {backend!r} (file or pkcs11)",
    )


def custody_for(runtime: Runtime) -> KeyCustody:
    """Return the runtime's key custody, chosen by `settings.custody_backend` (built once)."""
    return runtime.component(_COMPONENT, _build_custody)
