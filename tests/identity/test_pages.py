"""The identity pages: forms that work without JavaScript, readable errors, the reviewers' queue."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from qianshu.core.runtime import Runtime
from tests.identity.conftest import image_bytes, make_id

HTML = {"Accept": "text/html"}
ID = "sensitive.id_number"
DOC = "sensitive.id_document"


def test_identity_page_needs_sign_in(client: TestClient) -> None:
    r = client.get("/identity", headers=HTML, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login?next=")


def test_page_shows_levels_consents_and_the_signing_requirement(
    make_user: Callable[..., str], client_as: Callable[..., TestClient]
) -> None:
    client = client_as(make_user())
    r = client.get("/identity", headers=HTML)
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    for marker in ('id="level-two_elements"', 'id="level-face"', 'id="level-manual"', 'name="consent"'):
        assert marker in r.text
    assert "三要素认证" in r.text  # the required level is named
    assert "浏览和下载合同模板" in r.text  # A7


def test_form_verification_with_the_consent_box_ticked(
    make_user: Callable[..., str], client_as: Callable[..., TestClient]
) -> None:
    client = client_as(make_user())
    form = {
        "level": "three_elements",
        "name": "张三",
        "id_number": make_id(),
        "phone": "13812345678",
        "consent": ID,
    }
    r = client.post("/identity/verify", data=form, headers=HTML, follow_redirects=False)
    assert r.status_code == 303, r.text
    page = client.get(r.headers["location"], headers=HTML)
    assert 'data-status="verified"' in page.text
    overview = client.get("/identity", headers=HTML).text
    assert "可以签署合同" in overview
    assert "张*" in overview and make_id() not in overview
    assert 'id="sharing-records"' in overview


def test_form_errors_are_readable_and_keep_what_was_typed(
    make_user: Callable[..., str], client_as: Callable[..., TestClient]
) -> None:
    client = client_as(make_user())
    form = {
        "level": "two_elements",
        "name": "张三",
        "id_number": make_id()[:17] + "9" if make_id()[17] != "9" else "1",
    }
    r = client.post("/identity/verify", data=form | {"consent": ID}, headers=HTML)
    assert r.status_code == 422
    assert "校验位" in r.text
    assert 'value="张三"' in r.text
    r = client.post(
        "/identity/verify",
        data={"level": "two_elements", "name": "张三", "id_number": make_id()},
        headers=HTML,
    )
    assert r.status_code == 403
    assert "单独同意" in r.text


def test_face_form_with_a_photo(make_user: Callable[..., str], client_as: Callable[..., TestClient]) -> None:
    client = client_as(make_user())
    r = client.post(
        "/identity/verify",
        data={"level": "face", "name": "张三", "id_number": make_id(), "consent": [ID, "sensitive.face"]},
        files={"photo": ("me.png", image_bytes("PNG"), "image/png")},
        headers=HTML,
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    assert 'data-status="verified"' in client.get(r.headers["location"], headers=HTML).text


def test_review_through_the_pages_with_a_logged_reveal(
    make_user: Callable[..., str],
    make_reviewer: Callable[..., str],
    client_as: Callable[..., TestClient],
) -> None:
    person = client_as(make_user())
    r = person.post(
        "/identity/review",
        data={
            "document_type": "hk_macao_permit",
            "name": "陈大文",
            "document_number": "H12345678",
            "birth_date": "1988-08-08",
            "consent": [ID, DOC],
        },
        files=[("images", ("front.jpg", image_bytes(), "image/jpeg"))],
        headers=HTML,
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    review_id = r.headers["location"].rsplit("/", 1)[-1]
    reviewer = client_as(make_reviewer(), role="operator")
    queue = reviewer.get("/operator/identity", headers=HTML)
    assert queue.status_code == 200
    assert "陈**" in queue.text and "陈大文" not in queue.text and "H12345678" not in queue.text
    detail = reviewer.get(f"/operator/identity/reviews/{review_id}", headers=HTML)
    assert "陈大文" not in detail.text and 'id="reveal-button"' in detail.text
    opened = reviewer.post(
        f"/operator/identity/reviews/{review_id}/reveal",
        data={"reason": "identity_review", "note": "核对"},
        headers=HTML,
    )
    assert opened.status_code == 200
    assert "陈大文" in opened.text and "H12345678" in opened.text
    assert "data:image/jpeg;base64," in opened.text
    r = reviewer.post(
        f"/operator/identity/reviews/{review_id}/decide",
        data={"decision": "approve", "reason": "证件一致"},
        headers=HTML,
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = person.get("/identity", headers=HTML).text
    assert 'id="staff-access-log"' in page and "实名认证人工审核" in page and "核对" in page
    assert "人工审核（证件照片）" in page


def test_reviewer_pages_refuse_people_without_the_role(
    make_user: Callable[..., str], make_reviewer: Callable[..., str], client_as: Callable[..., TestClient]
) -> None:
    assert client_as(make_user()).get("/operator/identity", headers=HTML).status_code == 403
    support = client_as(make_reviewer(role="support"), role="operator")
    assert support.get("/operator/identity", headers=HTML).status_code == 403


def test_withdraw_button_and_guardian_code_page(
    make_user: Callable[..., str], client_as: Callable[..., TestClient], runtime: Runtime
) -> None:
    client = client_as(make_user([ID]))
    r = client.post("/identity/consents/withdraw", data={"purpose": ID}, headers=HTML, follow_redirects=False)
    assert r.headers["location"] == "/identity?notice=identity_consent_withdrawn"
    assert "已撤回同意" in client.get(r.headers["location"], headers=HTML).text
    runtime.settings.guardian_path = True
    r = client.post("/identity/guardian/request", headers=HTML)
    assert r.status_code == 200 and 'id="guardian-code"' in r.text and "G-" in r.text


def test_mounted_sandbox_page_lists_rules(
    make_user: Callable[..., str], client_as: Callable[..., TestClient]
) -> None:
    client = client_as(make_user())
    r = client.get("/sandbox/identity", headers=HTML)
    assert r.status_code == 200
    assert "999" in r.text and "查无此人" in r.text
