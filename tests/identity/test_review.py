"""Manual review (A5): encrypted document images, a masked queue, reveals logged for the person (P10)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from qianshu.core.runtime import Runtime
from qianshu.identity import service as identity_service
from tests.identity.conftest import image_bytes, make_id

ID = "sensitive.id_number"
DOC = "sensitive.id_document"
PASSPORT = {
    "document_type": "passport",
    "name": "John Smith",
    "document_number": "E12345678",
    "birth_date": "1980-01-02",
}


def _submit(client: TestClient, fields: dict[str, str] | None = None, images: int = 2, **extra: Any) -> Any:
    files = [("images", (f"p{i}.jpg", image_bytes(), "image/jpeg")) for i in range(images)]
    return client.post("/api/v1/identity/reviews", data=fields or PASSPORT, files=files, **extra)


def test_review_round_trip_reveal_is_logged_and_visible_to_the_person(
    make_user: Callable[..., str],
    make_reviewer: Callable[..., str],
    client_as: Callable[..., TestClient],
    runtime: Runtime,
) -> None:
    user = make_user([ID, DOC])
    person = client_as(user)
    r = _submit(person)
    assert r.status_code == 201, r.text
    review_id = r.json()["id"]
    assert (r.json()["status"], r.json()["level"]) == ("in_review", "manual")

    reviewer_id = make_reviewer()
    reviewer = client_as(reviewer_id, role="operator")
    queue = reviewer.get("/api/v1/operator/identity/reviews").json()
    assert [q["id"] for q in queue] == [review_id]
    assert (queue[0]["name_masked"], queue[0]["number_masked"]) == ("J*** S****", "E123*5678")
    assert queue[0]["images"] == 2
    assert "John" not in reviewer.get(f"/api/v1/operator/identity/reviews/{review_id}").text

    r = reviewer.post(f"/api/v1/operator/identity/reviews/{review_id}/approve", json={"reason": "looks fine"})
    assert r.status_code == 409  # open the documents first
    assert r.json()["type"].endswith("/review-not-revealed")

    r = reviewer.post(
        f"/api/v1/operator/identity/reviews/{review_id}/reveal",
        json={"reason": "identity_review", "note": "核对护照信息页"},
    )
    assert r.status_code == 200, r.text
    revealed = r.json()
    assert (revealed["name"], revealed["document_number"], revealed["birth_date"]) == (
        "John Smith",
        "E12345678",
        "1980-01-02",
    )
    assert revealed["age"] == 46
    assert len(revealed["image_data"]) == 2
    assert base64.b64decode(revealed["image_data"][0]["data_base64"]).startswith(b"\xff\xd8\xff")

    log = person.get("/api/v1/identity/staff-access").json()
    assert len(log) == 1
    assert log[0]["staff_id"] == reviewer_id
    assert log[0]["reason"] == "identity_review"
    assert log[0]["note"] == "核对护照信息页"
    assert log[0]["object_id"] == review_id
    assert "id_number" in log[0]["fields"]
    with runtime.transaction() as s:
        assert len(identity_service.list_staff_access(session=s, subject_id=user)) == 1

    r = reviewer.post(
        f"/api/v1/operator/identity/reviews/{review_id}/approve", json={"reason": "护照信息一致"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "verified"
    overview = person.get("/api/v1/identity").json()
    assert (overview["level"], overview["doc_type"]) == ("manual", "passport")
    assert overview["can_sign"] is True  # manual review counts as four elements
    assert overview["certificate_id"]
    history = person.get("/api/v1/identity/verifications").json()
    assert history[0]["review_note"] == "护照信息一致"
    with runtime.transaction() as s:
        from sqlalchemy import text

        assert s.execute(text("SELECT count(*) FROM identity_document_image")).scalar_one() == 0
    assert reviewer.get("/api/v1/operator/identity/reviews").json() == []
    done = reviewer.get("/api/v1/operator/identity/reviews?status=verified").json()
    assert [d["reviewer_id"] for d in done] == [reviewer_id]


def test_rejection_reason_reaches_the_person_and_images_are_erased(
    make_user: Callable[..., str],
    make_reviewer: Callable[..., str],
    client_as: Callable[..., TestClient],
    runtime: Runtime,
) -> None:
    person = client_as(make_user([ID, DOC]))
    review_id = _submit(person, images=1).json()["id"]
    reviewer = client_as(make_reviewer(), role="operator")
    reviewer.post(f"/api/v1/operator/identity/reviews/{review_id}/reveal", json={"reason": "identity_review"})
    r = reviewer.post(
        f"/api/v1/operator/identity/reviews/{review_id}/reject", json={"reason": "照片模糊，请重新拍摄"}
    )
    assert r.json()["status"] == "failed"
    body = person.get(f"/api/v1/identity/verifications/{review_id}").json()
    assert (body["failure_reason"], body["review_note"]) == ("rejected", "照片模糊，请重新拍摄")
    with runtime.transaction() as s:
        from sqlalchemy import text

        assert s.execute(text("SELECT count(*) FROM identity_document_image")).scalar_one() == 0


def test_reveal_needs_a_known_reason_and_the_reviewer_role(
    make_user: Callable[..., str],
    make_reviewer: Callable[..., str],
    client_as: Callable[..., TestClient],
) -> None:
    user = make_user([ID, DOC])
    person = client_as(user)
    review_id = _submit(person).json()["id"]
    reviewer = client_as(make_reviewer(), role="operator")
    r = reviewer.post(f"/api/v1/operator/identity/reviews/{review_id}/reveal", json={"reason": "curious"})
    assert r.status_code == 422
    r = reviewer.post(f"/api/v1/operator/identity/reviews/{review_id}/reveal", json={"reason": ""})
    assert r.status_code == 422
    support = client_as(make_reviewer(role="support"), role="operator")
    assert support.get("/api/v1/operator/identity/reviews").status_code == 403
    r = support.post(
        f"/api/v1/operator/identity/reviews/{review_id}/reveal", json={"reason": "identity_review"}
    )
    assert r.status_code == 403
    assert person.get("/api/v1/operator/identity/reviews").status_code == 403
    assert person.get("/api/v1/identity/staff-access").json() == []


def test_reviewers_cannot_review_themselves(
    make_reviewer: Callable[..., str], client_as: Callable[..., TestClient], runtime: Runtime
) -> None:
    reviewer_id = make_reviewer()
    with runtime.transaction() as s:
        from qianshu.privacy import service as privacy_service

        version = privacy_service.current_policy(session=s).version
        privacy_service.record_policy_acceptance(
            session=s, clock=runtime.clock, user_id=reviewer_id, version_id=version, context=None
        )
        for purpose in (ID, DOC):
            privacy_service.grant_consent(
                session=s, clock=runtime.clock, user_id=reviewer_id, purpose=purpose, context=None
            )
    reviewer = client_as(reviewer_id, role="operator")
    review_id = _submit(reviewer).json()["id"]
    r = reviewer.post(
        f"/api/v1/operator/identity/reviews/{review_id}/reveal", json={"reason": "identity_review"}
    )
    assert r.status_code == 403


def test_resident_id_review_after_an_automatic_failure(
    make_user: Callable[..., str], client_as: Callable[..., TestClient]
) -> None:
    person = client_as(make_user([ID, DOC]))
    vid = person.post("/api/v1/identity/verifications", json={"level": "two_elements"}).json()["id"]
    failed = person.post(
        f"/api/v1/identity/verifications/{vid}/elements",
        json={"name": "张三", "id_number": make_id(seq="990")},
    ).json()
    assert failed["failure_reason"] == "no_record"
    fields = {"document_type": "resident_id", "name": "张三", "document_number": make_id(seq="990")}
    r = _submit(person, fields)
    assert r.status_code == 201, r.text
    fields["birth_date"] = "1991-01-01"  # contradicts the number
    second = client_as(make_user([ID, DOC]))
    r = _submit(second, fields)
    assert r.status_code == 422
    assert r.json()["type"].endswith("/invalid-birth-date")


def test_review_input_is_checked(
    make_user: Callable[..., str], client_as: Callable[..., TestClient], runtime: Runtime
) -> None:
    person = client_as(make_user([ID, DOC]))
    assert _submit(person, images=0).json()["type"].endswith("/invalid-image")
    assert _submit(person, images=5).json()["type"].endswith("/invalid-image")
    r = person.post(
        "/api/v1/identity/reviews",
        data=PASSPORT,
        files=[("images", ("x.png", b"GIF89a not png", "image/png"))],
    )
    assert (r.status_code, r.json()["type"].split("/")[-1]) == (422, "invalid-image")
    big = b"\x89PNG\r\n\x1a\n" + b"\0" * (runtime.settings.identity_max_image_bytes + 1)
    r = person.post(
        "/api/v1/identity/reviews", data=PASSPORT, files=[("images", ("x.png", big, "image/png"))]
    )
    assert r.status_code == 413
    for bad in (
        {**PASSPORT, "document_type": "library_card"},
        {**PASSPORT, "document_number": "E1"},
        {**PASSPORT, "birth_date": "1980/01/02"},
        {**PASSPORT, "name": "John 5mith"},
        {**PASSPORT, "document_type": "hk_macao_permit"},
    ):
        r = _submit(person, bad)
        assert r.status_code == 422, (bad, r.text)
    r = _submit(person, {**PASSPORT, "birth_date": "2015-01-01"})
    assert r.status_code == 403
    assert r.json()["type"].endswith("/age-restricted")
    no_consent = client_as(make_user([ID]))
    r = _submit(no_consent)
    assert r.status_code == 403 and r.json()["missing_purposes"] == [DOC]
    r = _submit(no_consent, {**PASSPORT, "consents": DOC})
    assert r.status_code == 201
