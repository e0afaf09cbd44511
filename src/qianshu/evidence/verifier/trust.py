"""Trust material of a bundle checked against the given root: steps (2) and (3).

(2) Each time-stamp token is validated per RFC 3161 as of its own genTime, with the bundle's
certificates, CRLs and OCSP responses. (3) Each certificate in the bundle must chain to the root
(RFC 5280 §6 path validation, as of the start of its validity, where every issuer was valid too);
each CRL must be signed by its issuing CA (§5.1.1.3) and each OCSP response by a responder whose
certificate chains to the root (RFC 6960 §4.2.2.2). When and whether a certificate could be used
is judged where it was used: at genTime for a TSA, at the signature time-stamp for a signer (7).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from asn1crypto import cms
from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import PathBuildingError, PathValidationError, ValidationError

from qianshu.core.errors import VerificationFailed
from qianshu.evidence.verifier.archive import Bundle
from qianshu.evidence.verifier.format import STEPS
from qianshu.evidence.verifier.tokens import TokenFacts, read_token, token_certificates

__all__ = ["TrustMaterial", "check_certificates", "check_timestamps", "load_root", "load_trust_material"]

T = TypeVar("T")
_STEP_TS, _STEP_CERTS = str(STEPS[1]), str(STEPS[2])


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` to completion on a fresh event loop (the verifier is synchronous)."""
    return asyncio.run(coro)


def load_root(data: bytes) -> asn1_x509.Certificate:
    """Load the trust anchor from PEM or DER; raise ValueError."""
    try:
        cert = x509.load_pem_x509_certificate(data) if b"-----BEGIN" in data else x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise ValueError("the root certificate is neither PEM nor DER") from exc
    return asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER))


@dataclass(frozen=True)
class TrustMaterial:
    """The root plus what the bundle brings: certificates (by path), CRLs and OCSP responses."""

    root: asn1_x509.Certificate
    certificates: dict[str, asn1_x509.Certificate]
    crls: dict[str, bytes]
    ocsps: dict[str, bytes]

    def context(self, moment: datetime | None, extra: list[asn1_x509.Certificate] | None = None) -> ValidationContext:
        """Return a fetch-free validation context as of `moment` with the bundle's revocation data."""
        return ValidationContext(
            trust_roots=[self.root],
            other_certs=[*self.certificates.values(), *(extra or [])],
            crls=list(self.crls.values()),
            ocsps=list(self.ocsps.values()),
            moment=moment,
            allow_fetching=False,
            revocation_mode="soft-fail",
            retroactive_revinfo=True,
        )


def load_trust_material(bundle: Bundle, root: asn1_x509.Certificate) -> TrustMaterial:
    """Parse the bundle's certificates, CRLs and OCSP responses; a malformed one fails step (3)."""
    certs: dict[str, asn1_x509.Certificate] = {}
    crls: dict[str, bytes] = {}
    ocsps: dict[str, bytes] = {}
    for item in bundle.manifest.files:
        data = bundle.read(item.path)
        try:
            if item.role == "certificate":
                loaded = (
                    x509.load_pem_x509_certificate(data)
                    if b"-----BEGIN" in data
                    else x509.load_der_x509_certificate(data)
                )
                certs[item.path] = asn1_x509.Certificate.load(loaded.public_bytes(Encoding.DER))
            elif item.role == "crl":
                x509.load_der_x509_crl(data)
                crls[item.path] = data
            elif item.role == "ocsp":
                ocsp.load_der_ocsp_response(data)
                ocsps[item.path] = data
        except ValueError as exc:
            raise VerificationFailed(step=_STEP_CERTS, reason=f"{item.path} cannot be parsed") from exc
    return TrustMaterial(root=root, certificates=certs, crls=crls, ocsps=ocsps)


# --- (2) time-stamp tokens ------------------------------------------------------------------


def _indication(value: object) -> str:
    return str(getattr(value, "name", value))


def _constant(value: bytes) -> Callable[[str], bytes]:
    return lambda _algorithm: value


