"""Account cancellation (P7): preconditions, a cooling-off period, then irreversible shredding.

1. `preview` lists what stops a cancellation now (domains add checks through
   `cancellation_blockers(*, session, user_id)` in their service or `register_blocker`; contracts
   in progress will be one) and what the law makes us keep.
2. `start` re-checks identity with a one-time code; `confirm` opens a `cancellation` request in
   its cooling-off period (`cancellation_cooling_off_days`), during which the person can withdraw.
3. When the period ends, a job runs `execute`: blockers are checked again; records under legal
   retention are sealed under the person's retention key (`retention.seal_retained`); their
   certificates are revoked (RFC 5280 cessationOfOperation) so the CRL and OCSP say so, while
   signatures made earlier stay verifiable (E4); each domain's `on_account_cancelled` hook runs;
   and accounts closes the account and destroys the person's vault data key (crypto-shredding).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from qianshu.core.clock import Clock
from qianshu.core.deps import RequestContext
from qianshu.core.logging import get_logger
from qianshu.core.runtime import runtime_of
from qianshu.privacy import holidays, notices, reverify
from qianshu.privacy import requests as requests_module
from qianshu.privacy.centre_models import DataExport, PrivacyRequest
from qianshu.privacy.centre_schemas import Blocker, CancellationPreview, CodeChallenge, RequestRead
from qianshu.privacy.errors import CancellationBlocked, RequestNotFound, RequestStateConflict

log = get_logger("qianshu.privacy")

EXECUTE_JOB = "privacy.execute_cancellation"
BlockerCheck = Callable[..., "list[Blocker | dict[str, Any]]"]
_CHECKS: dict[str, BlockerCheck] = {}


def register_blocker(name: str, check: BlockerCheck) -> None:
    """Register `check(*, session, user_id) -> list[Blocker]` run before any cancellation."""
    _CHECKS[name] = check


def unregister_blocker(name: str) -> None:
    """Forget a registered check (tests)."""
    _CHECKS.pop(name, None)


def _domain_hooks(name: str) -> list[Callable[..., Any]]:
    from qianshu.app import domain_modules

    return [fn for mod in domain_modules("service") if callable(fn := getattr(mod, name, None))]


def blockers(*, session: Session, user_id: str) -> list[Blocker]:
    """Return every reason the account cannot be cancelled now (empty: it can)."""
    from qianshu.accounts import service as accounts_service

    found: list[Blocker] = []
    user = accounts_service.get_user(session=session, user_id=user_id)
    if user is None or user.status == "cancelled":
        found.append(
            Blocker(code="no_account", message="账户不存在或已注销", message_en="No such active account")
        )
        return found
    if user.role == "operator":
        found.append(
            Blocker(
                code="operator_account",
                message="运营人员账号须由平台收回权限后注销",
                message_en="Operator accounts are closed by the platform after their roles are withdrawn",
            )
        )
    for check in [*_CHECKS.values(), *_domain_hooks("cancellation_blockers")]:
        for item in check(session=session, user_id=user_id) or []:
            found.append(item if isinstance(item, Blocker) else Blocker.model_validate(item))
    return found


def _pending(session: Session, user_id: str) -> PrivacyRequest | None:
    return session.scalar(
        select(PrivacyRequest).where(
            PrivacyRequest.user_id == user_id,
            PrivacyRequest.kind == "cancellation",
            PrivacyRequest.status == requests_module.COOLING_OFF,
        )
    )


def preview(*, session: Session, user_id: str) -> CancellationPreview:
    """Explain what cancelling would do now: blockers, cooling-off, what is kept and why."""
    from qianshu.pki import service as pki_service

    found = blockers(session=session, user_id=user_id)
    years = runtime_of(session).settings.signing_record_retention_years
    retained = [
        f"签署记录（审计事件、签名、时间戳）保存至完成后 {years} 年，注销后仍可公开核验合同完整性",
    ]
    if pki_service.list_certificates_for(session=session, subject_id=user_id):
        retained.append(
            f"数字证书及证书对应的身份信息在证书失效后保存 {years} 年，以留存密钥封存，工作人员无法查看"
        )
    retained.append("网络日志保存不少于六个月（与您的账户数据分开加密）")
    pending = _pending(session, user_id)
    return CancellationPreview(
        can_cancel=not found and pending is None,
        blockers=found,
        cooling_off_days=runtime_of(session).settings.cancellation_cooling_off_days,
        retained=retained,
        pending_request_id=pending.id if pending else None,
        execute_after=pending.execute_after if pending else None,
    )


def _raise_if_blocked(session: Session, user_id: str) -> None:
    found = blockers(session=session, user_id=user_id)
    if found:
        raise CancellationBlocked(
            "；".join(b.message for b in found),
            detail_en="; ".join(b.message_en for b in found),
            blockers=[b.model_dump() for b in found],
        )


def start(
    *, session: Session, clock: Clock, user_id: str, context: RequestContext | None = None
) -> CodeChallenge:
    """Check the preconditions and send a one-time code to confirm the cancellation."""
    _raise_if_blocked(session, user_id)
    if _pending(session, user_id) is not None:
        raise RequestStateConflict("已有进行中的注销申请", detail_en="A cancellation is already scheduled")
    sent = reverify.send_code(session=session, clock=clock, user_id=user_id, context=context)
    from qianshu.core.ids import new_id

    now = clock.now()
    row = PrivacyRequest(
        id=new_id("prq"),
        user_id=user_id,
        kind="cancellation",
        status=requests_module.AWAITING_CODE,
        otp_id=sent.otp_id,
        created_at=now,
        calendar_provisional=False,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    requests_module.add_step(
        session, clock, row, actor=user_id, actor_role="subject", action="submitted", context=context
    )
    return CodeChallenge(
        request_id=row.id, channel=sent.channel, sent_to=sent.sent_to, expires_in=sent.expires_in
    )


def confirm(
    *,
    session: Session,
    clock: Clock,
    user_id: str,
    request_id: str,
    code: str,
    context: RequestContext | None = None,
) -> RequestRead:
    """Confirm with the code: the cooling-off period starts and the cancellation is scheduled."""
    from qianshu.jobs import service as jobs_service

    row = session.get(PrivacyRequest, request_id)
    if row is None or row.user_id != user_id or row.kind != "cancellation":
        raise RequestNotFound()
    if row.status != requests_module.AWAITING_CODE:
        raise RequestStateConflict("该申请已确认", detail_en="The cancellation is confirmed already")
    reverify.check_code(session=session, clock=clock, user_id=user_id, code=code)
    _raise_if_blocked(session, user_id)
    days = runtime_of(session).settings.cancellation_cooling_off_days
    row.verified_at = clock.now()
    row.status = requests_module.COOLING_OFF
    row.execute_after = clock.now() + timedelta(days=days)
    requests_module.start_deadline(session, clock, row)
    requests_module.add_step(
        session,
        clock,
        row,
        actor=user_id,
        actor_role="subject",
        action="verified",
        context=context,
        data={"execute_after": row.execute_after.isoformat()},
    )
    jobs_service.enqueue(
        session=session,
        clock=clock,
        kind=EXECUTE_JOB,
        payload={"request_id": row.id},
        delay=row.execute_after - clock.now(),
        dedupe_key=f"{EXECUTE_JOB}:{row.id}",
    )
    when = holidays.beijing_date(row.execute_after).isoformat()
    notices.notify_user(
        session=session,
        clock=clock,
        user_id=user_id,
        template="privacy_cancellation_scheduled",
        params={"date": when},
        locale=context.locale if context else "zh-CN",
    )
    return requests_module.to_read(session, clock, row, reveal=True)


def execute(*, session: Session, clock: Clock, request_id: str, actor: str = "system") -> bool:
    """Carry out a cancellation whose cooling-off has ended; return whether the account was closed."""
    from qianshu.accounts import service as accounts_service

    row = session.get(PrivacyRequest, request_id)
    if row is None or row.kind != "cancellation" or row.status != requests_module.COOLING_OFF:
        return False
    if row.execute_after is None or clock.now() < row.execute_after:
        return False
    user_id = row.user_id
    found = blockers(session=session, user_id=user_id)
    if found:
        row.status = row.resolution = requests_module.REJECTED
        row.closed_at = clock.now()
        requests_module.add_step(
            session,
            clock,
            row,
            actor=actor,
            actor_role="system",
            action="rejected",
            note="；".join(b.message for b in found),
            data={"blockers": [b.code for b in found]},
        )
        requests_module.tell_status(session, clock, row)
        return False
    from qianshu.privacy import retention

    retained = retention.seal_retained(session=session, clock=clock, user_id=user_id)
    revoked = revoke_all_certificates(session=session, clock=clock, user_id=user_id)
    for hook in _domain_hooks("on_account_cancelled"):
        hook(session=session, clock=clock, user_id=user_id)
    _drop_exports(session, clock, user_id)
    accounts_service.cancel_user(session=session, clock=clock, user_id=user_id)
    row.status = row.resolution = requests_module.COMPLETED
    row.closed_at = clock.now()
    requests_module.add_step(
        session,
        clock,
        row,
        actor=actor,
        actor_role="system",
        action="account_cancelled",
        data={"retained_records": retained, "certificates_revoked": revoked},
    )
    log.info("privacy_account_cancelled", user_id=user_id, retained=retained, revoked=revoked)
    return True


def revoke_all_certificates(*, session: Session, clock: Clock, user_id: str) -> int:
    """Revoke the person's active certificates (RFC 5280 cessationOfOperation); return how many."""
    from qianshu.pki import service as pki_service

    count = 0
    for cert in pki_service.list_certificates_for(session=session, subject_id=user_id):
        if cert.status != "active":
            continue
        pki_service.revoke_certificate(
            session=session,
            clock=clock,
            cert_id=cert.id,
            actor="system",
            reason=pki_service.RevocationReason.CESSATION_OF_OPERATION,
            operator=True,
        )
        count += 1
    return count


def _drop_exports(session: Session, clock: Clock, user_id: str) -> None:
    from qianshu.storage import service as storage_service

    for row in session.scalars(select(DataExport).where(DataExport.user_id == user_id)):
        for blob_id in (row.json_blob_id, row.pdf_blob_id):
            if blob_id and storage_service.get_blob(session=session, blob_id=blob_id) is not None:
                storage_service.delete_blob(session=session, clock=clock, blob_id=blob_id)
        row.json_blob_id = row.pdf_blob_id = None
        row.status = "expired"
    session.flush()


def run_due(*, session: Session, clock: Clock) -> int:
    """Execute every cancellation whose cooling-off has ended (the job's safety net); return how many."""
    ids = list(
        session.scalars(
            select(PrivacyRequest.id).where(
                PrivacyRequest.kind == "cancellation",
                PrivacyRequest.status == requests_module.COOLING_OFF,
                PrivacyRequest.execute_after <= clock.now(),
            )
        )
    )
    return sum(1 for request_id in ids if execute(session=session, clock=clock, request_id=request_id))
