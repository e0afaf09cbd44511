"""The time-stamp authority: RFC 3161 TimeStampReq in, TimeStampResp out.

The token is a CMS SignedData (RFC 5652 §5) over a TSTInfo (RFC 3161 §2.4.2) built with
asn1crypto and signed by custody. Signed attributes: contentType, messageDigest, signingTime and
signingCertificateV2 with an ESSCertIDv2 (RFC 5035 §3) naming the TSA certificate. Serial numbers
come from a database sequence (`pki_timestamp.id`), shifted left 64 bits over 64 random bits so a
sequence value reused after a rollback still yields a unique serial.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any, ClassVar

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from sqlalchemy.orm import Session

from qianshu.core.clock import Clock
from qianshu.core.errors import InvalidInput, QianshuError
from qianshu.core.logging import get_logger
from qianshu.core.runtime import runtime_of
from qianshu.pki import records
from qianshu.pki.ca import ensure_service_certificate, now_seconds, signing_key
from qianshu.pki.custody import DIGEST_SIZES, custody_for
from qianshu.pki.errors import TimestampUnavailable
from qianshu.pki.models import Timestamp

log = get_logger("qianshu.pki")

MAX_REQUEST_BYTES = 16 * 1024
ACCURACY_SECONDS = 1
_IMPRINT_SIZES = DIGEST_SIZES  # sha256, sha384, sha512; SHA-1 is refused as too weak
_SIGNED_DIGEST = "sha256"


@dataclass(frozen=True)
class TsaReply:
    """A TimeStampResp (DER) and whether it grants a token."""

    der: bytes
    granted: bool
    failure: str | None = None


class TimeStampResponse(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    """TimeStampResp of RFC 3161 §2.4.2 with its token OPTIONAL (asn1crypto's class insists on one)."""

    _fields: ClassVar[list[tuple[str, Any] | tuple[str, Any, dict[str, bool]]]] = [
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


def _rejection(failure: str, text: str) -> TsaReply:
    """Build a rejection (RFC 3161 §2.4.2 PKIStatusInfo with one PKIFailureInfo bit)."""
    status = tsp.PKIStatusInfo(
        {"status": "rejection", "status_string": [text], "fail_info": tsp.PKIFailureInfo({failure})}
    )
    return TsaReply(der=TimeStampResponse({"status": status}).dump(), granted=False, failure=failure)


def _parse(request_der: bytes) -> tsp.TimeStampReq | TsaReply:
    if len(request_der) > MAX_REQUEST_BYTES:
        return _rejection("bad_data_format", "request too large")
    try:
        req = tsp.TimeStampReq.load(request_der, strict=True)
        req.native  # noqa: B018  # parse every field now, so malformed input fails here
    except (ValueError, TypeError, KeyError, IndexError, OverflowError):
        return _rejection("bad_data_format", "the request is not a DER TimeStampReq")
    if req["version"].native != "v1":
        return _rejection("bad_request", "unsupported request version")
    algorithm = req["message_imprint"]["hash_algorithm"]["algorithm"].native
    size = _IMPRINT_SIZES.get(algorithm)
    if size is None:
        return _rejection("bad_alg", f"unsupported hash algorithm {algorithm}")
    if len(req["message_imprint"]["hashed_message"].native) != size:
        return _rejection("bad_data_format", "the hashed message does not match its algorithm")
    if req["extensions"].native:
        return _rejection("unaccepted_extensions", "extensions are not supported")
    return req


def respond(*, session: Session, clock: Clock, request_der: bytes) -> TsaReply:
    """Answer a DER TimeStampReq (RFC 3161 §2.4.1) with a DER TimeStampResp (§2.4.2)."""
    parsed = _parse(request_der)
    if isinstance(parsed, TsaReply):
        return parsed
    policy = runtime_of(session).settings.tsa_policy_oid
    requested_policy = parsed["req_policy"].native
    if requested_policy is not None and requested_policy != policy:
        return _rejection("unaccepted_policy", "the requested policy is not offered")
    try:
        return _grant(session, clock, parsed, policy)
    except QianshuError as exc:
        log.warning("pki_tsa_failed", error_type=type(exc).__name__)
        return _rejection("system_failure", "the time-stamp authority cannot sign now")


def _next_serial(
    session: Session, *, tsa_cert_id: str, gen_time: object, algorithm: str, imprint: bytes, policy: str
) -> int:
    row = Timestamp(
        serial="pending-" + secrets.token_hex(16),
        tsa_cert_id=tsa_cert_id,
        gen_time=gen_time,
        hash_algorithm=algorithm,
        message_imprint=imprint.hex(),
        policy=policy,
    )
    session.add(row)
    session.flush()
    serial = (row.id << 64) | secrets.randbits(64)
    row.serial = format(serial, "x")
    session.flush()
    return serial


def _signed_attrs(
    tst_info_der: bytes, tsa_cert: asn1_x509.Certificate, gen_time: object
) -> cms.CMSAttributes:
    ess = tsp.SigningCertificateV2(
        {
            "certs": [
                tsp.ESSCertIDv2(
                    {
                        "hash_algorithm": {"algorithm": "sha256"},
                        "cert_hash": hashlib.sha256(tsa_cert.dump()).digest(),
                        "issuer_serial": {
                            "issuer": [asn1_x509.GeneralName({"directory_name": tsa_cert.issuer})],
                            "serial_number": tsa_cert.serial_number,
                        },
                    }
                )
            ]
        }
    )
    attrs = [
        cms.CMSAttribute({"type": "content_type", "values": ["tst_info"]}),
        cms.CMSAttribute(
            {"type": "signing_time", "values": [cms.Time({"utc_time": core.UTCTime(gen_time)})]}
        ),
        cms.CMSAttribute({"type": "message_digest", "values": [hashlib.sha256(tst_info_der).digest()]}),
        cms.CMSAttribute({"type": "signing_certificate_v2", "values": [ess]}),
    ]
    # DER encodes SET OF in ascending order of the encodings (X.690 §11.6); verifiers re-encode.
    return cms.CMSAttributes(sorted(attrs, key=lambda a: a.dump()))


def _grant(session: Session, clock: Clock, req: tsp.TimeStampReq, policy: str) -> TsaReply:
    runtime = runtime_of(session)
    custody = custody_for(runtime)
    tsa_row = ensure_service_certificate(session, clock, "tsa", custody=custody)
    key = signing_key(custody, tsa_row)
    tsa_cert = asn1_x509.Certificate.load(tsa_row.der)
    gen_time = now_seconds(clock)
    imprint = req["message_imprint"]
    algorithm = imprint["hash_algorithm"]["algorithm"].native
    serial = _next_serial(
        session,
        tsa_cert_id=tsa_row.id,
        gen_time=gen_time,
        algorithm=algorithm,
        imprint=imprint["hashed_message"].native,
        policy=policy,
    )
    info: dict[str, object] = {
        "version": "v1",
        "policy": policy,
        "message_imprint": tsp.MessageImprint.load(imprint.dump()),
        "serial_number": serial,
        "gen_time": core.GeneralizedTime(gen_time),
        "accuracy": tsp.Accuracy({"seconds": ACCURACY_SECONDS}),
        "tsa": asn1_x509.GeneralName({"directory_name": tsa_cert.subject}),
    }
    if req["nonce"].native is not None:
        info["nonce"] = req["nonce"].native
    tst_info_der = tsp.TSTInfo(info).dump()
    signed_attrs = _signed_attrs(tst_info_der, tsa_cert, gen_time)
    signature = custody.sign_digest(key.label, hashlib.sha256(signed_attrs.dump()).digest(), _SIGNED_DIGEST)
    signature_algorithm = "sha256_ecdsa" if key.algorithm == "ecdsa-p256" else "sha256_rsa"
    digest_algorithm = algos.DigestAlgorithm({"algorithm": _SIGNED_DIGEST})
    signer_info = cms.SignerInfo(
        {
            "version": "v1",
            "sid": cms.SignerIdentifier(
                {
                    "issuer_and_serial_number": cms.IssuerAndSerialNumber(
                        {"issuer": tsa_cert.issuer, "serial_number": tsa_cert.serial_number}
                    )
                }
            ),
            "digest_algorithm": digest_algorithm,
            "signed_attrs": signed_attrs,
            "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": signature_algorithm}),
            "signature": signature,
        }
    )
    signed_data: dict[str, object] = {
        "version": "v3",
        "digest_algorithms": [digest_algorithm],
        "encap_content_info": {"content_type": "tst_info", "content": core.ParsableOctetString(tst_info_der)},
        "signer_infos": [signer_info],
    }
    if req["cert_req"].native:
        # §2.4.1 certReq: the TSA certificate MUST be included; the issuing CA helps path building.
        issuing = records.require_ca(session, "issuing")
        signed_data["certificates"] = [tsa_cert, asn1_x509.Certificate.load(issuing.der)]
    token = cms.ContentInfo({"content_type": "signed_data", "content": cms.SignedData(signed_data)})
    resp = tsp.TimeStampResp({"status": tsp.PKIStatusInfo({"status": "granted"}), "time_stamp_token": token})
    log.info("pki_timestamp_issued", tsa_cert_id=tsa_row.id)
    return TsaReply(der=resp.dump(), granted=True)


