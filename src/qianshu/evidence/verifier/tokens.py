"""RFC 3161 time-stamp tokens: read their TSTInfo, and validate them against a trust root (step 2).

A token is a CMS ContentInfo holding SignedData (RFC 5652 §5) whose encapsulated content is a
TSTInfo (RFC 3161 §2.4.2). Validation (pyHanko's `validate_tst_signed_data`) checks the
messageDigest signed attribute against the TSTInfo, the signature with the TSA certificate, that
certificate's extendedKeyUsage id-kp-timeStamping (§2.3) and its path to the root as of genTime.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from asn1crypto import cms, tsp
from asn1crypto import x509 as asn1_x509

__all__ = ["TokenFacts", "read_token", "token_certificates"]


@dataclass(frozen=True)
class TokenFacts:
    """What a TSTInfo says: genTime, serial number, policy, TSA name and the message imprint."""

    gen_time: datetime
    serial_hex: str
    policy: str
    tsa_name: str | None
    hash_algorithm: str
    imprint: bytes
    nonce: int | None


def _signed_data(der: bytes) -> cms.SignedData:
    info = cms.ContentInfo.load(der, strict=True)
    if info["content_type"].native != "signed_data":
        raise ValueError("the token is not CMS SignedData")
    signed: cms.SignedData = info["content"]
    return signed


def read_token(der: bytes) -> TokenFacts:
    """Parse a TimeStampToken (RFC 3161 §2.4.2); raise ValueError when it is not one."""
    try:
        signed = _signed_data(der)
        content = signed["encap_content_info"]
        if content["content_type"].native != "tst_info":
            raise ValueError("the token does not encapsulate a TSTInfo")
        info = content["content"].parsed
        if not isinstance(info, tsp.TSTInfo):
            raise ValueError("the token does not encapsulate a TSTInfo")
        tsa = info["tsa"]
        tsa_name = None
        if tsa.native is not None and tsa.name == "directory_name":
            tsa_name = str(tsa.chosen.native.get("common_name") or tsa.chosen.human_friendly)
        imprint = info["message_imprint"]
        return TokenFacts(
            gen_time=info["gen_time"].native,
            serial_hex=format(info["serial_number"].native, "x"),
            policy=info["policy"].dotted,
            tsa_name=tsa_name,
            hash_algorithm=imprint["hash_algorithm"]["algorithm"].native,
            imprint=imprint["hashed_message"].native,
            nonce=info["nonce"].native,
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"malformed time-stamp token ({type(exc).__name__})") from exc


def token_certificates(der: bytes) -> list[asn1_x509.Certificate]:
    """Return the certificates a token carries (the TSA's, per the request's certReq)."""
    signed = _signed_data(der)
    certs = signed["certificates"]
    if certs.native is None:
        return []
    return [choice.chosen for choice in certs if choice.name == "certificate"]
