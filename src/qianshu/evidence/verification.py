"""The public verification service (PROMISES E4): check an uploaded bundle or signed PDF, no account needed.

A bundle goes through the offline verifier with this platform's root certificate and log key
(exactly what `qianshu verify` does offline); a PDF through PAdES validation against the root.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from qianshu.core.errors import InvalidInput, VerificationFailed
from qianshu.core.ratelimit import Limit, enforce
from qianshu.core.runtime import runtime_of
from qianshu.evidence import translog
from qianshu.evidence.evidence_schemas import VerifyOut, VerifyStepOut
from qianshu.evidence.verifier import verify_bundle

__all__ = ["VERIFY_LIMIT", "verify_upload"]

VERIFY_LIMIT = Limit(count=30, seconds=600)  # per client address: validation is costly


def verify_upload(*, session: Session, data: bytes, client: str) -> VerifyOut:
    """Verify an uploaded evidence bundle (ZIP) or signed PDF against this platform's trust anchors."""
    from qianshu.pki import service as pki_service
    from qianshu.signing import service as signing_service

    runtime = runtime_of(session)
    enforce(runtime, f"evidence.verify:{client}", VERIFY_LIMIT)
    limit = runtime.settings.max_upload_bytes

    def guard(pdf: bytes) -> None:
        signing_service.check_pdf_acceptable(pdf, limit)  # parsed in a sandboxed child process first

    if data.startswith(b"PK\x03\x04"):
        root = pki_service.root_certificate_der(session=session)
        key = translog.verifier_key(runtime)
        try:
            report = verify_bundle(data, root=root, log_key=key, pdf_guard=guard)
        except VerificationFailed as exc:
            return VerifyOut(kind="bundle", ok=False, failed_step=exc.step, reason=exc.reason)
        return VerifyOut(
            kind="bundle",
            ok=True,
            subject_kind=report.subject_kind,
            subject_id=report.subject_id,
            steps=[
                VerifyStepOut(
                    number=r.step.number,
                    key=r.step.key,
                    title=r.step.title,
                    title_zh=r.step.title_zh,
                    details=r.details,
                )
                for r in report.steps
            ],
        )
    if b"%PDF-" in data[:1024]:
        guard(data)
        roots = signing_service.trust_roots(runtime=runtime, session=session)
        validation = signing_service.validate_pdf(data, trust_roots=roots)
        return VerifyOut(kind="pdf", ok=validation.ok, pdf_report=validation.model_dump(mode="json"))
    raise InvalidInput("请上传证据包（ZIP）或已签署的 PDF", detail_en="Upload an evidence bundle (ZIP) or a signed PDF")
