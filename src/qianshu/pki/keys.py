"""Private-key objects for `cryptography`'s builders that sign through key custody.

`cryptography`'s certificate, CRL and OCSP builders ask a private-key object to `sign()` the
to-be-signed bytes. These adapters hash those bytes here and hand only the digest to custody, so
the key itself never leaves it. Public-key operations use the public key custody reports.
"""

from __future__ import annotations

from typing import Any, NoReturn

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes

from qianshu.pki.custody import KeyCustody, KeyRef
from qianshu.pki.errors import UnsupportedKeyAlgorithm

__all__ = ["custody_private_key", "digest", "hash_name"]

_HASH_NAMES = {"sha256", "sha384", "sha512"}


def hash_name(algorithm: hashes.HashAlgorithm) -> str:
    """Return custody's name for a `cryptography` hash algorithm (sha256, sha384, sha512)."""
    if algorithm.name not in _HASH_NAMES:
        raise UnsupportedKeyAlgorithm(
            f"不支持的摘要算法：{algorithm.name}", detail_en=f"Unsupported digest algorithm: {algorithm.name}"
        )
    return algorithm.name


def digest(data: bytes, algorithm: hashes.HashAlgorithm) -> bytes:
    """Hash `data` with `algorithm`."""
    h = hashes.Hash(algorithm)
    h.update(data)
    return h.finalize()


def _prehash(data: bytes, algorithm: hashes.HashAlgorithm | utils.Prehashed) -> tuple[bytes, str]:
    if isinstance(algorithm, utils.Prehashed):
        return data, hash_name(algorithm._algorithm)
    return digest(data, algorithm), hash_name(algorithm)


def _no_private_material() -> NoReturn:
    raise TypeError("custody keys never leave custody")


class _CustodyEcKey(ec.EllipticCurvePrivateKey):
    """An ECDSA key held by custody (signing only)."""

    def __init__(self, custody: KeyCustody, ref: KeyRef, public: ec.EllipticCurvePublicKey) -> None:
        self._custody = custody
        self._ref = ref
        self._public = public

    @property
    def curve(self) -> ec.EllipticCurve:
        return self._public.curve

    @property
    def key_size(self) -> int:
        return self._public.key_size

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._public

    def sign(self, data: Any, signature_algorithm: ec.EllipticCurveSignatureAlgorithm) -> bytes:
        if not isinstance(signature_algorithm, ec.ECDSA):
            raise UnsupportedKeyAlgorithm(detail_en="Only ECDSA signatures are supported")
        hashed, name = _prehash(bytes(data), signature_algorithm.algorithm)
        return self._custody.sign_digest(self._ref.label, hashed, name)

    def exchange(self, algorithm: ec.ECDH, peer_public_key: ec.EllipticCurvePublicKey) -> bytes:
        _no_private_material()

    def private_numbers(self) -> ec.EllipticCurvePrivateNumbers:
        _no_private_material()

    def private_bytes(
        self,
        encoding: serialization.Encoding,
        format: serialization.PrivateFormat,  # the base class names it so
        encryption_algorithm: serialization.KeySerializationEncryption,
    ) -> bytes:
        _no_private_material()

    def __copy__(self) -> _CustodyEcKey:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> _CustodyEcKey:
        return self


class _CustodyRsaKey(rsa.RSAPrivateKey):
    """An RSA key held by custody (PKCS#1 v1.5 signing only)."""

    def __init__(self, custody: KeyCustody, ref: KeyRef, public: rsa.RSAPublicKey) -> None:
        self._custody = custody
        self._ref = ref
        self._public = public

    @property
    def key_size(self) -> int:
        return self._public.key_size

    def public_key(self) -> rsa.RSAPublicKey:
        return self._public

    def sign(
        self,
        data: Any,
        padding: padding.AsymmetricPadding,
        algorithm: hashes.HashAlgorithm | utils.Prehashed | utils.NoDigestInfo,
    ) -> bytes:
        if padding.name != "EMSA-PKCS1-v1_5":
            raise UnsupportedKeyAlgorithm(detail_en="Only RSA PKCS#1 v1.5 signatures are supported")
        if isinstance(algorithm, utils.NoDigestInfo):
            raise UnsupportedKeyAlgorithm(detail_en="Signatures without a DigestInfo are not supported")
        hashed, name = _prehash(bytes(data), algorithm)
        return self._custody.sign_digest(self._ref.label, hashed, name)

    def decrypt(self, ciphertext: bytes, padding: padding.AsymmetricPadding) -> bytes:
        _no_private_material()

    def private_numbers(self) -> rsa.RSAPrivateNumbers:
        _no_private_material()

    def private_bytes(
        self,
        encoding: serialization.Encoding,
        format: serialization.PrivateFormat,  # the base class names it so
        encryption_algorithm: serialization.KeySerializationEncryption,
    ) -> bytes:
        _no_private_material()

    def __copy__(self) -> _CustodyRsaKey:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> _CustodyRsaKey:
        return self


def custody_private_key(custody: KeyCustody, ref: KeyRef) -> CertificateIssuerPrivateKeyTypes:
    """Return a `cryptography` private-key object whose `sign()` delegates to custody."""
    public = serialization.load_der_public_key(ref.public_key_der)
    if isinstance(public, ec.EllipticCurvePublicKey):
        return _CustodyEcKey(custody, ref, public)
    if isinstance(public, rsa.RSAPublicKey):
        return _CustodyRsaKey(custody, ref, public)
    raise UnsupportedKeyAlgorithm(
        f"该密钥不能用于签发证书：{ref.algorithm}",
        detail_en=f"{ref.algorithm} keys cannot sign certificates here",
    )