def check_timestamps(bundle: Bundle, trust: TrustMaterial) -> list[tuple[str, TokenFacts]]:
    """Validate every listed token per RFC 3161 and bind its imprint to the manifest (step 2)."""
    checked = []
    for ref in bundle.manifest.timestamps:
        der = bundle.read(ref.token)
        try:
            facts = read_token(der)
            signed = cms.ContentInfo.load(der)["content"]
            extra = token_certificates(der)
        except ValueError as exc:
            raise VerificationFailed(step=_STEP_TS, reason=f"{ref.token}: {exc}") from exc
        if facts.hash_algorithm != "sha256":
            raise VerificationFailed(step=_STEP_TS, reason=f"{ref.token}: imprint is not SHA-256")
        if facts.imprint.hex() != ref.imprint_sha256:
            raise VerificationFailed(
                step=_STEP_TS, reason=f"{ref.token}: the token's message imprint differs from the manifest"
            )
        if ref.covers is not None and bundle.sha256(ref.covers) != ref.imprint_sha256:
            raise VerificationFailed(
                step=_STEP_TS, reason=f"{ref.token} does not time-stamp {ref.covers} (file altered)"
            )
        context = trust.context(facts.gen_time, extra)
        try:
            status = run(validate_tst_signed_data(signed, context, expected_tst_imprint=_constant(facts.imprint)))
        except (SignatureValidationError, ValueError) as exc:
            raise VerificationFailed(step=_STEP_TS, reason=f"{ref.token}: {exc}") from exc
        if not (status["intact"] and status["valid"]):
            raise VerificationFailed(step=_STEP_TS, reason=f"{ref.token}: the TSA signature does not verify")
        if status["trust_problem_indic"] is not None:
            raise VerificationFailed(
                step=_STEP_TS,
                reason=f"{ref.token}: TSA certificate not trusted under the given root "
                f"({_indication(status['trust_problem_indic'])})",
            )
        checked.append((ref.token, facts))
    return checked


# --- (3) certificates, CRLs, OCSP responses ---------------------------------------------------


def _verify(public_key: Any, signature: bytes, data: bytes, algorithm: hashes.HashAlgorithm | None) -> bool:
    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey) and algorithm is not None:
            public_key.verify(signature, data, ec.ECDSA(algorithm))
        elif isinstance(public_key, rsa.RSAPublicKey) and algorithm is not None:
            public_key.verify(signature, data, padding.PKCS1v15(), algorithm)
        elif isinstance(public_key, ed25519.Ed25519PublicKey):
            public_key.verify(signature, data)
        else:
            return False
    except InvalidSignature:
        return False
    return True


def _crypto(cert: asn1_x509.Certificate) -> x509.Certificate:
    return x509.load_der_x509_certificate(cert.dump())


async def _path_ok(cert: asn1_x509.Certificate, trust: TrustMaterial) -> str | None:
    moment = cert.not_valid_before + timedelta(seconds=1)
    try:
        await CertificateValidator(cert, validation_context=trust.context(moment)).async_validate_path()
    except (PathBuildingError, PathValidationError, ValidationError) as exc:
        return f"{type(exc).__name__}: {exc}"[:300]
    return None


def check_certificates(bundle: Bundle, trust: TrustMaterial) -> list[str]:
    """Check every certificate's path to the root and every CRL and OCSP signature (step 3)."""
    lines = []
    anchors = {trust.root.sha256: trust.root}
    for path, cert in trust.certificates.items():
        problem = run(_path_ok(cert, trust))
        if problem is not None:
            raise VerificationFailed(step=_STEP_CERTS, reason=f"{path} does not chain to the root: {problem}")
        anchors[cert.sha256] = cert
        lines.append(f"{path}: {cert.subject.native.get('common_name') or cert.subject.human_friendly}")
    by_subject = {c.subject.dump(): c for c in anchors.values()}
    for path, data in trust.crls.items():
        crl = x509.load_der_x509_crl(data)
        issuer = by_subject.get(asn1_crl.CertificateList.load(data)["tbs_cert_list"]["issuer"].dump())
        if issuer is None or not crl.is_signature_valid(_crypto(issuer).public_key()):  # type: ignore[arg-type]  # key types checked by cryptography
            raise VerificationFailed(step=_STEP_CERTS, reason=f"{path} is not signed by a CA under the root")
        lines.append(f"{path}: CRL #{_crl_number(crl)}")
    for path, data in trust.ocsps.items():
        response = ocsp.load_der_ocsp_response(data)
        if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
            raise VerificationFailed(step=_STEP_CERTS, reason=f"{path}: OCSP status {response.response_status.name}")
        responders = [c for c in response.certificates if _matches_responder(response, c)]
        known = [c for c in responders if hashlib.sha256(c.public_bytes(Encoding.DER)).digest() in anchors]
        ok = any(
            _verify(
                c.public_key(),
                response.signature,
                response.tbs_response_bytes,
                response.signature_hash_algorithm,
            )
            for c in known
        )
        if not ok:
            raise VerificationFailed(
                step=_STEP_CERTS, reason=f"{path} is not signed by an OCSP responder certified under the root"
            )
        lines.append(f"{path}: {response.certificate_status.name.lower()}")
    return lines


def _matches_responder(response: ocsp.OCSPResponse, cert: x509.Certificate) -> bool:
    if response.responder_name is not None:
        return bool(response.responder_name == cert.subject)
    spki = asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER)).public_key
    return bool(response.responder_key_hash == hashlib.sha1(bytes(spki["public_key"])).digest())  # noqa: S324  # RFC 6960 §4.2.1 KeyHash is SHA-1


def _crl_number(crl: x509.CertificateRevocationList) -> str:
    try:
        return str(crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number)
    except x509.ExtensionNotFound:
        return "?"
