"""Send e-mail and text messages: render, seal, queue, deliver with retries, list for operators.

`send_sms`/`send_email` render a template, store the message with its recipient, subject and body
sealed by the vault (under the data key of `subject_id`; "sys_platform" for people who have no
account yet) and queue a `notify.deliver` job whose payload is only the message id. The job opens
the message and hands it to the configured channel (`providers.py`); a failure is recorded on the
message and raised, so the queue retries with backoff and dead-letters after too many attempts.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from qianshu.core.clock import Clock
from qianshu.core.errors import InvalidInput, NotFound
from qianshu.core.ids import is_id, new_id
from qianshu.core.logging import get_logger
from qianshu.core.runtime import Runtime, runtime_of
from qianshu.notify.messages import compose_email, render_message
from qianshu.notify.models import Message
from qianshu.notify.providers import (
    DeliveryError,
    EmailSender,
    OutboxEmailSender,
    SmsSender,
    build_email_sender,
    build_sms_sender,
)
from qianshu.notify.schemas import Channel, MessageRead, MessageStatus, OutboxEmailRead, RenderedMessage

log = get_logger("qianshu.notify")

TABLE = "notify_message"
DELIVER_JOB = "notify.deliver"
PURGE_JOB = "notify.purge"
PURGE_HOUR_UTC, PURGE_MINUTE_UTC = 3, 30  # the daily message purge slot
SYSTEM_SUBJECT = "sys_platform"
_PHONE = re.compile(r"\+?[0-9]{5,20}")
_PHONE_SEPARATORS = re.compile(r"[\s\-()]")
_EMAIL = re.compile(r"[^\s@\x00-\x1f\x7f<>,;\"]{1,64}@[^\s@\x00-\x1f\x7f<>,;\"]{1,253}")
_SUBJECT = re.compile(r"[a-z]{2,5}_[0-9a-z_]{1,34}")
_FINISHED = ("sent", "cancelled")


class MessageNotFound(NotFound):
    """No message has that id."""

    slug = "notify-message-not-found"
    title = "消息不存在"
    title_en = "No such message"


class InvalidRecipient(InvalidInput):
    """The phone number or e-mail address cannot be sent to."""

    slug = "notify-invalid-recipient"
    title = "收件人格式有误"
    title_en = "The recipient is not valid"


# --- channels -------------------------------------------------------------------------------


def sms_sender(runtime: Runtime) -> SmsSender:
    """Return the runtime's SMS sender (built once from the settings)."""
    return runtime.component("notify.sms_sender", _build_sms_sender)


def _build_sms_sender(runtime: Runtime) -> SmsSender:
    sender = build_sms_sender(runtime.settings, runtime.clock)
    close = getattr(sender, "close", None)
    if close is not None:
        runtime.on_close(close)
    return sender


def email_sender(runtime: Runtime) -> EmailSender:
    """Return the runtime's e-mail sender (built once from the settings)."""
    return runtime.component("notify.email_sender", lambda rt: build_email_sender(rt.settings))


# --- sending --------------------------------------------------------------------------------


def _seal(session: Session, subject_id: str, row_id: str, column: str, value: str) -> bytes:
    from qianshu.vault import service as vault_service

    return vault_service.encrypt_field(
        session=session, subject_id=subject_id, table=TABLE, column=column, row_id=row_id, value=value
    )


def _open(session: Session, row: Message, column: str, blob: bytes) -> str:
    from qianshu.vault import service as vault_service

    return vault_service.decrypt_field(
        session=session, subject_id=row.subject_id, table=TABLE, column=column, row_id=row.id, blob=blob
    )


def _check_subject(subject_id: str) -> None:
    if not isinstance(subject_id, str) or not _SUBJECT.fullmatch(subject_id):
        raise InvalidInput("主体编号格式有误", detail_en="The subject id is malformed")


def _clean_phone(phone: str) -> str:
    value = _PHONE_SEPARATORS.sub("", phone or "")
    if not _PHONE.fullmatch(value):
        raise InvalidRecipient("手机号格式有误", detail_en="The phone number is malformed")
    return value


