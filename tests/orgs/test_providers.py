"""The bank backends: protocol conformance, request signing, mapping of provider answers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from qianshu.config import Settings
from qianshu.core.clock import FrozenClock
from qianshu.orgs.errors import BankRejected, BankUnavailable
from qianshu.orgs.providers import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    BankSignatureRejected,
    BankTransfers,
    HttpBankTransfers,
    NullBankTransfers,
    SignedJsonClient,
    build_bank_transfers,
    sign_request,
    verify_request,
)
from qianshu.orgs.sandbox import SandboxBank

SECRET = b"test-secret"
NOW = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)
ORDER: dict[str, Any] = {
    "reference": "dep_0000000000000000000a",
    "account_name": "测试公司",
    "account_number": "6222020200112233",
    "bank_name": "工商银行",
    "amount_cents": 37,
    "memo": "签署验证123456",
}


def _client(handler: httpx.MockTransport) -> HttpBankTransfers:
    return HttpBankTransfers(
        SignedJsonClient(base_url="http://bank.test/api", secret=SECRET, clock=FrozenClock(NOW), transport=handler)
    )


def test_backends_satisfy_the_protocol() -> None:
    assert isinstance(_client(httpx.MockTransport(lambda r: httpx.Response(200))), BankTransfers)
    assert isinstance(NullBankTransfers(), BankTransfers)
    settings = Settings(public_base_url="http://example.test")
    assert isinstance(build_bank_transfers(settings, FrozenClock()), HttpBankTransfers)
    assert isinstance(build_bank_transfers(Settings(bank_backend="none"), FrozenClock()), NullBankTransfers)
    assert settings.effective_bank_url == "http://example.test/sandbox/bank"
    with pytest.raises(ValueError, match="QIANSHU_BANK_URL"):
        build_bank_transfers(Settings(bank_backend="http"), FrozenClock())
    with pytest.raises(ValueError, match="unknown"):
        build_bank_transfers(Settings(bank_backend="carrier-pigeon"), FrozenClock())
    with pytest.raises(BankUnavailable):
        NullBankTransfers().send_micro_deposit(**ORDER)


def test_requests_are_signed_and_the_sandbox_verifies_them() -> None:
    seen: list[httpx.Request] = []
    bank = SandboxBank(secret=SECRET, clock=FrozenClock(NOW))

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        accepted = bank.accept(
            body=request.content,
            timestamp=request.headers.get(TIMESTAMP_HEADER),
            signature=request.headers.get(SIGNATURE_HEADER),
        )
        return httpx.Response(201, json=accepted.model_dump())

    receipt = _client(httpx.MockTransport(handler)).send_micro_deposit(**ORDER)
    assert receipt.transfer_id.startswith("btx_")
    request = seen[0]
    assert request.url.path == "/api/v1/transfers"
    assert request.headers[TIMESTAMP_HEADER] == str(int(NOW.timestamp()))
    assert json.loads(request.content)["currency"] == "CNY"
    assert bank.statement(account_number="6222 0202 0011 2233").transfers[0].amount == "0.37"
    # The same reference again is the same transfer (a retried request does not pay twice).
    again = _client(httpx.MockTransport(handler)).send_micro_deposit(**ORDER)
    assert (
        again.transfer_id == receipt.transfer_id
        and len(bank.statement(account_number=ORDER["account_number"]).transfers) == 1
    )


def test_signature_checks() -> None:
    body = b'{"a":1}'
    ts = str(int(NOW.timestamp()))
    good = sign_request(secret=SECRET, timestamp=ts, body=body)
    verify_request(secret=SECRET, timestamp=ts, signature=good, body=body, now=NOW, max_skew_seconds=300)
    bad_cases = [
        (None, good, body),
        (ts, None, body),
        (ts, "zz", body),
        (ts, good, b'{"a":2}'),
        (
            str(int(NOW.timestamp()) - 301),
            sign_request(secret=SECRET, timestamp=str(int(NOW.timestamp()) - 301), body=body),
            body,
        ),
        (ts, sign_request(secret=b"other", timestamp=ts, body=body), body),
    ]
    for timestamp, signature, payload in bad_cases:
        with pytest.raises(BankSignatureRejected):
            verify_request(
                secret=SECRET,
                timestamp=timestamp,
                signature=signature,
                body=payload,
                now=NOW,
                max_skew_seconds=300,
            )


@pytest.mark.parametrize(
    ("response", "error", "reason"),
    [
        (httpx.Response(422, json={"code": "account_closed"}), BankRejected, "account_closed"),
        (httpx.Response(422, json={"code": "something_new"}), BankUnavailable, None),
        (httpx.Response(500, json={"detail": "boom"}), BankUnavailable, None),
        (httpx.Response(200, text="<html>"), BankUnavailable, None),
        (httpx.Response(201, json={"id": "bad id with spaces"}), BankUnavailable, None),
        (httpx.Response(201, json={"status": "accepted"}), BankUnavailable, None),
    ],
)
def test_provider_answers_are_mapped(response: httpx.Response, error: type[Exception], reason: str | None) -> None:
    client = _client(httpx.MockTransport(lambda r: response))
    with pytest.raises(error) as info:
        client.send_micro_deposit(**ORDER)
    if reason:
        assert getattr(info.value, "extra", {}).get("reason") == reason


def test_unreachable_provider_is_unavailable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(BankUnavailable) as info:
        _client(httpx.MockTransport(refuse)).send_micro_deposit(**ORDER)
    assert "6222020200112233" not in str(info.value.detail_en)


def test_reference_reuse_for_another_transfer_is_refused() -> None:
    from qianshu.core.errors import Conflict

    bank = SandboxBank(secret=SECRET, clock=FrozenClock(NOW))
    ts = str(int(NOW.timestamp()))
    first = json.dumps({**ORDER, "currency": "CNY"}).encode()
    bank.accept(body=first, timestamp=ts, signature=sign_request(secret=SECRET, timestamp=ts, body=first))
    other = json.dumps({**ORDER, "currency": "CNY", "amount_cents": 38}).encode()
    with pytest.raises(Conflict):
        bank.accept(body=other, timestamp=ts, signature=sign_request(secret=SECRET, timestamp=ts, body=other))
