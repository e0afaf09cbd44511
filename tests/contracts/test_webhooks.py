"""Webhooks: signed deliveries to a real loopback receiver, retries with backoff, delivery log, replay."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.contracts.conftest import Sent
from tests.contracts.integrator_support import (
    USCC,
    Receiver,
    contract_body,
    key_client,
    make_key,
    make_org,
    problem,
    running_receiver,
    upload,
)

OWNER, STRANGER, SIGNER = "13900139000", "13900139002", "13800138001"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as r:
        yield r


@pytest.fixture
def keys(app: Any) -> Iterator[Callable[[str], Any]]:
    opened: list[Any] = []
    yield lambda secret: key_client(app, secret, opened)
    for c in opened:
        c.__exit__(None, None, None)


@pytest.fixture
def org(api: Callable[..., Any], make_person: Callable[..., str], keys: Callable[[str], Any]) -> dict[str, Any]:
    make_person(OWNER)
    owner = api(OWNER)
    org_id = make_org(owner, USCC[0])
    return {"owner": owner, "org_id": org_id, "key": keys(make_key(owner, org_id)["secret"])}


def _hook(key: Any, url: str, events: list[str]) -> dict[str, Any]:
    r = key.post("/api/v1/webhooks", json={"url": url, "events": events})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    assert body["secret"].startswith("whsec_")
    return body


def _verify(secret: str, request: Any, now: datetime) -> bool:
    from qianshu.contracts import webhooks

    return webhooks.verify_signature(
        secret=secret,
        timestamp=request.headers["x-qianshu-timestamp"],
        body=request.body,
        header=request.headers["x-qianshu-signature"],
        now=now,
    )


def test_signed_delivery_retry_on_500_log_and_replay(
    org: dict[str, Any], receiver: Receiver, runtime: Any, clock: Any, run_jobs: Callable[[], int]
) -> None:
    key = org["key"]
    hook = _hook(key, receiver.url, ["contract.sent", "contract.revoked"])
    assert "secret" not in key.get("/api/v1/webhooks").json()[0]
    receiver.replies = [500]
    contract_id = key.post("/api/v1/contracts", json=contract_body(upload(key, runtime))).json()["id"]
    assert key.post(f"/api/v1/contracts/{contract_id}/send").status_code == 200
    run_jobs()

    # first attempt: a signed request, answered 500, logged and scheduled again with backoff
    assert len(receiver.requests) == 1
    first = receiver.requests[0]
    assert first.headers["x-qianshu-event"] == "contract.sent"
    assert first.headers["content-type"].startswith("application/json")
    assert _verify(hook["secret"], first, clock.now())
    assert not _verify("whsec_wrong", first, clock.now())
    payload = json.loads(first.body)
    assert payload["type"] == "contract.sent" and payload["id"] == first.headers["x-qianshu-event-id"]
    assert payload["data"] == {"contract_id": contract_id, "status": "sent"}
    assert SIGNER not in first.body.decode() and "采购合同" not in first.body.decode()  # ids and statuses only
    log = key.get("/api/v1/webhook-deliveries").json()
    assert log["next_cursor"] is None and len(log["items"]) == 1
    delivery = log["items"][0]
    assert delivery["id"] == first.headers["x-qianshu-delivery"]
    assert delivery["status"] == "pending" and delivery["attempts"] == 1
    assert delivery["response_status"] == 500 and delivery["last_error"] == "HTTP 500"
    assert datetime.fromisoformat(delivery["next_attempt_at"]) == clock.now() + timedelta(seconds=10)

    run_jobs()
    assert len(receiver.requests) == 1  # not before the backoff
    clock.advance(timedelta(seconds=10))
    run_jobs()
    assert len(receiver.requests) == 2
    second = receiver.requests[1]
    assert second.body == first.body and second.headers["x-qianshu-event-id"] == first.headers["x-qianshu-event-id"]
    assert _verify(hook["secret"], second, clock.now())
    done = key.get(f"/api/v1/webhook-deliveries/{delivery['id']}").json()
    assert done["status"] == "delivered" and done["attempts"] == 2 and done["response_status"] == 200

    # a captured request replayed by someone later fails the receiver's freshness check
    assert not _verify(hook["secret"], second, clock.now() + timedelta(minutes=6))

    # the integrator replays a delivery: a new delivery of the same event, freshly signed
    clock.advance(timedelta(minutes=1))
    replay = key.post(f"/api/v1/webhook-deliveries/{delivery['id']}/replay")
    assert replay.status_code == 202, replay.text
    assert replay.json()["replay_of"] == delivery["id"] and replay.json()["status"] == "pending"
    run_jobs()
    third = receiver.requests[2]
    assert third.headers["x-qianshu-event-id"] == first.headers["x-qianshu-event-id"]
    assert third.headers["x-qianshu-delivery"] == replay.json()["id"]
    assert third.headers["x-qianshu-timestamp"] != second.headers["x-qianshu-timestamp"]
    assert _verify(hook["secret"], third, clock.now())
    assert len(key.get("/api/v1/webhook-deliveries", params={"webhook_id": hook["id"]}).json()["items"]) == 2

    # events the endpoint did not subscribe to are not sent; revoke is
    assert key.post(f"/api/v1/contracts/{contract_id}/revoke", json={"reason": "重新起草"}).status_code == 200
    run_jobs()
    assert receiver.requests[-1].headers["x-qianshu-event"] == "contract.revoked"
    assert json.loads(receiver.requests[-1].body)["data"]["status"] == "revoked"


def test_failing_endpoint_gives_up_after_max_attempts_and_disabled_endpoints_stop(
    org: dict[str, Any], receiver: Receiver, runtime: Any, clock: Any, run_jobs: Callable[[], int]
) -> None:
    from qianshu.contracts import webhooks

    key = org["key"]
    hook = _hook(key, receiver.url, ["contract.sent"])
    receiver.replies = [503] * webhooks.MAX_ATTEMPTS
    contract_id = key.post("/api/v1/contracts", json=contract_body(upload(key, runtime))).json()["id"]
    key.post(f"/api/v1/contracts/{contract_id}/send")
    delays = []
    for _ in range(webhooks.MAX_ATTEMPTS):
        run_jobs()
        item = key.get("/api/v1/webhook-deliveries").json()["items"][0]
        if item["next_attempt_at"]:
            delay = datetime.fromisoformat(item["next_attempt_at"]) - clock.now()
            delays.append(delay.total_seconds())
            clock.advance(delay)
    assert len(receiver.requests) == webhooks.MAX_ATTEMPTS
    assert delays == sorted(delays) and delays[0] * 4 == delays[2]  # exponential backoff
    assert item["status"] == "failed" and item["attempts"] == webhooks.MAX_ATTEMPTS
    # replay after the endpoint is fixed works; after it is disabled it is refused
    replay = key.post(f"/api/v1/webhook-deliveries/{item['id']}/replay")
    run_jobs()
    assert key.get(f"/api/v1/webhook-deliveries/{replay.json()['id']}").json()["status"] == "delivered"
    assert key.delete(f"/api/v1/webhooks/{hook['id']}").json()["status"] == "disabled"
    problem(key.post(f"/api/v1/webhook-deliveries/{item['id']}/replay"), 409)


def test_events_from_the_signing_flow(
    org: dict[str, Any],
    receiver: Receiver,
    runtime: Any,
    run_jobs: Callable[[], int],
    make_person: Callable[..., str],
    api: Callable[..., Any],
    sent: Sent,
) -> None:
    key = org["key"]
    all_events = [
        "contract.sent",
        "recipient.viewed",
        "recipient.signed",
        "recipient.declined",
        "contract.completed",
        "contract.revoked",
        "contract.expired",
    ]
    _hook(key, receiver.url, all_events)
    make_person(SIGNER)
    doc = upload(key, runtime)
    contract_id = key.post("/api/v1/contracts", json=contract_body(doc)).json()["id"]
    token = key.post(f"/api/v1/contracts/{contract_id}/send").json()["links"][0]["url"].rsplit("/", 1)[1]
    anon = api()
    anon.post(f"/api/v1/sign/{token}/access-code")
    access = anon.post(f"/api/v1/sign/{token}/access", json={"code": sent.code(SIGNER, "otp_contract_access")})
    h = {"X-Signing-Access": access.json()["access"]}
    assert anon.post(f"/api/v1/sign/{token}/intent-code", headers=h).status_code == 202
    signed = anon.post(f"/api/v1/sign/{token}/sign", headers=h, json={"code": sent.code(SIGNER, "otp_contract_sign")})
    assert signed.status_code == 200 and signed.json()["status"] == "completed"
    # a second contract is declined
    other_id = key.post("/api/v1/contracts", json=contract_body(doc)).json()["id"]
    token2 = key.post(f"/api/v1/contracts/{other_id}/send").json()["links"][0]["url"].rsplit("/", 1)[1]
    assert api(SIGNER).post(f"/api/v1/sign/{token2}/decline", json={"reason": "价格不对"}).status_code == 200
    run_jobs()
    got = [(r.headers["x-qianshu-event"], json.loads(r.body)["data"]) for r in receiver.requests]
    events = sorted(e for e, _ in got)
    first = ["contract.sent", "recipient.viewed", "recipient.signed", "contract.completed"]
    assert events == sorted([*first, "contract.sent", "recipient.declined"])
    signed_data = next(d for e, d in got if e == "recipient.signed")
    assert signed_data["contract_id"] == contract_id and signed_data["recipient_status"] == "signed"
    assert next(d for e, d in got if e == "contract.completed")["status"] == "completed"
    declined = next(d for e, d in got if e == "recipient.declined")
    assert declined == {
        "contract_id": other_id,
        "status": "declined",
        "recipient_id": declined["recipient_id"],
        "recipient_status": "declined",
    }
    for r in receiver.requests:
        assert SIGNER not in r.body.decode() and "价格" not in r.body.decode()


def test_bad_webhook_input(
    org: dict[str, Any], keys: Callable[[str], Any], api: Callable[..., Any], make_person: Callable[..., str]
) -> None:
    from qianshu.contracts import webhooks

    key = org["key"]
    for url in (
        "ftp://example.com/hook",
        "javascript:alert(1)",
        "file:///etc/passwd",
        "https://",
        "https://user:pw@example.com/hook",
        "https://example.com/ho ok",
        "https://example.com:99999/",
        "https://example.com/" + "a" * 500,
        "example.com/hook",
    ):
        problem(key.post("/api/v1/webhooks", json={"url": url, "events": ["contract.sent"]}), 422)
    problem(key.post("/api/v1/webhooks", json={"url": "https://example.com", "events": ["nope"]}), 422)
    problem(key.post("/api/v1/webhooks", json={"url": "https://example.com", "events": []}), 422)
    # outside the sandbox private, loopback and link-local targets are refused
    for url in ("http://127.0.0.1/h", "http://10.0.0.8/h", "http://169.254.169.254/latest", "http://localhost/h"):
        with pytest.raises(webhooks.WebhookUrlInvalid):
            webhooks.check_url(url, allow_private=False)
    assert webhooks.check_url(" https://erp.example.com/hooks ", allow_private=False) == "https://erp.example.com/hooks"

    # other organisations' endpoints and deliveries look absent; scope and role are required
    make_person(STRANGER)
    stranger = api(STRANGER)
    other_org = make_org(stranger, USCC[1], "厦门测试有限公司")
    other_key = keys(make_key(stranger, other_org)["secret"])
    mine = _hook(key, "https://erp.example.com/hooks", ["contract.sent"])
    problem(other_key.delete(f"/api/v1/webhooks/{mine['id']}"), 404)
    problem(other_key.get("/api/v1/webhook-deliveries", params={"webhook_id": mine["id"]}), 404)
    problem(other_key.post("/api/v1/webhook-deliveries/dlv_00000000000000000000/replay"), 404)
    problem(other_key.get("/api/v1/webhooks", params={"org_id": org["org_id"]}), 404)
    problem(stranger.get("/api/v1/webhooks", params={"org_id": org["org_id"]}), 404)
    problem(stranger.get("/api/v1/webhooks"), 422)  # a session names the organisation
    reader = keys(make_key(org["owner"], org["org_id"], scopes=["contracts:read"])["secret"])
    problem(reader.get("/api/v1/webhooks"), 403, "insufficient-scope")
    # the owner's session manages the same endpoints
    listed = org["owner"].get("/api/v1/webhooks", params={"org_id": org["org_id"]}).json()
    assert [h["id"] for h in listed] == [mine["id"]]
    problem(key.get("/api/v1/webhook-deliveries", params={"cursor": "%%%"}), 422, "cursor-invalid")


def test_recent_deliveries_are_the_newest_of_each_endpoint(session: Any, clock: Any) -> None:
    """The developers page's log: each endpoint's newest deliveries, newest first, one query for all."""
    from qianshu.contracts import webhooks
    from qianshu.contracts.models import WebhookDelivery

    start = clock.now()
    for webhook_id, count in (("whk_a", 5), ("whk_b", 2)):
        for i in range(count):
            session.add(
                WebhookDelivery(
                    id=f"dlv_{webhook_id[-1]}{i}",
                    webhook_id=webhook_id,
                    org_id="org_recent",
                    event_id=f"evt_{webhook_id[-1]}{i}",
                    event="contract.sent",
                    payload={},
                    status="delivered",
                    attempts=1,
                    created_at=start + timedelta(seconds=i),
                )
            )
    session.add(  # another organisation's delivery stays out
        WebhookDelivery(
            id="dlv_other",
            webhook_id="whk_a",
            org_id="org_other",
            event_id="evt_other",
            event="contract.sent",
            payload={},
            status="delivered",
            attempts=1,
            created_at=start + timedelta(minutes=5),
        )
    )
    session.flush()
    found = webhooks.recent_deliveries(session=session, org_id="org_recent", limit=3)
    assert {k: [d.id for d in v] for k, v in found.items()} == {
        "whk_a": ["dlv_a4", "dlv_a3", "dlv_a2"],
        "whk_b": ["dlv_b1", "dlv_b0"],
    }


def test_a_receiver_check_refuses_a_signature_header_with_non_ascii_characters() -> None:
    from qianshu.contracts import webhooks

    now = datetime(2026, 5, 1, 8, 0, 0)
    stamp, body = str(int(now.timestamp())), b'{"event":"contract.sent"}'
    good = webhooks.signature("whsec_test", stamp, body)
    forged = "v1=\u00e9" + good[4:]  # what a Latin-1 header can carry

    def check(header: str) -> bool:
        return webhooks.verify_signature(secret="whsec_test", timestamp=stamp, body=body, header=header, now=now)

    assert check(good) and check(f"{forged}, {good}")
    assert not check(forged) and not check("v1=签名")