def _clean_email(address: str) -> str:
    value = (address or "").strip()
    if len(value) > 254 or not _EMAIL.fullmatch(value):
        raise InvalidRecipient("邮箱地址格式有误", detail_en="The e-mail address is malformed")
    return value


def render(
    *, session: Session, template: str, channel: Channel, params: dict[str, object], locale: str
) -> RenderedMessage:
    """Render `template` for `channel` with this instance's site name and public URL."""
    settings = runtime_of(session).settings
    return render_message(
        template=template,
        channel=channel,
        locale=locale,
        params=dict(params),
        site_name=settings.site_name,
        base_url=settings.public_base_url,
    )


def _queue(
    session: Session,
    clock: Clock,
    *,
    channel: Channel,
    subject_id: str,
    recipient: str,
    rendered: RenderedMessage,
) -> str:
    from qianshu.jobs import service as jobs_service

    message_id = new_id("msg")
    job_id = jobs_service.enqueue(session=session, clock=clock, kind=DELIVER_JOB, payload={"message_id": message_id})
    row = Message(
        id=message_id,
        channel=channel,
        subject_id=subject_id,
        template=rendered.template,
        locale=rendered.locale,
        recipient_enc=_seal(session, subject_id, message_id, "recipient", recipient),
        subject_enc=_seal(session, subject_id, message_id, "subject", rendered.subject)
        if rendered.subject is not None
        else None,
        body_enc=_seal(session, subject_id, message_id, "body", rendered.body),
        status="queued",
        attempts=0,
        created_at=clock.now(),
        job_id=job_id,  # the job runs once both commit, and finds the message
    )
    session.add(row)
    session.flush()
    log.debug(  # the row is the record; the delivery's outcome is logged at info
        "message_queued",
        message_id=message_id,
        channel=channel,
        template=rendered.template,
        job_id=row.job_id,
    )
    return message_id


def send_sms(
    *,
    session: Session,
    clock: Clock,
    subject_id: str,
    phone: str,
    template: str,
    params: dict[str, object],
    locale: str,
) -> str:
    """Queue a text message to `phone` from `template`; return the message id."""
    _check_subject(subject_id)
    to = _clean_phone(phone)
    rendered = render(session=session, template=template, channel="sms", params=params, locale=locale)
    return _queue(session, clock, channel="sms", subject_id=subject_id, recipient=to, rendered=rendered)


def send_email(
    *,
    session: Session,
    clock: Clock,
    subject_id: str,
    email: str,
    template: str,
    params: dict[str, object],
    locale: str,
) -> str:
    """Queue an e-mail to `email` from `template`; return the message id."""
    _check_subject(subject_id)
    to = _clean_email(email)
    rendered = render(session=session, template=template, channel="email", params=params, locale=locale)
    return _queue(session, clock, channel="email", subject_id=subject_id, recipient=to, rendered=rendered)


# --- delivering -----------------------------------------------------------------------------


def _record_failure(runtime: Runtime, *, message_id: str, attempts: int, at: datetime, error: str) -> None:
    """Note a failed attempt in its own transaction (the job's transaction is rolled back)."""
    final = attempts >= runtime.settings.job_max_attempts
    with runtime.transaction() as s:
        s.execute(
            update(Message)
            .where(Message.id == message_id)
            .values(
                status="failed" if final else "retrying",
                attempts=attempts,
                last_attempt_at=at,
                last_error=error[:300],
            )
        )


def _hand_over(session: Session, clock: Clock, row: Message, recipient: str, body: str) -> str:
    runtime = runtime_of(session)
    if row.channel == "sms":
        reference = sms_sender(runtime).send(message_id=row.id, to=recipient, text=body)
        _register_transfer(session, clock, row, kind="sms_provider", url=runtime.settings.effective_sms_url)
        return reference
    subject = _open(session, row, "subject", row.subject_enc) if row.subject_enc is not None else ""
    message = compose_email(
        message_id=row.id,
        sender=runtime.settings.email_from,
        to=recipient,
        subject=subject,
        body=body,
        date=clock.now(),
    )
    reference = email_sender(runtime).send(message_id=row.id, message=message)
    if runtime.settings.email_backend == "smtp":
        _register_transfer(session, clock, row, kind="email_provider", url=f"smtp://{runtime.settings.smtp_host}")
    return reference


