"""send_sms / send_email: sealed rows, a job with only the id, delivery over real HTTP and files, retries."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator
from datetime import timedelta
from email import message_from_bytes
from email import policy as email_policy
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, select

from qianshu.core.clock import FrozenClock
from qianshu.core.errors import InvalidInput
from qianshu.core.logging import configure_logging
from qianshu.core.runtime import Runtime
from qianshu.jobs import service as jobs_service
from qianshu.jobs.models import Job
from qianshu.notify import service as notify_service
from qianshu.notify.messages import BadTemplateParams, UnknownTemplate
from qianshu.notify.schemas import MessageRead
from tests.notify.conftest import CODE, EMAIL, PHONE
from tests.support.sandbox import SmsSandbox

OTP = {"code": CODE, "minutes": 5}


def send_sms(runtime: Runtime, **kw: Any) -> str:
    args: dict[str, Any] = {
        "subject_id": "sys_platform",
        "phone": PHONE,
        "template": "otp_login",
        "params": OTP,
        "locale": "zh-CN",
    }
    args.update(kw)
    with runtime.transaction() as s:
        return notify_service.send_sms(session=s, clock=runtime.clock, **args)


def send_email(runtime: Runtime, **kw: Any) -> str:
    args: dict[str, Any] = {
        "subject_id": "sys_platform",
        "email": EMAIL,
        "template": "otp_register",
        "params": OTP,
        "locale": "zh-CN",
    }
    args.update(kw)
    with runtime.transaction() as s:
        return notify_service.send_email(session=s, clock=runtime.clock, **args)


def message(runtime: Runtime, message_id: str) -> MessageRead:
    with runtime.transaction() as s:
        return notify_service.get_message_or_raise(session=s, message_id=message_id)


def deliver_jobs(runtime: Runtime) -> list[Job]:
    with runtime.transaction() as s:
        return [j for j in jobs_service.list_jobs(session=s) if j.kind == notify_service.DELIVER_JOB]


# --- SMS ------------------------------------------------------------------------------------


def test_sms_goes_through_the_queue_to_the_sandbox_over_http(
    runtime: Runtime, run_jobs: Callable[[], int], sms_sandbox: SmsSandbox
) -> None:
    message_id = send_sms(runtime)
    [job] = deliver_jobs(runtime)
    assert job.payload == {"message_id": message_id}
    assert message(runtime, message_id).status == "queued"
    assert sms_sandbox.messages(PHONE) == []  # nothing leaves before the job runs
    assert run_jobs() >= 1
    [received] = sms_sandbox.messages(PHONE)
    assert received["message_id"] == message_id
    assert received["text"].startswith("【签署 Qianshu】") and "登录" in received["text"]
    assert sms_sandbox.latest_code(PHONE) == CODE
    sent = message(runtime, message_id)
    assert sent.status == "sent" and sent.attempts == 1 and sent.provider_message_id == received["id"]
    assert sent.sent_at == runtime.clock.now() and sent.recipient == "138****5678"
    assert deliver_jobs(runtime)[0].status == "done"


def test_each_sms_to_a_person_is_in_their_sharing_register(
    runtime: Runtime, run_jobs: Callable[[], int], sms_sandbox: SmsSandbox
) -> None:
    from qianshu.core.ids import new_id
    from qianshu.privacy import service as privacy_service
    from qianshu.vault import service as vault_service

    user_id = new_id("usr")
    with runtime.transaction() as s:
        vault_service.ensure_data_key(session=s, subject_id=user_id)
    message_id = send_sms(runtime, subject_id=user_id)
    send_sms(runtime)  # a sign-up code to nobody's account yet: no register row for anyone
    run_jobs()
    with runtime.transaction() as s:
        [shared] = privacy_service.list_sharing(session=s, subject_id=user_id)
    assert shared.recipient_kind == "sms_provider"
    assert shared.object_id == message_id
    assert set(shared.fields) == {"phone", "message_text"}


def test_sms_in_english(runtime: Runtime, run_jobs: Callable[[], int], sms_sandbox: SmsSandbox) -> None:
    send_sms(runtime, template="otp_reset", locale="en-US")
    run_jobs()
    [text] = sms_sandbox.texts(PHONE)
    assert "reset your password" in text and CODE in text


def test_a_delivered_message_is_not_sent_twice(
    runtime: Runtime, run_jobs: Callable[[], int], sms_sandbox: SmsSandbox
) -> None:
    message_id = send_sms(runtime)
    run_jobs()
    with runtime.transaction() as s:  # a duplicate run of the job (say, after a lost lease)
        assert notify_service.deliver_message(session=s, clock=runtime.clock, message_id=message_id) == "sent"
    assert len(sms_sandbox.messages(PHONE)) == 1 and message(runtime, message_id).attempts == 1


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"template": "otp_nope"}, UnknownTemplate),
        ({"params": {"code": CODE}}, BadTemplateParams),
        ({"phone": "call me maybe"}, notify_service.InvalidRecipient),
        ({"phone": ""}, notify_service.InvalidRecipient),
        ({"subject_id": "../etc"}, InvalidInput),
    ],
)
def test_bad_input_is_refused_and_nothing_is_queued(
    runtime: Runtime, change: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        send_sms(runtime, **change)
    assert deliver_jobs(runtime) == []
    with runtime.transaction() as s:
        assert notify_service.list_messages(session=s) == []


@pytest.mark.parametrize(
    "address", ["no-at-sign", "a@b@c", "two words@example.com", "x@y\r\nBcc: z@example.com"]
)
def test_bad_email_addresses_are_refused(runtime: Runtime, address: str) -> None:
    with pytest.raises(notify_service.InvalidRecipient):
        send_email(runtime, email=address)


class TestProviderDown:
    """The provider's port is closed: the job is retried with backoff, then dead-lettered."""

    @pytest.fixture
    def settings_overrides(self, closed_port: int) -> dict[str, Any]:
        return {"sms_url": f"http://127.0.0.1:{closed_port}/sandbox/sms", "job_max_attempts": 3}

    def test_retried_with_backoff_then_dead(
        self, runtime: Runtime, clock: FrozenClock, run_jobs: Callable[[], int]
    ) -> None:
        message_id = send_sms(runtime)
        run_jobs()
        [job] = deliver_jobs(runtime)
        assert (job.status, job.attempts) == ("queued", 1)
        assert job.run_after == clock.now() + jobs_service.backoff(1)
        assert "unreachable" in (job.last_error or "") and PHONE not in (job.last_error or "")
        first = message(runtime, message_id)
        assert (first.status, first.attempts, first.sent_at) == ("retrying", 1, None)
        assert first.last_error is not None and "unreachable" in first.last_error

        run_jobs()  # not due yet
        assert deliver_jobs(runtime)[0].attempts == 1
        clock.advance(jobs_service.backoff(1) - timedelta(seconds=1))
        run_jobs()
        assert deliver_jobs(runtime)[0].attempts == 1
        clock.advance(timedelta(seconds=1))
        run_jobs()
        assert deliver_jobs(runtime)[0].attempts == 2
        assert (message(runtime, message_id).status, message(runtime, message_id).attempts) == ("retrying", 2)

        clock.advance(jobs_service.backoff(2))
        run_jobs()
        [job] = deliver_jobs(runtime)
        assert (job.status, job.attempts) == ("dead", 3)
        last = message(runtime, message_id)
        assert (last.status, last.attempts, last.last_attempt_at) == ("failed", 3, clock.now())

        clock.advance(timedelta(days=1))
        run_jobs()  # a dead job stays dead
        assert deliver_jobs(runtime)[0].attempts == 3 and message(runtime, message_id).attempts == 3


