"""Pages: the operators' outbox (masked list, audited e-mail reading) and the sandbox SMS inbox."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from qianshu.core.runtime import Runtime
from qianshu.notify import service as notify_service
from tests.notify.conftest import CODE, EMAIL, PHONE
from tests.notify.test_service import send_email, send_sms
from tests.support.sandbox import SmsSandbox

HTML = {"accept": "text/html"}


def test_outbox_sends_strangers_to_login(client: Any) -> None:
    r = client.get("/operator/outbox", headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Foperator%2Foutbox"


def test_outbox_is_for_operators_only(
    client: Any, runtime: Runtime, run_jobs: Callable[[], int], sms_sandbox: SmsSandbox
) -> None:
    """A person who signed up (code read from the sandbox over HTTP) is not an operator: 403."""
    from qianshu.accounts import service as accounts_service
    from qianshu.core.security import SESSION_COOKIE

    with runtime.transaction() as s:
        accounts_service.start_registration(session=s, clock=runtime.clock, phone=PHONE)
    run_jobs()
    with runtime.transaction() as s:
        version = accounts_service.current_policy_version(session=s)
        new = accounts_service.complete_registration(
            session=s,
            clock=runtime.clock,
            phone=PHONE,
            code=sms_sandbox.latest_code(PHONE),
            password="Notify-person-2026!",
            accept_policy_version=version,
        )
    client.cookies.set(SESSION_COOKIE, new.token)
    assert client.get("/operator/outbox", headers=HTML).status_code == 403
    assert client.get("/api/v1/operator/messages").status_code == 403


def test_outbox_lists_messages_with_masked_recipients(
    operator_client: Any, runtime: Runtime, run_jobs: Callable[[], int], sms_sandbox: SmsSandbox
) -> None:
    sms_id = send_sms(runtime)
    mail_id = send_email(runtime)
    run_jobs()
    r = operator_client.get("/operator/outbox", headers=HTML)
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    assert f'id="message-{sms_id}"' in r.text and f'id="message-{mail_id}"' in r.text
    assert "138****5678" in r.text and "z***@example.com" in r.text
    for needle in (PHONE, EMAIL, CODE):
        assert needle not in r.text
    assert "已发送" in r.text
    only_sms = operator_client.get("/operator/outbox", params={"channel": "sms"}, headers=HTML).text
    assert f'id="message-{sms_id}"' in only_sms and f'id="message-{mail_id}"' not in only_sms
    nothing = operator_client.get("/operator/outbox", params={"status": "failed"}, headers=HTML).text
    assert 'id="no-messages"' in nothing
    junk = operator_client.get("/operator/outbox", params={"channel": "<x>", "status": "?"}, headers=HTML)
    assert junk.status_code == 200 and f'id="message-{sms_id}"' in junk.text


def test_outbox_in_english(operator_client: Any, runtime: Runtime) -> None:
    send_email(runtime)
    r = operator_client.get("/operator/outbox", params={"lang": "en"}, headers=HTML)
    assert "Message outbox" in r.text and "Queued" in r.text and "Sign-up code" in r.text


def test_operator_reads_an_outbox_email_and_the_reading_is_audited(
    operator_client: Any, runtime: Runtime, run_jobs: Callable[[], int]
) -> None:
    from qianshu.evidence.models import AuditEvent  # test-only peek at the audit table

    mail_id = send_email(runtime)
    run_jobs()
    r = operator_client.get(f"/operator/outbox/{mail_id}", headers=HTML)
    assert r.status_code == 200
    assert 'id="email-body"' in r.text and CODE in r.text and "z***@example.com" in r.text
    assert EMAIL not in r.text
    with runtime.transaction() as s:
        from sqlalchemy import select

        actions = list(s.scalars(select(AuditEvent.action).where(AuditEvent.object_id == mail_id)))
    assert actions == ["notify.outbox_email_read"]


def test_sms_detail_shows_no_text(
    operator_client: Any, runtime: Runtime, run_jobs: Callable[[], int], sms_sandbox: SmsSandbox
) -> None:
    sms_id = send_sms(runtime)
    run_jobs()
    r = operator_client.get(f"/operator/outbox/{sms_id}", headers=HTML)
    assert r.status_code == 200 and "138****5678" in r.text
    assert CODE not in r.text and 'id="email-body"' not in r.text


def test_undelivered_email_detail_says_it_is_not_in_the_outbox(
    operator_client: Any, runtime: Runtime
) -> None:
    mail_id = send_email(runtime)
    r = operator_client.get(f"/operator/outbox/{mail_id}", headers=HTML)
    assert r.status_code == 200 and 'id="email-missing"' in r.text


@pytest.mark.parametrize("bad", ["msg_doesnotexist000000000", "..%2F..%2Fetc%2Fpasswd", "x" * 300])
def test_unknown_message_is_a_404_page(operator_client: Any, bad: str) -> None:
    r = operator_client.get(f"/operator/outbox/{bad}", headers=HTML)
    assert r.status_code == 404 and "text/html" in r.headers["content-type"]


def test_sandbox_page_lists_what_the_provider_received(
    client: Any, runtime: Runtime, run_jobs: Callable[[], int], sms_sandbox: SmsSandbox
) -> None:
    send_sms(runtime)
    send_sms(runtime, phone="13900000000", params={"code": "111222", "minutes": 5})
    run_jobs()
    page = client.get("/sandbox/sms", headers=HTML)  # read from the standalone sandbox over HTTP
    assert page.status_code == 200
    assert PHONE in page.text and CODE in page.text and "111222" in page.text
    assert page.text.index(PHONE) < page.text.index(CODE)  # the number comes before its text
    mine = client.get("/sandbox/sms", params={"phone": PHONE}, headers=HTML).text
    assert CODE in mine and "111222" not in mine


class TestMountedSandboxPage:
    """SMS to this very server's sandbox (the default): the page reads the local inbox."""

    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {}

    def test_reads_the_local_inbox(self, client: Any, runtime: Runtime) -> None:
        import json

        from qianshu.notify.providers import sign_request
        from qianshu.notify.sandbox import local_provider

        body = json.dumps({"message_id": "m1", "to": PHONE, "text": f"code {CODE}"}).encode()
        ts = str(int(runtime.clock.now().timestamp()))
        local_provider(runtime).accept(
            body=body, timestamp=ts, signature=sign_request(secret=b"sandbox-secret", timestamp=ts, body=body)
        )
        page = client.get("/sandbox/sms", headers=HTML)
        assert page.status_code == 200 and CODE in page.text
        assert client.get("/sandbox/sms", params={"phone": "13900000000"}, headers=HTML).text.count(CODE) == 0


