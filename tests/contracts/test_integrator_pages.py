"""The developers page of an organisation: API keys and webhooks for owners and administrators."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.contracts.integrator_support import (
    USCC,
    Receiver,
    contract_body,
    key_client,
    make_org,
    running_receiver,
    upload,
)

OWNER, MEMBER, OTHER = "13900139000", "13900139001", "13900139002"
HTML = {"accept": "text/html"}
_SECRET = re.compile(r'id="secret-value" type="text" readonly value="([^"]+)"')


def _post(c: Any, url: str, data: dict[str, Any] | None = None) -> Any:
    return c.post(url, data={**(data or {}), "csrf_token": str(c.cookies.get("qs_csrf"))}, headers=HTML)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as r:
        yield r


@pytest.fixture
def org(api: Callable[..., Any], browser: Callable[..., Any], make_person: Callable[..., str]) -> dict[str, Any]:
    make_person(OWNER)
    org_id = make_org(api(OWNER), USCC[0])
    return {"id": org_id, "owner": browser(OWNER), "page": f"/orgs/{org_id}/developers"}


def _create_key(owner: Any, page: str, scopes: list[str] | None = None) -> tuple[str, str]:
    r = _post(owner, page + "/keys", {"name": "ERP 生产", "scopes": scopes or ["contracts:read", "contracts:write"]})
    assert r.status_code == 201, r.text
    assert r.headers["cache-control"] == "no-store"
    secret = _SECRET.search(r.text)
    assert secret is not None
    key_id = re.search(r'id="key-(key_[0-9a-z]+)"', r.text)
    assert key_id is not None
    return secret.group(1), key_id.group(1)


def test_owner_creates_a_key_shown_once_and_revokes_it(org: dict[str, Any], app: Any) -> None:
    owner, page = org["owner"], org["page"]
    r = owner.get(page, headers=HTML)
    assert r.status_code == 200 and 'id="no-keys"' in r.text and 'href="/api/docs"' in r.text
    assert f'href="{page}"' in owner.get(f"/orgs/{org['id']}", headers=HTML).text  # linked from the org page
    secret, key_id = _create_key(owner, page)
    assert secret.startswith(f"qsk_{key_id[4:]}_")
    listed = owner.get(page, headers=HTML).text
    assert secret not in listed and 'id="secret-value"' not in listed  # never again
    assert f"qsk_{key_id[4:]}_…" in listed and "contracts:write" in listed and "从未" in listed
    opened: list[Any] = []
    key = key_client(app, secret, opened)
    assert key.get("/api/v1/contracts").status_code == 200
    assert "从未" not in owner.get(page, headers=HTML).text  # last used is shown
    r = _post(owner, f"{page}/keys/{key_id}/revoke")
    assert r.status_code == 303 and r.headers["location"].endswith("notice=contracts_developers_key_revoked")
    assert "已吊销" in owner.get(page, headers=HTML).text
    assert key.get("/api/v1/contracts").status_code == 401
    for c in opened:
        c.__exit__(None, None, None)


def test_bad_key_input_is_a_readable_message(org: dict[str, Any]) -> None:
    owner, page = org["owner"], org["page"]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"name": "", "scopes": ["contracts:read"]}, "请填写密钥名称"),
        ({"name": "ERP"}, "请至少选择一项权限"),
        ({"name": "ERP", "scopes": ["contracts:delete"]}, "未知的权限：contracts:delete"),
        ({"name": "ERP", "scopes": ["contracts:read"], "rate_limit": "lots"}, "每分钟请求上限应为整数"),
        ({"name": "ERP", "scopes": ["contracts:read"], "rate_limit": "0"}, "每分钟请求上限为 1–6000"),
    ]
    for data, message in cases:
        r = _post(owner, page + "/keys", data)
        assert r.status_code == 422, r.text
        assert message in r.text and 'class="notice error"' in r.text and 'id="secret-value"' not in r.text
    assert 'id="no-keys"' in owner.get(page, headers=HTML).text  # nothing was written
    r = _post(owner, page + "/keys", {"name": "ERP", "scopes": ["contracts:read"]})
    assert r.status_code == 201
    english = owner.get(page + "?lang=en", headers=HTML).text
    assert "API keys" in english and "Never" in english


def test_only_owners_and_admins_see_the_page(
    org: dict[str, Any], api: Callable[..., Any], browser: Callable[..., Any], make_person: Callable[..., str]
) -> None:
    page = org["page"]
    _, key_id = _create_key(org["owner"], page)
    make_person(MEMBER)
    make_person(OTHER)
    outsider = browser(OTHER)
    r = outsider.get(page, headers=HTML)
    assert r.status_code == 404 and "未找到该企业" in r.text and "problem+json" not in r.headers["content-type"]
    r = _post(outsider, f"{page}/keys/{key_id}/revoke")
    assert r.status_code == 404 and "未找到该企业" in r.text
    # someone else's organisation: their own org's page cannot revoke this key
    other_org = make_org(api(OTHER), USCC[1])
    r = _post(outsider, f"/orgs/{other_org}/developers/keys/{key_id}/revoke")
    assert r.status_code == 404 and "未找到该 API 密钥" in r.text
    assert "已吊销" not in org["owner"].get(page, headers=HTML).text
    # a plain member is refused (403), and the org page shows them no link
    owner_api = api(OWNER)
    r = owner_api.post(f"/api/v1/orgs/{org['id']}/invitations", json={"phone": MEMBER, "role": "member"})
    assert r.status_code == 201, r.text
    member = browser(MEMBER)
    inv = member.get("/orgs", headers=HTML).text
    inv_id = re.search(r"/orgs/invitations/(inv_[0-9a-z]+)/accept", inv)
    assert inv_id is not None
    assert _post(member, f"/orgs/invitations/{inv_id.group(1)}/accept").status_code == 303
    r = member.get(page, headers=HTML)
    assert r.status_code == 403 and "仅企业所有者或管理员" in r.text
    assert _post(member, page + "/keys", {"name": "x", "scopes": ["contracts:read"]}).status_code == 403
    assert 'id="developers-link"' not in member.get(f"/orgs/{org['id']}", headers=HTML).text
    assert browser().get(page, headers=HTML).status_code == 303  # signed out: to the login page


def test_webhook_endpoint_log_replay_and_disable(
    org: dict[str, Any], app: Any, runtime: Any, receiver: Receiver, run_jobs: Callable[[], int]
) -> None:
    owner, page = org["owner"], org["page"]
    bad: list[tuple[dict[str, Any], str]] = [
        ({"url": "", "events": ["contract.sent"]}, "请填写 Webhook 地址"),
        ({"url": receiver.url}, "请至少选择一个事件"),
        ({"url": receiver.url, "events": ["contract.exploded"]}, "未知的事件"),
        ({"url": "ftp://example.com/x", "events": ["contract.sent"]}, "必须以 http:// 或 https:// 开头"),
        ({"url": "http://", "events": ["contract.sent"]}, "缺少主机名"),
    ]
    for data, message in bad:
        r = _post(owner, page + "/webhooks", data)
        assert r.status_code == 422, r.text
        assert message in r.text and 'id="secret-value"' not in r.text
    assert 'id="no-hooks"' in owner.get(page, headers=HTML).text
    r = _post(owner, page + "/webhooks", {"url": receiver.url, "events": ["contract.sent", "contract.revoked"]})
    assert r.status_code == 201, r.text
    secret = _SECRET.search(r.text)
    assert secret is not None and secret.group(1).startswith("whsec_")
    hook_id = re.search(r'id="hook-(whk_[0-9a-z]+)"', r.text)
    assert hook_id is not None
    assert secret.group(1) not in owner.get(page, headers=HTML).text

    key_secret, _ = _create_key(owner, page)
    opened: list[Any] = []
    key = key_client(app, key_secret, opened)
    contract_id = key.post("/api/v1/contracts", json=contract_body(upload(key, runtime))).json()["id"]
    assert key.post(f"/api/v1/contracts/{contract_id}/send").status_code == 200
    receiver.replies = [500]
    run_jobs()
    text = owner.get(page, headers=HTML).text
    row = re.search(r'<tr id="dlv-(dlv_[0-9a-z]+)" data-status="pending">', text)
    assert row is not None and "HTTP 500" in text and "contract.sent" in text
    delivery_id = row.group(1)
    r = _post(owner, f"{page}/deliveries/{delivery_id}/replay")
    assert r.status_code == 303 and "notice=contracts_developers_replayed" in r.headers["location"]
    run_jobs()
    assert len(receiver.requests) == 2
    text = owner.get(page, headers=HTML).text
    assert text.count('data-status="delivered"') == 1 and "重发" in text
    assert _post(owner, f"{page}/deliveries/dlv_aaaaaaaaaaaaaaaaaaaa/replay").status_code == 404
    r = _post(owner, f"{page}/webhooks/{hook_id.group(1)}/disable")
    assert r.status_code == 303
    text = owner.get(page, headers=HTML).text
    assert "已停用" in text and f'id="replay-{delivery_id}"' not in text
    for c in opened:
        c.__exit__(None, None, None)
