"""Channel adapters: each backend meets its Protocol; HMAC signing; real HTTP, files and SMTP."""

from __future__ import annotations

import json
import stat
from datetime import timedelta
from email import message_from_bytes
from email import policy as email_policy
from pathlib import Path
from typing import Any

import httpx
import pytest

from qianshu.config import Settings
from qianshu.core.clock import FrozenClock
from qianshu.notify.messages import compose_email
from qianshu.notify.providers import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    DeliveryError,
    EmailSender,
    HttpSmsSender,
    OutboxEmailSender,
    SignatureRejected,
    SmsSender,
    SmtpEmailSender,
    build_email_sender,
    build_sms_sender,
    sign_request,
    verify_request,
)
from tests.notify.conftest import CODE, EMAIL, PHONE, SmtpCatcher
from tests.support.sandbox import DEFAULT_SECRET, SmsSandbox

SECRET = DEFAULT_SECRET.encode()


def _sender(sandbox: SmsSandbox, clock: FrozenClock, secret: bytes = SECRET) -> HttpSmsSender:
    return HttpSmsSender(url=sandbox.url, secret=secret, clock=clock, timeout=5)


def _signed(clock: FrozenClock, body: bytes, secret: bytes = SECRET, skew: int = 0) -> dict[str, str]:
    ts = str(int(clock.now().timestamp()) + skew)
    return {
        "content-type": "application/json",
        TIMESTAMP_HEADER: ts,
        SIGNATURE_HEADER: sign_request(secret=secret, timestamp=ts, body=body),
    }


# --- protocols and backend choice ---------------------------------------------------------


def test_every_backend_meets_its_protocol(tmp_path: Path, clock: FrozenClock) -> None:
    assert isinstance(HttpSmsSender(url="http://127.0.0.1:1/sms", secret=b"k", clock=clock), SmsSender)
    assert isinstance(OutboxEmailSender(folder=tmp_path), EmailSender)
    assert isinstance(SmtpEmailSender(host="127.0.0.1", port=25), EmailSender)


def test_settings_choose_the_backend(tmp_path: Path, clock: FrozenClock) -> None:
    sandbox = build_sms_sender(Settings(data_dir=tmp_path, public_base_url="http://example.test"), clock)
    assert isinstance(sandbox, HttpSmsSender) and sandbox.url == "http://example.test/sandbox/sms"
    http = build_sms_sender(Settings(data_dir=tmp_path, sms_backend="http", sms_url="https://sms.example/v1"), clock)
    assert isinstance(http, HttpSmsSender) and http.url == "https://sms.example/v1"
    with pytest.raises(ValueError, match="QIANSHU_SMS_URL"):
        build_sms_sender(Settings(data_dir=tmp_path, sms_backend="http"), clock)
    with pytest.raises(ValueError, match="unknown"):
        build_sms_sender(Settings(data_dir=tmp_path, sms_backend="carrier-pigeon"), clock)
    assert isinstance(build_email_sender(Settings(data_dir=tmp_path)), OutboxEmailSender)
    assert isinstance(build_email_sender(Settings(data_dir=tmp_path, email_backend="smtp")), SmtpEmailSender)
    with pytest.raises(ValueError, match="unknown"):
        build_email_sender(Settings(data_dir=tmp_path, email_backend="fax"))


# --- signing --------------------------------------------------------------------------------


def test_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    # RFC 4231 test case 2 key and a fixed message: the construction is HMAC-SHA256(key, ts "." body).
    import hashlib
    import hmac

    expected = hmac.new(b"Jefe", b"1767578400.{}", hashlib.sha256).hexdigest()
    assert sign_request(secret=b"Jefe", timestamp="1767578400", body=b"{}") == expected


@pytest.mark.parametrize(
    ("timestamp", "signature", "skew"),
    [
        (None, "0" * 64, 0),
        ("1767578400", None, 0),
        ("17675784x0", "0" * 64, 0),
        ("1767578400", "zz", 0),
        ("1767578400", "0" * 64, 0),  # wrong HMAC
        ("GOOD", "GOOD", 301),  # correct HMAC, too old
        ("GOOD", "GOOD", -301),  # correct HMAC, from the future
    ],
)
def test_verify_refuses_bad_signatures(
    clock: FrozenClock, timestamp: str | None, signature: str | None, skew: int
) -> None:
    body = b'{"to":"13812345678"}'
    now = clock.now()
    if timestamp == "GOOD":
        timestamp = str(int(now.timestamp()) - skew)
        signature = sign_request(secret=SECRET, timestamp=timestamp, body=body)
    with pytest.raises(SignatureRejected) as err:
        verify_request(
            secret=SECRET, timestamp=timestamp, signature=signature, body=body, now=now, max_skew_seconds=300
        )
    assert err.value.status == 401