def _register_transfer(session: Session, clock: Clock, row: Message, *, kind: str, url: str) -> None:
    """Record the hand-over in the sharing register (PIPL Art. 23, promise P9) for a person or org."""
    from urllib.parse import urlsplit

    from qianshu.core.ids import is_id
    from qianshu.privacy import service as privacy_service

    if not (is_id(row.subject_id, "usr") or is_id(row.subject_id, "org")):
        return  # not yet anyone's data (e.g. a sign-up code); nobody to show the record to
    host = urlsplit(url).hostname or "unknown"
    privacy_service.record_sharing(
        session=session,
        clock=clock,
        subject_id=row.subject_id,
        recipient=f"{kind.replace('_', ' ')} {host}"[:120],
        fields=["phone" if kind == "sms_provider" else "email", "message_text"],
        purpose="发送通知或验证码 / deliver a notice or one-time code",
        recipient_kind=kind,
        legal_basis="contract",
        object_id=row.id,
    )


def deliver_message(*, session: Session, clock: Clock, message_id: str) -> MessageStatus | None:
    """Hand one queued message to its channel; raise DeliveryError (after recording it) to be retried."""
    from qianshu.vault import service as vault_service

    runtime = runtime_of(session)
    row = session.get(Message, message_id)
    if row is None:
        log.warning("message_missing", message_id=message_id)
        return None
    if row.status in _FINISHED:
        return row.status  # type: ignore[return-value]  # the column holds MessageStatus values
    try:
        recipient = _open(session, row, "recipient", row.recipient_enc)
        body = _open(session, row, "body", row.body_enc)
    except vault_service.DataShredded:
        row.status, row.last_error = "cancelled", "recipient data erased before delivery"
        session.flush()
        log.info("message_cancelled", message_id=message_id)
        return "cancelled"
    now = clock.now()
    attempts = row.attempts + 1
    try:
        reference = _hand_over(session, clock, row, recipient, body)
    except Exception as exc:  # every failure is recorded, then retried by the queue
        failure = exc if isinstance(exc, DeliveryError) else DeliveryError(f"unexpected {type(exc).__name__}")
        _record_failure(runtime, message_id=message_id, attempts=attempts, at=now, error=str(failure))
        log.warning(
            "message_delivery_failed",
            message_id=message_id,
            channel=row.channel,
            attempts=attempts,
            error_type=type(exc).__name__,
        )
        if failure is exc:
            raise
        raise failure from exc
    row.status, row.attempts, row.last_attempt_at, row.sent_at = "sent", attempts, now, now
    row.provider_message_id, row.last_error = reference[:200], None
    session.flush()
    log.info("message_sent", message_id=message_id, channel=row.channel, attempts=attempts)
    return "sent"


# --- reading (operators) --------------------------------------------------------------------


def _read(session: Session, row: Message) -> MessageRead:
    from qianshu.vault import service as vault_service
    from qianshu.vault.masking import mask_email, mask_phone

    try:
        recipient = _open(session, row, "recipient", row.recipient_enc)
        masked, erased = (mask_phone(recipient) if row.channel == "sms" else mask_email(recipient)), False
    except vault_service.DataShredded:
        masked, erased = "", True
    return MessageRead(
        id=row.id,
        channel=row.channel,  # type: ignore[arg-type]  # the column holds Channel values
        template=row.template,
        locale=row.locale,
        recipient=masked,
        recipient_erased=erased,
        status=row.status,  # type: ignore[arg-type]  # the column holds MessageStatus values
        attempts=row.attempts,
        provider_message_id=row.provider_message_id,
        last_error=row.last_error,
        created_at=row.created_at,
        last_attempt_at=row.last_attempt_at,
        sent_at=row.sent_at,
    )


