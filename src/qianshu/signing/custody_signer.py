"""A pyHanko `Signer` whose private key never leaves key custody.

pyHanko builds the CMS SignedData (RFC 5652 §5) and asks the signer for the raw signature over the
DER-encoded signed attributes (§5.4); we hash them here and let `KeyCustody.sign_digest` sign the
digest inside custody (file-sealed keys or a PKCS#11 token).
"""

from __future__ import annotations

import hashlib

from asn1crypto import algos, x509
from pyhanko.sign.signers.pdf_cms import Signer
from pyhanko_certvalidator.registry import SimpleCertificateStore

from qianshu.pki.custody import KeyCustody
from qianshu.pki.errors import SigningKeyMissing, UnsupportedKeyAlgorithm

__all__ = ["CustodySigner"]

# Upper bounds of a raw signature's size, for pyHanko's dry runs (RFC 3279 §2.2.3: DER r‖s ≤ 72 bytes).
_ECDSA_P256_MAX = 72


class CustodySigner(Signer):
    """Sign CMS signed attributes with a key held by `KeyCustody` (ECDSA P-256 or RSA PKCS#1 v1.5)."""

    def __init__(
        self,
        *,
        custody: KeyCustody,
        key_label: str,
        signing_cert: x509.Certificate,
        other_certs: list[x509.Certificate],
        digest_algorithm: str = "sha256",
    ) -> None:
        ref = custody.get(key_label)
        if ref is None:
            raise SigningKeyMissing("签名密钥不存在或已销毁", detail_en="The signing key is not in key custody")
        if ref.public_key_der != signing_cert.public_key.dump():
            raise SigningKeyMissing(
                "托管密钥与证书公钥不匹配",
                detail_en="The key in custody does not match the certificate's public key",
            )
        algo = signing_cert.public_key.algorithm
        if algo == "ec":
            mechanism = f"{digest_algorithm}_ecdsa"
        elif algo == "rsa":
            mechanism = f"{digest_algorithm}_rsa"
        else:
            raise UnsupportedKeyAlgorithm(
                f"不支持用于 PDF 签名的密钥算法：{algo}",
                detail_en=f"Unsupported PDF signing key algorithm: {algo}",
            )
        super().__init__(
            signing_cert=signing_cert,
            cert_registry=SimpleCertificateStore.from_certs([signing_cert, *other_certs]),  # type: ignore[no-untyped-call]  # untyped in certvalidator
            signature_mechanism=algos.SignedDigestAlgorithm({"algorithm": mechanism}),
            embed_roots=True,
        )
        self._custody = custody
        self._label = key_label
        self._digest_algorithm = digest_algorithm
        self._dry_run_size = _ECDSA_P256_MAX if algo == "ec" else signing_cert.public_key.byte_size

    @property
    def signature_size(self) -> int:
        """Return the largest size of one raw signature value, in bytes."""
        return self._dry_run_size

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
        """Return the signature over `data` (the signed attributes, RFC 5652 §5.4), made in custody."""
        if digest_algorithm != self._digest_algorithm:
            raise UnsupportedKeyAlgorithm(
                f"摘要算法不一致：{digest_algorithm}",
                detail_en=f"Unexpected digest algorithm {digest_algorithm}",
            )
        if dry_run:
            return bytes(self._dry_run_size)
        digest = hashlib.new(digest_algorithm, data).digest()
        return self._custody.sign_digest(self._label, digest, digest_algorithm)
