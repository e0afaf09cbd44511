"""The operators' review queue: masked listing, logged reveal, decisions (promises A6, P10)."""

from __future__ import annotations

import base64
from typing import Any

from qianshu.core.runtime import Runtime
from tests.orgs.conftest import Flow, User, licence_image, problem


def _pending(flow: Flow, owner: User) -> tuple[dict[str, Any], dict[str, Any]]:
    org = flow.create(owner, name="泉州审核测试有限公司")
    flow.legal_rep_self(owner, org["id"])
    r = owner.api.post(
        f"/api/v1/orgs/{org['id']}/licence", content=licence_image(), headers={"content-type": "image/jpeg"}
    )
    assert r.status_code == 201, r.text
    return org, r.json()


def test_queue_is_masked_and_for_operators_only(flow: Flow, make_user: Any, operator: User) -> None:
    owner = make_user(name="欧阳明")
    org, doc = _pending(flow, owner)
    items = operator.api.get("/api/v1/operator/org-reviews").json()
    assert [i["document_id"] for i in items] == [doc["id"]]
    item = items[0]
    assert item["org_name"] == org["name"] and item["uscc"] == org["uscc"] and item["kind"] == "licence"
    assert item["legal_rep_name"] == "欧**"
    assert "image_base64" not in item and owner.number not in str(items)
    problem(owner.api.get("/api/v1/operator/org-reviews"), 403, "forbidden")
    assert operator.api.get("/api/v1/operator/org-reviews", params={"kind": "authorisation_letter"}).json() == []
    problem(operator.api.get("/api/v1/operator/org-reviews", params={"kind": "x"}), 422, "invalid-input")


def test_reveal_needs_a_reason_and_is_logged(flow: Flow, make_user: Any, operator: User, runtime: Runtime) -> None:
    from qianshu.evidence import service as evidence_service
    from qianshu.privacy import service as privacy_service

    owner = make_user(name="欧阳明")
    org, doc = _pending(flow, owner)
    url = f"/api/v1/operator/org-reviews/{doc['id']}/reveal"
    problem(operator.api.post(url, json={}), 422, "invalid-input")
    problem(operator.api.post(url, json={"reason": "curiosity"}), 422, "invalid-input")
    problem(owner.api.post(url, json={"reason": "review"}), 403, "forbidden")
    r = operator.api.post(url, json={"reason": "review", "note": "首次审核"})
    assert r.status_code == 200, r.text
    shown = r.json()
    assert shown["legal_rep_name"] == "欧阳明" and shown["legal_rep_id_number"] == owner.number
    assert base64.b64decode(shown["image_base64"]).startswith(b"\xff\xd8\xff")
    with runtime.transaction() as s:
        accesses = privacy_service.list_staff_access(session=s, subject_id=org["id"])
        actions = [e.action for e in evidence_service.list_events(session=s, stream=f"org:{org['id']}")]
    assert len(accesses) == 1
    assert accesses[0].staff_id == operator.id and accesses[0].reason == "review"
    assert "legal_rep_id_number" in accesses[0].fields
    assert "org.document_revealed" in actions and "privacy.staff_access" in actions
    problem(
        operator.api.post("/api/v1/operator/org-reviews/doc_nosuchdoc00000000000/reveal", json={"reason": "review"}),
        404,
        "not-found",
    )


def test_decisions(flow: Flow, make_user: Any, operator: User) -> None:
    owner = make_user()
    org, doc = _pending(flow, owner)
    url = f"/api/v1/operator/org-reviews/{doc['id']}/decision"
    problem(operator.api.post(url, json={"decision": "reject"}), 422, "invalid-input")  # a reason is needed
    problem(operator.api.post(url, json={"decision": "maybe"}), 422, "invalid-input")
    problem(owner.api.post(url, json={"decision": "approve"}), 403, "forbidden")
    assert operator.api.post(url, json={"decision": "approve"}).json()["status"] == "approved"
    problem(operator.api.post(url, json={"decision": "reject", "reason": "other"}), 409, "conflict")
    assert operator.api.get("/api/v1/operator/org-reviews").json() == []
    assert owner.api.get(f"/api/v1/orgs/{org['id']}").json()["steps"]["licence"] == "approved"