def test_verify_accepts_a_fresh_signature_in_upper_case(clock: FrozenClock) -> None:
    ts = str(int(clock.now().timestamp()) - 299)
    sig = sign_request(secret=SECRET, timestamp=ts, body=b"x").upper()
    verify_request(secret=SECRET, timestamp=ts, signature=sig, body=b"x", now=clock.now(), max_skew_seconds=300)


# --- SMS over real HTTP ---------------------------------------------------------------------


def test_http_sender_delivers_to_the_sandbox_over_http(sms_sandbox: SmsSandbox, clock: FrozenClock) -> None:
    provider_id = _sender(sms_sandbox, clock).send(message_id="msg_1", to=PHONE, text=f"验证码 {CODE}")
    inbox = sms_sandbox.messages(PHONE)
    assert [m["id"] for m in inbox] == [provider_id]
    assert inbox[0]["message_id"] == "msg_1" and inbox[0]["text"] == f"验证码 {CODE}"
    assert sms_sandbox.latest_code(PHONE) == CODE


def test_sandbox_rejects_a_wrong_secret_with_401(sms_sandbox: SmsSandbox, clock: FrozenClock) -> None:
    with pytest.raises(DeliveryError, match="HTTP 401"):
        _sender(sms_sandbox, clock, secret=b"not-the-secret").send(message_id="msg_1", to=PHONE, text="hi")
    assert sms_sandbox.messages() == []


def test_sandbox_rejects_bad_and_stale_signatures_over_http(sms_sandbox: SmsSandbox, clock: FrozenClock) -> None:
    body = json.dumps({"message_id": "msg_1", "to": PHONE, "text": "hi"}).encode()
    cases = [
        {"content-type": "application/json"},  # unsigned
        _signed(clock, body, secret=b"wrong"),
        _signed(clock, body, skew=-301),
        _signed(clock, body + b" "),  # signed a different body
    ]
    for headers in cases:
        r = httpx.post(sms_sandbox.url, content=body, headers=headers)
        assert r.status_code == 401, headers
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["type"].endswith("/sms-signature-rejected")
    assert sms_sandbox.messages() == []


def test_sandbox_refuses_signed_garbage_with_4xx(sms_sandbox: SmsSandbox, clock: FrozenClock) -> None:
    not_json = b"{not json"
    r = httpx.post(sms_sandbox.url, content=not_json, headers=_signed(clock, not_json))
    assert r.status_code == 400
    bad_phone = json.dumps({"message_id": "m", "to": "call me", "text": "hi"}).encode()
    r = httpx.post(sms_sandbox.url, content=bad_phone, headers=_signed(clock, bad_phone))
    assert r.status_code == 422 and "to" in r.json()["detail"]
    assert sms_sandbox.messages() == []


def test_sandbox_keeps_one_copy_of_a_retried_message(sms_sandbox: SmsSandbox, clock: FrozenClock) -> None:
    sender = _sender(sms_sandbox, clock)
    first = sender.send(message_id="msg_same", to=PHONE, text="one")
    clock.advance(timedelta(seconds=30))
    assert sender.send(message_id="msg_same", to=PHONE, text="one") == first
    assert len(sms_sandbox.messages()) == 1


def test_sandbox_inbox_is_bounded_and_filters_by_phone(sms_sandbox: SmsSandbox, clock: FrozenClock) -> None:
    from qianshu.notify.sandbox import SandboxSmsProvider

    small = SandboxSmsProvider(secret=SECRET, clock=clock, capacity=3)
    for i in range(5):
        body = json.dumps(
            {"message_id": f"m{i}", "to": "+8613812345678" if i % 2 else "13900000000", "text": str(i)}
        ).encode()
        headers = _signed(clock, body)
        small.accept(body=body, timestamp=headers[TIMESTAMP_HEADER], signature=headers[SIGNATURE_HEADER])
    assert [m.text for m in small.messages()] == ["4", "3", "2"]
    assert [m.text for m in small.messages(phone="13812345678")] == ["3"]
    assert small.messages(phone="13812345678")[0].to == "13812345678"

    def resend(i: int) -> str:
        body = json.dumps({"message_id": f"m{i}", "to": "13900000000", "text": str(i)}).encode()
        headers = _signed(clock, body)
        return small.accept(body=body, timestamp=headers[TIMESTAMP_HEADER], signature=headers[SIGNATURE_HEADER]).id

    assert resend(4) == small.messages()[0].id  # still in the inbox: the same message
    assert [m.text for m in small.messages()] == ["4", "3", "2"]
    first_two = small.messages()[2].id
    resend(0)  # dropped out of the inbox long ago: received anew, pushing out the oldest
    assert [m.text for m in small.messages()] == ["0", "4", "3"]
    assert resend(2) != first_two  # "2" left with that push: a new message, not the old one
    assert [m.text for m in small.messages()] == ["2", "0", "4"]


