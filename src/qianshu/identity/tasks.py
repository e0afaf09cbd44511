"""Jobs of the identity domain: retry a pending provider check; issue a deferred certificate."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from qianshu.core.runtime import Runtime
from qianshu.identity import service as identity_service
from qianshu.jobs.service import RetryLater, handler


@handler(identity_service.CHECK_JOB)
def run_check(*, runtime: Runtime, session: Session, payload: dict[str, Any]) -> None:
    """Call the provider again for a pending verification (payload: verification id only)."""
    identity_service.retry_check(
        session=session, clock=runtime.clock, verification_id=str(payload["verification_id"])
    )


@handler(identity_service.CERTIFICATE_JOB)
def issue_certificate(*, runtime: Runtime, session: Session, payload: dict[str, Any]) -> None:
    """Issue the certificate of a verified person whose issuance failed earlier (payload: user id)."""
    user_id = str(payload["user_id"])
    cert_id = identity_service.ensure_certificate(
        session=session, clock=runtime.clock, user_id=user_id, queue_retry=False
    )
    if cert_id is None and identity_service.get_identity(session=session, user_id=user_id) is not None:
        raise RetryLater("the CA could not issue the certificate yet")