class TestUnreachableSandboxPage:
    """The configured standalone sandbox is down: the page says so instead of failing."""

    @pytest.fixture
    def settings_overrides(self, closed_port: int) -> dict[str, Any]:
        return {"sms_url": f"http://127.0.0.1:{closed_port}/sandbox/sms"}

    def test_shows_a_notice(self, client: Any) -> None:
        page = client.get("/sandbox/sms", headers=HTML)
        assert page.status_code == 200 and "暂时无法连接沙盒短信服务" in page.text


def test_operator_api_lists_masked_messages(
    operator_client: Any, client: Any, runtime: Runtime, sms_sandbox: SmsSandbox
) -> None:
    sms_id = send_sms(runtime)
    r = operator_client.get("/api/v1/operator/messages")
    assert r.status_code == 200
    [item] = r.json()
    assert item["id"] == sms_id and item["recipient"] == "138****5678" and item["status"] == "queued"
    assert operator_client.get(f"/api/v1/operator/messages/{sms_id}").json()["id"] == sms_id
    assert operator_client.get("/api/v1/operator/messages/msg_nope").status_code == 404
    assert operator_client.get("/api/v1/operator/messages", params={"channel": "fax"}).status_code == 422
    # an offset past any integer the database holds is refused as input, not a 500 from the driver
    huge = operator_client.get("/api/v1/operator/messages", params={"offset": 2**65})
    assert huge.status_code == 422 and huge.headers["content-type"].startswith("application/problem+json")


def test_operator_api_refuses_strangers(client: Any) -> None:
    assert client.get("/api/v1/operator/messages").status_code == 401
    with_bad_token = client.get("/api/v1/operator/messages", headers={"authorization": "Bearer nope"})
    assert with_bad_token.status_code == 401


def test_list_messages_is_the_service_the_pages_use(runtime: Runtime) -> None:
    send_sms(runtime)
    with runtime.transaction() as s:
        assert len(notify_service.list_messages(session=s)) == 1
