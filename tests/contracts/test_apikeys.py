"""Organisation API keys on /api/v1: shown once, hashed, scoped, revocable, rate limited; idempotency; pages."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from tests.contracts.integrator_support import (
    USCC,
    contract_body,
    key_client,
    make_key,
    make_org,
    problem,
    upload,
)

OWNER, STRANGER, SIGNER = "13900139000", "13900139002", "13800138001"


@pytest.fixture
def keys(app: Any) -> Iterator[Callable[[str], Any]]:
    opened: list[Any] = []
    yield lambda secret: key_client(app, secret, opened)
    for c in opened:
        c.__exit__(None, None, None)


@pytest.fixture
def owner(api: Callable[..., Any], make_person: Callable[..., str]) -> Any:
    make_person(OWNER)
    return api(OWNER)


def test_key_is_shown_once_stored_hashed_and_acts_for_the_org(
    owner: Any, keys: Callable[[str], Any], runtime: Any, api: Callable[..., Any], make_person: Callable[..., str]
) -> None:
    from qianshu.contracts.models import ApiKey

    org_id = make_org(owner, USCC[0])
    created = make_key(owner, org_id)
    secret = created["secret"]
    assert secret.startswith("qsk_") and created["scopes"] == ["contracts:read", "contracts:write", "webhooks:manage"]
    listed = owner.get("/api/v1/api-keys", params={"org_id": org_id}).json()
    assert [k["id"] for k in listed] == [created["id"]] and "secret" not in listed[0]
    assert listed[0]["last_used_at"] is None
    with runtime.transaction() as s:
        row = s.get(ApiKey, created["id"])
        assert row is not None and secret.split("_", 2)[2] not in row.secret_hash and len(row.secret_hash) == 64

    key = keys(secret)
    doc = upload(key, runtime)
    r = key.post("/api/v1/contracts", json=contract_body(doc))
    assert r.status_code == 201, r.text
    contract_id = r.json()["id"]
    sent = key.post(f"/api/v1/contracts/{contract_id}/send")
    assert sent.status_code == 200 and sent.json()["contract"]["status"] == "sent"
    assert key.get(f"/api/v1/contracts/{contract_id}").json()["status"] == "sent"
    assert [c["id"] for c in key.get("/api/v1/contracts").json()["items"]] == [contract_id]
    assert key.get(f"/api/v1/contracts/{contract_id}/pdf").content.startswith(b"%PDF")
    # the contract belongs to the organisation, not to the person who made the key
    problem(owner.get(f"/api/v1/contracts/{contract_id}"), 404, "contract-not-found")
    listed = owner.get("/api/v1/api-keys", params={"org_id": org_id}).json()
    assert listed[0]["last_used_at"] is not None

    # a second key of the same organisation sees it; another organisation's key does not
    same_org = keys(make_key(owner, org_id, scopes=["contracts:read"])["secret"])
    assert same_org.get(f"/api/v1/contracts/{contract_id}").status_code == 200
    make_person(STRANGER)
    stranger = api(STRANGER)
    other_key = keys(make_key(stranger, make_org(stranger, USCC[1], "厦门测试有限公司"))["secret"])
    problem(other_key.get(f"/api/v1/contracts/{contract_id}"), 404, "contract-not-found")
    problem(other_key.post(f"/api/v1/contracts/{contract_id}/revoke", json={"reason": "x"}), 404)
    assert other_key.get("/api/v1/contracts").json() == {"items": [], "next_cursor": None}
    problem(other_key.post("/api/v1/contracts", json=contract_body(doc)), 404)  # the document is not theirs

    # embedded signing: the signer's link, the same one the send answer gave
    recipient_id = sent.json()["links"][0]["recipient_id"]
    url = key.get(f"/api/v1/contracts/{contract_id}/recipients/{recipient_id}/signing-url")
    assert url.status_code == 200, url.text
    assert url.json()["url"] == sent.json()["links"][0]["url"] and url.json()["turn_now"] is True
    problem(other_key.get(f"/api/v1/contracts/{contract_id}/recipients/{recipient_id}/signing-url"), 404)
    problem(key.get(f"/api/v1/contracts/{contract_id}/recipients/rcp_00000000000000000000/signing-url"), 404)
    problem(same_org.get(f"/api/v1/contracts/{contract_id}/recipients/{recipient_id}/signing-url"), 403)


def test_bad_keys_revoked_keys_and_scopes(
    owner: Any, keys: Callable[[str], Any], runtime: Any, api: Callable[..., Any], make_person: Callable[..., str]
) -> None:
    org_id = make_org(owner, USCC[0])
    reader = make_key(owner, org_id, scopes=["contracts:read"])
    key = keys(reader["secret"])
    assert key.get("/api/v1/contracts").status_code == 200
    body = problem(key.post("/api/v1/contracts", json=contract_body("doc_00000000000000000000")), 403)
    assert body["type"].endswith("/insufficient-scope") and body["scope"] == "contracts:write"
    problem(key.get("/api/v1/webhooks"), 403, "insufficient-scope")
    # keys cannot manage keys, nor reach routes outside the integrator API
    problem(key.post("/api/v1/api-keys", json={"org_id": org_id, "name": "x", "scopes": ["contracts:read"]}), 401)
    problem(key.get("/api/v1/me"), 401)

    # unknown, malformed and tampered keys
    problem(keys("qsk_00000000000000000000_" + "a" * 48).get("/api/v1/contracts"), 401, "api-key-invalid")
    problem(keys("qsk_nonsense").get("/api/v1/contracts"), 401, "api-key-invalid")
    tampered = reader["secret"][:-2] + ("AA" if not reader["secret"].endswith("AA") else "BB")
    problem(keys(tampered).get("/api/v1/contracts"), 401, "api-key-invalid")

    # only owners and administrators manage keys; others' organisations look absent
    make_person(STRANGER)
    stranger = api(STRANGER)
    problem(stranger.get("/api/v1/api-keys", params={"org_id": org_id}), 404)
    problem(stranger.post(f"/api/v1/api-keys/{reader['id']}/revoke"), 404)
    problem(owner.post("/api/v1/api-keys", json={"org_id": org_id, "name": "x", "scopes": ["everything"]}), 422)
    problem(owner.post("/api/v1/api-keys", json={"org_id": org_id, "name": "x", "scopes": []}), 422)

    revoked = owner.post(f"/api/v1/api-keys/{reader['id']}/revoke")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    body = problem(key.get("/api/v1/contracts"), 401, "api-key-invalid")
    assert "revoked" in key.get("/api/v1/contracts", params={"lang": "en"}).json()["detail"]
    assert body["status"] == 401


def test_rate_limit_per_key_answers_429_with_retry_after(owner: Any, keys: Callable[[str], Any], clock: Any) -> None:
    org_id = make_org(owner, USCC[0])
    slow = keys(make_key(owner, org_id, rate_limit=2)["secret"])
    fast = keys(make_key(owner, org_id, rate_limit=100)["secret"])
    assert slow.get("/api/v1/contracts").status_code == 200
    assert slow.get("/api/v1/contracts").status_code == 200
    limited = slow.get("/api/v1/contracts")
    problem(limited, 429, "rate-limited")
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert fast.get("/api/v1/contracts").status_code == 200  # limits are per key
    clock.advance(timedelta(seconds=61))
    assert slow.get("/api/v1/contracts").status_code == 200


def test_idempotency_key_on_contract_creation(owner: Any, keys: Callable[[str], Any], runtime: Any, clock: Any) -> None:
    org_id = make_org(owner, USCC[0])
    key = keys(make_key(owner, org_id)["secret"])
    doc = upload(key, runtime)
    h = {"Idempotency-Key": "order-2026-0001"}
    first = key.post("/api/v1/contracts", json=contract_body(doc), headers=h)
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    again = key.post("/api/v1/contracts", json=contract_body(doc), headers=h)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert len(key.get("/api/v1/contracts").json()["items"]) == 1
    problem(
        key.post("/api/v1/contracts", json=contract_body(doc, phone="13800138009"), headers=h),
        422,
        "idempotency-key-reused",
    )
    problem(key.post("/api/v1/contracts", json=contract_body(doc), headers={"Idempotency-Key": "bad\x7fkey"}), 422)
    # a failed creation keeps nothing: the key stays free for a corrected request
    bad = contract_body(doc)
    bad["recipients"][0]["phone"] = "12345"
    problem(key.post("/api/v1/contracts", json=bad, headers={"Idempotency-Key": "k2"}), 422)
    assert key.post("/api/v1/contracts", json=contract_body(doc), headers={"Idempotency-Key": "k2"}).status_code == 201
    # the same key from the person's own session is a different namespace
    owner_doc = upload(owner, runtime)
    assert owner.post("/api/v1/contracts", json=contract_body(owner_doc), headers=h).status_code == 201
    # keys are remembered for 24 hours
    clock.advance(timedelta(hours=25))
    later = key.post("/api/v1/contracts", json=contract_body(doc), headers=h)
    assert later.status_code == 201 and later.json()["id"] != first.json()["id"]


def test_cursor_pagination_of_contracts(owner: Any, keys: Callable[[str], Any], runtime: Any, clock: Any) -> None:
    org_id = make_org(owner, USCC[0])
    key = keys(make_key(owner, org_id)["secret"])
    doc = upload(key, runtime)
    made = []
    for i in range(5):
        if i % 2:
            clock.advance(timedelta(seconds=1))  # some share a timestamp, some do not
        made.append(key.post("/api/v1/contracts", json=contract_body(doc)).json()["id"])
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = key.get("/api/v1/contracts", params=params).json()
        pages += 1
        assert len(page["items"]) <= 2
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and sorted(seen) == sorted(made) and len(set(seen)) == 5
    stamps = [c["created_at"] for c in key.get("/api/v1/contracts").json()["items"]]
    assert stamps == sorted(stamps, reverse=True)
    problem(key.get("/api/v1/contracts", params={"cursor": "not-a-cursor"}), 422, "cursor-invalid")
    problem(key.get("/api/v1/contracts", params={"limit": 0}), 422)
    problem(key.get("/api/v1/contracts", params={"limit": 101}), 422)


def test_openapi_documents_the_integrator_api_with_examples(client: Any) -> None:
    spec = client.get("/api/openapi.json").json()
    for path in (
        "/api/v1/api-keys",
        "/api/v1/webhooks",
        "/api/v1/webhook-deliveries",
        "/api/v1/webhook-deliveries/{delivery_id}/replay",
        "/api/v1/contracts/{contract_id}/recipients/{recipient_id}/signing-url",
    ):
        assert path in spec["paths"], path
    schemas = spec["components"]["schemas"]
    for name in (
        "ApiKeyCreate",
        "ApiKeyCreated",
        "WebhookCreate",
        "WebhookCreated",
        "WebhookDeliveryRead",
        "ContractPage",
    ):
        assert schemas[name].get("examples"), name
    params = {p["name"] for p in spec["paths"]["/api/v1/contracts"]["post"]["parameters"]}
    assert "Idempotency-Key" in params
    listed = {p["name"] for p in spec["paths"]["/api/v1/contracts"]["get"]["parameters"]}
    assert {"cursor", "limit", "box"} <= listed