def list_messages(
    *,
    session: Session,
    channel: str | None = None,
    status: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[MessageRead]:
    """Return messages, newest first, with masked recipients (optionally of one channel or status)."""
    q = select(Message).order_by(Message.created_at.desc(), Message.id).limit(max(1, min(limit, 500)))
    if offset > 0:
        q = q.offset(offset)
    if channel:
        q = q.where(Message.channel == channel)
    if status:
        q = q.where(Message.status == status)
    return [_read(session, row) for row in session.scalars(q)]


def get_message(*, session: Session, message_id: str) -> MessageRead | None:
    """Return the message `message_id` (recipient masked), or None."""
    if not is_id(message_id, "msg"):
        return None
    row = session.get(Message, message_id)
    return None if row is None else _read(session, row)


def get_message_or_raise(*, session: Session, message_id: str) -> MessageRead:
    """Return the message `message_id` or raise MessageNotFound."""
    found = get_message(session=session, message_id=message_id)
    if found is None:
        raise MessageNotFound()
    return found


def _plain_body(parsed: EmailMessage) -> str:
    part = parsed.get_body(preferencelist=("plain",))
    if part is None:
        return ""
    content = part.get_content()
    return content if isinstance(content, str) else ""


def read_outbox_email(*, session: Session, clock: Clock, actor: str, message_id: str) -> OutboxEmailRead:
    """Return an e-mail from the outbox folder for an operator to read; the reading is audited."""
    from qianshu.evidence import service as evidence_service
    from qianshu.vault.masking import mask_email

    message = get_message_or_raise(session=session, message_id=message_id)
    path = OutboxEmailSender(folder=runtime_of(session).settings.outbox_dir).path_for(message.id)
    if message.channel != "email" or not path.is_file():
        raise MessageNotFound("发件箱中没有这封邮件", detail_en="This e-mail is not in the outbox folder")
    parsed = message_from_bytes(path.read_bytes(), policy=email_policy.default)
    assert isinstance(parsed, EmailMessage)
    headers = [
        (name, mask_email(str(value)) if name.lower() in ("to", "cc", "bcc") else str(value))
        for name, value in parsed.items()
        if name.lower() in ("message-id", "date", "from", "to", "subject")
    ]
    evidence_service.record_event(
        session=session,
        clock=clock,
        stream="system",
        actor=actor,
        action="notify.outbox_email_read",
        object_id=message.id,
    )
    return OutboxEmailRead(
        message=message,
        file_name=path.name,
        headers=headers,
        subject=str(parsed.get("Subject", "")),
        body=_plain_body(parsed),
    )


# --- retention ------------------------------------------------------------------------------


def purge_messages(*, session: Session, clock: Clock) -> int:
    """Delete finished messages older than the retention period, and their outbox files."""
    settings = runtime_of(session).settings
    cutoff = clock.now() - timedelta(days=settings.message_retention_days)
    ids = list(
        session.scalars(
            select(Message.id).where(Message.created_at < cutoff, Message.status.in_(("sent", "failed", "cancelled")))
        )
    )
    outbox = OutboxEmailSender(folder=settings.outbox_dir)
    for message_id in ids:
        outbox.path_for(message_id).unlink(missing_ok=True)
    if ids:
        session.execute(delete(Message).where(Message.id.in_(ids)))
        session.flush()
    log.info("messages_purged", count=len(ids))
    return len(ids)


def schedule_message_purge(*, session: Session, clock: Clock) -> str:
    """Queue the message purge for the next daily slot (03:30 UTC, once per day); return the job id."""
    from qianshu.jobs.schedules import daily_slot, schedule_once

    run_at = daily_slot(clock.now(), hour=PURGE_HOUR_UTC, minute=PURGE_MINUTE_UTC)
    return schedule_once(
        session=session,
        clock=clock,
        kind=PURGE_JOB,
        payload={},
        run_at=run_at,
        key=f"{PURGE_JOB}:{run_at.date().isoformat()}",
    )


def ensure_schedules(*, runtime: Runtime) -> None:
    """Startup hook: make sure the next message purge is queued."""
    with runtime.transaction() as session:  # race-free when several processes start at once
        schedule_message_purge(session=session, clock=runtime.clock)