def test_provider_down_is_a_delivery_error_naming_no_recipient(closed_port: int, clock: FrozenClock) -> None:
    sender = HttpSmsSender(url=f"http://127.0.0.1:{closed_port}/sandbox/sms", secret=SECRET, clock=clock, timeout=2)
    with pytest.raises(DeliveryError) as err:
        sender.send(message_id="msg_1", to=PHONE, text=CODE)
    assert "unreachable" in str(err.value) and PHONE not in str(err.value) and CODE not in str(err.value)


def test_provider_reply_without_an_id_is_a_delivery_error(clock: FrozenClock) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={"ok": True}))
    sender = HttpSmsSender(url="http://sms.test/send", secret=SECRET, clock=clock, transport=transport)
    with pytest.raises(DeliveryError, match="no valid message id"):
        sender.send(message_id="msg_1", to=PHONE, text="hi")


def test_http_sender_signs_what_it_sends(clock: FrozenClock) -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202, json={"id": "prov-1"})

    sender = HttpSmsSender(
        url="https://sms.test/send", secret=SECRET, clock=clock, transport=httpx.MockTransport(handle)
    )
    assert sender.send(message_id="msg_1", to=PHONE, text="你好") == "prov-1"
    request = seen[0]
    assert request.headers[TIMESTAMP_HEADER] == str(int(clock.now().timestamp()))
    verify_request(
        secret=SECRET,
        timestamp=request.headers[TIMESTAMP_HEADER],
        signature=request.headers[SIGNATURE_HEADER],
        body=request.content,
        now=clock.now(),
        max_skew_seconds=0,
    )
    assert json.loads(request.content) == {"message_id": "msg_1", "to": PHONE, "text": "你好"}


# --- e-mail ---------------------------------------------------------------------------------


def _mail(clock: FrozenClock, to: str = EMAIL) -> Any:
    return compose_email(
        message_id="msg_mail",
        sender="noreply@qianshu.local",
        to=to,
        subject="签署：登录验证码",
        body=f"验证码 {CODE}",
        date=clock.now(),
    )


def test_outbox_writes_a_private_eml_file(tmp_path: Path, clock: FrozenClock) -> None:
    outbox = OutboxEmailSender(folder=tmp_path / "outbox")
    assert outbox.send(message_id="msg_mail", message=_mail(clock)) == "msg_mail.eml"
    path = tmp_path / "outbox" / "msg_mail.eml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    parsed = message_from_bytes(path.read_bytes(), policy=email_policy.default)
    assert parsed["To"] == EMAIL and CODE in parsed.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert [p.name for p in (tmp_path / "outbox").iterdir()] == ["msg_mail.eml"]


def test_outbox_that_cannot_be_written_is_a_delivery_error(tmp_path: Path, clock: FrozenClock) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(DeliveryError, match="outbox"):
        OutboxEmailSender(folder=blocker).send(message_id="msg_mail", message=_mail(clock))


def test_smtp_sender_delivers_to_a_real_smtp_server(smtp_server: SmtpCatcher, clock: FrozenClock) -> None:
    sender = SmtpEmailSender(host=smtp_server.host, port=smtp_server.port, timeout=5)
    assert sender.send(message_id="msg_mail", message=_mail(clock)) == "<msg_mail@qianshu.local>"
    [got] = smtp_server.received
    assert got["from"] == "noreply@qianshu.local" and got["to"] == [EMAIL]
    parsed = message_from_bytes(got["content"], policy=email_policy.default)
    assert parsed["Subject"] == "签署：登录验证码" and CODE in parsed.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_smtp_sender_logs_in_when_configured(smtp_server: SmtpCatcher, clock: FrozenClock) -> None:
    good = SmtpEmailSender(host=smtp_server.host, port=smtp_server.port, username="mailer", password="s3cret")
    good.send(message_id="msg_mail", message=_mail(clock))
    assert smtp_server.logins == ["mailer"] and len(smtp_server.received) == 1
    bad = SmtpEmailSender(host=smtp_server.host, port=smtp_server.port, username="mailer", password="wrong")
    with pytest.raises(DeliveryError, match="535"):
        bad.send(message_id="msg_mail", message=_mail(clock))
    assert len(smtp_server.received) == 1


def test_smtp_down_is_a_delivery_error_naming_no_recipient(closed_port: int, clock: FrozenClock) -> None:
    with pytest.raises(DeliveryError) as err:
        SmtpEmailSender(host="127.0.0.1", port=closed_port, timeout=2).send(message_id="m", message=_mail(clock))
    assert EMAIL not in str(err.value)