class TestWrongSecret:
    """The platform signs with a secret the provider does not share: 401, retried, never delivered."""

    @pytest.fixture
    def settings_overrides(self, sms_sandbox: SmsSandbox) -> dict[str, Any]:
        return {"sms_url": sms_sandbox.url, "sms_hmac_secret": "not-the-sandbox-secret"}

    def test_rejected_and_retried(
        self, runtime: Runtime, run_jobs: Callable[[], int], sms_sandbox: SmsSandbox
    ) -> None:
        message_id = send_sms(runtime)
        run_jobs()
        assert sms_sandbox.messages() == []
        failed = message(runtime, message_id)
        assert failed.status == "retrying" and failed.last_error == "SMS provider answered HTTP 401"


# --- e-mail ---------------------------------------------------------------------------------


def test_email_is_written_to_the_outbox_folder(runtime: Runtime, run_jobs: Callable[[], int]) -> None:
    message_id = send_email(runtime)
    folder = runtime.settings.outbox_dir
    assert list(folder.iterdir()) == []
    run_jobs()
    path = folder / f"{message_id}.eml"
    parsed = message_from_bytes(path.read_bytes(), policy=email_policy.default)
    assert parsed["To"] == EMAIL and parsed["From"] == runtime.settings.email_from
    assert parsed["Subject"] == "签署 Qianshu：注册验证码"
    assert CODE in parsed.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    sent = message(runtime, message_id)
    assert (
        sent.status == "sent"
        and sent.provider_message_id == path.name
        and sent.recipient == "z***@example.com"
    )