def build_request(
    *, digest: bytes, hash_algo: str = "sha256", nonce: int | None = None, cert_req: bool = True
) -> bytes:
    """Build a DER TimeStampReq for `digest` (RFC 3161 §2.4.1)."""
    size = _IMPRINT_SIZES.get(hash_algo)
    if size is None or len(digest) != size:
        raise InvalidInput(
            "摘要算法或摘要长度不正确", detail_en=f"Expected a {hash_algo} digest of the right length"
        )
    req: dict[str, object] = {
        "version": "v1",
        "message_imprint": {"hash_algorithm": {"algorithm": hash_algo}, "hashed_message": digest},
        "cert_req": cert_req,
    }
    if nonce is not None:
        req["nonce"] = nonce
    der: bytes = tsp.TimeStampReq(req).dump()
    return der


def timestamp(
    *,
    session: Session,
    clock: Clock,
    digest: bytes,
    hash_algo: str = "sha256",
    nonce: int | None = None,
    cert_req: bool = True,
) -> bytes:
    """Time-stamp `digest` in-process and return the granted TimeStampResp DER; raise TimestampUnavailable."""
    reply = respond(
        session=session,
        clock=clock,
        request_der=build_request(digest=digest, hash_algo=hash_algo, nonce=nonce, cert_req=cert_req),
    )
    if not reply.granted:
        raise TimestampUnavailable(detail_en=f"The time-stamp authority refused: {reply.failure}")
    return reply.der


def timestamp_token(
    *,
    session: Session,
    clock: Clock,
    digest: bytes,
    hash_algo: str = "sha256",
    nonce: int | None = None,
) -> bytes:
    """Time-stamp `digest` in-process and return just the token (CMS ContentInfo DER)."""
    der = timestamp(
        session=session, clock=clock, digest=digest, hash_algo=hash_algo, nonce=nonce, cert_req=True
    )
    token: cms.ContentInfo = tsp.TimeStampResp.load(der)["time_stamp_token"]
    dumped: bytes = token.dump()
    return dumped
