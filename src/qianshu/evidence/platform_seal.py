"""The platform's own signature on the documents it issues (preservation certificates, reports).

The platform signs as an organisation: an org certificate from our CA (pki) for the operator
(`settings.operator_name`, USCC `settings.operator_uscc`), its key in custody like every other.
Its pseudonymous subject id is derived from the root certificate, so every process of one
installation finds the same one without a table. Documents get a PAdES signature with the
platform's seal as appearance (B-T) and are then completed to B-LTA (validation data and a
document time-stamp), so they stay verifiable after the platform certificate expires.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from qianshu.core.errors import ServiceUnavailable
from qianshu.core.logging import get_logger
from qianshu.core.runtime import Runtime, runtime_of

if TYPE_CHECKING:
    from qianshu.pki.schemas import CertificateRead
    from qianshu.signing.schemas import Rect

__all__ = ["SANDBOX_USCC", "SEAL_FOOTER", "platform_certificate", "platform_subject_id", "sign_as_platform"]

log = get_logger("qianshu.evidence")

SEAL_FOOTER = "电子存证专用章"
# A well-formed code (GB 32100-2015 check character) used only on sandbox installations.
SANDBOX_USCC = "91000000MA0000000N"
_RENEW_BEFORE = timedelta(days=30)
_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
_SEAL_COMPONENT = "evidence.platform_seal_png"


def platform_subject_id(*, session: Session) -> str:
    """Return the platform's pseudonymous org id, derived from the root certificate (stable per CA)."""
    from qianshu.pki import service as pki_service

    seed = hashlib.sha256(b"qianshu platform signer\n" + pki_service.root_certificate_der(session=session))
    number = int.from_bytes(seed.digest()[:13], "big")
    chars = "".join(_CROCKFORD[(number >> (5 * i)) & 31] for i in range(20))
    return "org_" + chars


def _uscc(runtime: Runtime) -> str:
    settings = runtime.settings
    if settings.operator_uscc:
        return settings.operator_uscc
    if settings.sandbox:
        return SANDBOX_USCC
    raise ServiceUnavailable(
        "未配置运营方统一社会信用代码（QIANSHU_OPERATOR_USCC），平台无法签发证书文件",
        detail_en="Set QIANSHU_OPERATOR_USCC: the platform cannot sign documents without it",
    )


def platform_certificate(*, session: Session) -> CertificateRead:
    """Return the platform's usable signing certificate, issuing (or renewing) it when needed."""
    from qianshu.evidence import service as evidence_service
    from qianshu.pki import service as pki_service

    runtime = runtime_of(session)
    clock = runtime.clock
    subject_id = platform_subject_id(session=session)
    evidence_service.lock_stream(session=session, stream="evidence:platform-signer")  # one issuer at a time
    current = pki_service.current_certificate_for(session=session, subject_id=subject_id)
    if current is not None and current.not_after - clock.now() > _RENEW_BEFORE:
        try:
            return pki_service.check_usable(session=session, clock=clock, cert=current)
        except (
            pki_service.CertificateExpired,
            pki_service.CertificateRevoked,
            pki_service.CertificateSuperseded,
            pki_service.SigningKeyMissing,
        ):
            pass
    cert = pki_service.issue_org_certificate(
        session=session,
        clock=clock,
        subject_id=subject_id,
        org_name=runtime.settings.operator_name,
        uscc=_uscc(runtime),
        actor="system",
    )
    log.info("evidence_platform_certificate_issued", cert_id=cert.id)
    return cert


def _seal_png(runtime: Runtime) -> bytes:
    from qianshu.signing import service as signing_service

    return signing_service.render_seal(runtime=runtime, org_name=runtime.settings.operator_name, footer=SEAL_FOOTER)


def sign_as_platform(
    *, session: Session, pdf: bytes, field_name: str, page: int, rect: Rect, reason: str
) -> tuple[bytes, str]:
    """Sign `pdf` as the platform with its seal at `rect` (PAdES B-LTA); return (PDF, certificate id)."""
    from qianshu.pki import service as pki_service
    from qianshu.signing import service as signing_service
    from qianshu.signing.schemas import SealAppearance

    runtime = runtime_of(session)
    cert = platform_certificate(session=session)
    seal = runtime.component(_SEAL_COMPONENT, _seal_png)
    signed = signing_service.sign_pdf(
        runtime=runtime,
        data=pdf,
        key_label=cert.key_label,
        cert_der=cert.der,
        chain_der=pki_service.ca_chain(session=session),
        field_name=field_name,
        appearance=SealAppearance(image_png=seal),
        page=page,
        rect=rect,
        reason=reason,
        location="中国",
        session=session,
    )
    completed = signing_service.complete_document(runtime=runtime, data=signed, session=session)
    return completed, cert.id