# --- what is stored -------------------------------------------------------------------------


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging("DEBUG", stream=stream)
    try:
        yield stream
    finally:
        root.handlers, root.level = saved_handlers, saved_level


def _database_files(runtime: Runtime) -> list[Path]:
    url = runtime.settings.effective_database_url
    if not url.startswith("sqlite:///"):
        return []
    db = Path(url.removeprefix("sqlite:///"))
    return [p for p in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-journal")) if p.exists()]


def test_no_phone_email_or_code_in_the_database_or_logs(
    runtime: Runtime, run_jobs: Callable[[], int], sms_sandbox: SmsSandbox, captured_logs: io.StringIO
) -> None:
    send_sms(runtime)
    send_email(runtime)
    send_sms(
        runtime, subject_id="usr_0123456789abcdefghjk", template="account_locked", params={"minutes": 15}
    )
    run_jobs()
    assert sms_sandbox.latest_code(PHONE) == CODE  # the code did go out
    needles = [PHONE.encode(), EMAIL.encode(), CODE.encode(), b"138****5678"]
    files = _database_files(runtime)
    if runtime.settings.effective_database_url.startswith("sqlite"):
        assert files
    for path in files:
        raw = path.read_bytes()
        for needle in needles:
            assert needle not in raw, (path.name, needle)
    metadata = MetaData()
    with runtime.engine.connect() as conn:
        metadata.reflect(conn)
        for table in metadata.sorted_tables:
            for row in conn.execute(select(table)):
                for value in row:
                    raw = bytes(value) if isinstance(value, bytes | memoryview) else str(value).encode()
                    for needle in needles:
                        assert needle not in raw, (table.name, needle)
    logs = captured_logs.getvalue()
    assert "message_sent" in logs
    for needle in needles:
        assert needle.decode() not in logs


def test_shredded_recipient_cancels_delivery(
    runtime: Runtime, run_jobs: Callable[[], int], sms_sandbox: SmsSandbox
) -> None:
    from qianshu.vault import service as vault_service

    subject = "usr_0123456789abcdefghjk"
    message_id = send_sms(runtime, subject_id=subject)
    with runtime.transaction() as s:
        vault_service.destroy_data_key(session=s, clock=runtime.clock, subject_id=subject)
    run_jobs()
    assert sms_sandbox.messages() == []
    cancelled = message(runtime, message_id)
    assert cancelled.status == "cancelled" and cancelled.recipient_erased and cancelled.recipient == ""
    assert deliver_jobs(runtime)[0].status == "done"


# --- listing and retention ------------------------------------------------------------------


def test_list_messages_newest_first_with_filters(runtime: Runtime, clock: FrozenClock) -> None:
    first = send_sms(runtime)
    clock.advance(timedelta(seconds=1))
    second = send_email(runtime)
    with runtime.transaction() as s:
        assert [m.id for m in notify_service.list_messages(session=s)] == [second, first]
        assert [m.id for m in notify_service.list_messages(session=s, channel="sms")] == [first]
        assert [m.id for m in notify_service.list_messages(session=s, status="sent")] == []
        assert [m.id for m in notify_service.list_messages(session=s, limit=1, offset=1)] == [first]
        assert notify_service.get_message(session=s, message_id="msg_../../etc") is None


def test_purge_removes_old_finished_messages_and_their_files(
    runtime: Runtime, clock: FrozenClock, run_jobs: Callable[[], int]
) -> None:
    old = send_email(runtime)
    run_jobs()
    clock.advance(timedelta(days=runtime.settings.message_retention_days + 1))
    queued = send_email(runtime)  # not delivered yet: kept
    with runtime.transaction() as s:
        assert notify_service.purge_messages(session=s, clock=clock) == 1
    assert not (runtime.settings.outbox_dir / f"{old}.eml").exists()
    with runtime.transaction() as s:
        assert [m.id for m in notify_service.list_messages(session=s)] == [queued]


def test_purge_schedule_runs_daily(runtime: Runtime, clock: FrozenClock, run_jobs: Callable[[], int]) -> None:
    notify_service.ensure_schedules(runtime=runtime)
    notify_service.ensure_schedules(runtime=runtime)  # idempotent
    with runtime.transaction() as s:
        purges = [j for j in jobs_service.list_jobs(session=s) if j.kind == notify_service.PURGE_JOB]
    assert len(purges) == 1 and purges[0].run_after.hour == 3 and purges[0].run_after > clock.now()
    clock.advance(timedelta(days=1))
    run_jobs()
    with runtime.transaction() as s:
        purges = [j for j in jobs_service.list_jobs(session=s) if j.kind == notify_service.PURGE_JOB]
    assert sorted(j.status for j in purges) == ["done", "queued"]


class TestSmtpBackend:
    """`email_backend = "smtp"`: the job hands the e-mail to a real SMTP server."""

    @pytest.fixture
    def settings_overrides(self, smtp_server: Any, sms_sandbox: SmsSandbox) -> dict[str, Any]:
        return {
            "email_backend": "smtp",
            "smtp_host": smtp_server.host,
            "smtp_port": smtp_server.port,
            "sms_url": sms_sandbox.url,
        }

    def test_email_is_delivered_by_smtp(
        self, runtime: Runtime, run_jobs: Callable[[], int], smtp_server: Any
    ) -> None:
        message_id = send_email(runtime, template="policy_updated", params={"version": "2.0"}, locale="en")
        assert smtp_server.received == []
        run_jobs()
        [got] = smtp_server.received
        assert got["to"] == [EMAIL] and got["from"] == runtime.settings.email_from
        parsed = message_from_bytes(got["content"], policy=email_policy.default)
        assert parsed["Subject"] == "签署 Qianshu: our privacy policy changed (version 2.0)"
        assert "http://testserver/privacy" in parsed.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        sent = message(runtime, message_id)
        assert sent.status == "sent" and sent.provider_message_id == parsed["Message-ID"]
        assert list(runtime.settings.outbox_dir.iterdir()) == []  # nothing written to the outbox


class TestSmtpDown:
    """The SMTP server's port is closed: the e-mail job is retried."""

    @pytest.fixture
    def settings_overrides(self, closed_port: int) -> dict[str, Any]:
        return {"email_backend": "smtp", "smtp_host": "127.0.0.1", "smtp_port": closed_port}

    def test_retried(self, runtime: Runtime, run_jobs: Callable[[], int]) -> None:
        message_id = send_email(runtime)
        run_jobs()
        failed = message(runtime, message_id)
        assert failed.status == "retrying" and failed.last_error and EMAIL not in failed.last_error
        assert deliver_jobs(runtime)[0].status == "queued"
