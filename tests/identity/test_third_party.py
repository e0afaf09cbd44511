"""`check_name_and_id`: someone else's name + ID number through the provider adapter (sandbox over HTTP)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from qianshu.core.errors import RateLimited
from qianshu.core.ids import new_id
from qianshu.core.runtime import Runtime
from qianshu.identity import service as identity_service
from qianshu.identity.breaker import CircuitBreaker
from qianshu.identity.errors import InvalidIdNumber, InvalidName, ProviderUnavailable
from qianshu.identity.providers import HttpIdentityChecker, HttpProviderClient, identity_checker
from tests.identity.conftest import NAME, make_id
from tests.identity.loopback import IdentitySandbox


def _check(
    runtime: Runtime, subject: str, *, name: str = NAME, number: str | None = None, actor: str = "usr_a"
) -> bool:
    with runtime.transaction() as s:
        return identity_service.check_name_and_id(
            session=s,
            clock=runtime.clock,
            actor=actor,
            subject_id=subject,
            name=name,
            id_number=number or make_id(),
            context=None,
        )


def _sharing(runtime: Runtime, subject: str) -> list[Any]:
    with runtime.transaction() as s:
        return identity_service.list_sharing(session=s, subject_id=subject)


def test_a_match_is_true_and_the_call_is_in_the_subjects_sharing_register(
    runtime: Runtime, identity_sandbox: IdentitySandbox
) -> None:
    subject = new_id("org")
    assert _check(runtime, subject, number=make_id().lower()[:17] + make_id()[17].lower()) is True
    (entry,) = _sharing(runtime, subject)
    assert entry.recipient_kind == "identity_provider"
    assert sorted(entry.fields) == ["id_number", "name"]
    assert "法定代表人" in entry.purpose
    assert identity_sandbox.count() == 1
    assert identity_sandbox.provider.calls[0].check == "two_elements"
    assert "*" in identity_sandbox.provider.calls[0].id_number_masked


@pytest.mark.parametrize("seq", ["991", "990"])
def test_mismatch_and_no_record_are_false_and_still_registered_after_a_rollback(
    runtime: Runtime, identity_sandbox: IdentitySandbox, seq: str
) -> None:
    subject = new_id("org")
    with pytest.raises(RuntimeError), runtime.transaction() as s:
        answer = identity_service.check_name_and_id(
            session=s,
            clock=runtime.clock,
            actor="usr_a",
            subject_id=subject,
            name=NAME,
            id_number=make_id(seq=seq),
            context=None,
        )
        assert answer is False
        raise RuntimeError("the caller refuses and rolls back")  # e.g. orgs' 422 on a mismatch
    assert len(_sharing(runtime, subject)) == 1  # the data did leave: the register keeps it


@pytest.mark.parametrize(
    ("name", "number", "error"),
    [
        (NAME, make_id()[:17] + ("1" if make_id()[17] == "0" else "0"), InvalidIdNumber),
        (NAME, make_id(birth="20990101"), InvalidIdNumber),
        (NAME, "11010119900307123", InvalidIdNumber),
        ("张三3", make_id(), InvalidName),
    ],
)
def test_bad_input_is_refused_before_the_provider(
    runtime: Runtime, identity_sandbox: IdentitySandbox, name: str, number: str, error: type[Exception]
) -> None:
    subject = new_id("org")
    with pytest.raises(error):
        _check(runtime, subject, name=name, number=number)
    assert identity_sandbox.count() == 0
    assert _sharing(runtime, subject) == []


@pytest.mark.parametrize(("seq", "reason"), [("999", "timeout"), ("998", "http_error")])
def test_time_out_or_outage_is_a_clear_503_never_a_match(
    runtime: Runtime, identity_sandbox: IdentitySandbox, seq: str, reason: str
) -> None:
    subject = new_id("org")
    with pytest.raises(ProviderUnavailable) as raised:
        _check(runtime, subject, number=make_id(seq=seq))
    error = raised.value
    assert (error.status, error.reason, error.sent) == (503, reason, True)
    assert "未作任何认证" in error.detail and "自动重试" not in error.detail
    assert error.to_problem(locale="zh-CN")["type"].endswith("/identity-provider-unavailable")
    assert len(_sharing(runtime, subject)) == 1  # the request was sent: registered


def _garbage_checker(runtime: Runtime, reply: httpx.Response) -> None:
    client = HttpProviderClient(
        base_url="http://provider.invalid/v1",
        secret=b"k",
        clock=runtime.clock,
        breaker=CircuitBreaker(clock=runtime.clock, threshold=50, reset_seconds=60),
        retries=0,
        transport=httpx.MockTransport(lambda request: reply),
    )
    runtime.on_close(client.close)
    runtime.set_component("identity.checker", HttpIdentityChecker(client, recipient="某核验服务商"))


@pytest.mark.parametrize(
    "reply",
    [
        httpx.Response(200, content=b"<html>gateway login</html>"),
        httpx.Response(200, json=["match"]),
        httpx.Response(200, json={"result": "probably", "mismatched": []}),
        httpx.Response(200, json={"result": "match", "mismatched": "name"}),
        httpx.Response(401, json={"error": "unauthorized"}),
    ],
)
def test_a_garbage_reply_is_unavailable_not_verified(runtime: Runtime, reply: httpx.Response) -> None:
    _garbage_checker(runtime, reply)
    subject = new_id("org")
    with pytest.raises(ProviderUnavailable) as raised:
        _check(runtime, subject)
    assert raised.value.reason in ("bad_response", "rejected")
    (entry,) = _sharing(runtime, subject)
    assert entry.recipient == "某核验服务商"
    assert identity_checker(runtime).recipient == "某核验服务商"


def test_checks_are_rate_limited_per_actor_but_typos_do_not_count(
    runtime: Runtime, identity_sandbox: IdentitySandbox
) -> None:
    runtime.settings.identity_max_checks_per_day = 2
    subject = new_id("org")
    with pytest.raises(InvalidIdNumber):
        _check(runtime, subject, number="123")
    assert _check(runtime, subject) and _check(runtime, subject)
    with pytest.raises(RateLimited):
        _check(runtime, subject)
    assert _check(runtime, subject, actor="usr_b")  # another person has their own allowance
    assert identity_sandbox.count() == 3
