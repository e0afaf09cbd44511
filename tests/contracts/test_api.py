"""The contracts REST API: documents, templates (A7), contracts, signing links; errors as problem+json."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.contracts.conftest import Sent
from tests.support.corpus import corpus_file

SENDER, SIGNER, OTHER = "13900139000", "13800138001", "13800138002"
BODY = "甲方：{{甲方}}\n乙方：{{乙方}}\n\n双方就{{事项}}达成协议。"
VALUES = {"甲方": "张三", "乙方": "李四", "事项": "软件开发"}


def _problem(r: Any, status: int, slug: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["status"] == status and body["title"] and body["detail"]
    if slug is not None:
        assert body["type"].endswith(slug), body["type"]
    return body


def _signer(phone: str = SIGNER, order: int = 1, y: float = 90) -> dict[str, Any]:
    return {
        "phone": phone,
        "routing_order": order,
        "fields": [{"kind": "signature", "page": 0, "x1": 80, "y1": y, "x2": 230, "y2": y + 60}],
    }


def _document(c: Any, public: bool = False) -> str:
    tpl = c.post("/api/v1/templates", json={"title": "服务合同", "body": BODY, "is_public": public})
    assert tpl.status_code == 201, tpl.text
    doc = c.post(f"/api/v1/templates/{tpl.json()['id']}/documents", json={"values": VALUES})
    assert doc.status_code == 201, doc.text
    return str(doc.json()["id"])


def _sent(c: Any, signers: list[dict[str, Any]]) -> tuple[str, dict[str, str]]:
    created = c.post("/api/v1/contracts", json={"document_id": _document(c), "recipients": signers})
    assert created.status_code == 201 and created.json()["status"] == "draft", created.text
    contract_id = created.json()["id"]
    sent = c.post(f"/api/v1/contracts/{contract_id}/send")
    assert sent.status_code == 200 and sent.json()["contract"]["status"] == "sent"
    masked = {r["id"]: r["contact_masked"] for r in sent.json()["contract"]["recipients"]}
    links = {}
    for link in sent.json()["links"]:
        phone = next(s["phone"] for s in signers if s["phone"][-4:] == masked[link["recipient_id"]][-4:])
        links[phone] = link["url"].rsplit("/", 1)[1]
    return contract_id, links


# --- A7: templates without verification ------------------------------------------------------


def test_templates_list_read_and_download_logged_out_and_unverified(
    api: Callable[..., Any], make_person: Callable[..., str], runtime: Any
) -> None:
    from qianshu.accounts import service as accounts_service
    from qianshu.contracts import service as contracts_service
    from qianshu.contracts.schemas import TemplateCreate

    with runtime.transaction() as s:
        op = accounts_service.create_operator(
            session=s, clock=runtime.clock, email="ops@qianshu.example", password="Qianshu-contracts-2026!"
        )
        public = contracts_service.create_template(
            session=s,
            clock=runtime.clock,
            owner_id=op.id,
            data=TemplateCreate(title="公共租赁合同", body=BODY, is_public=True),
            is_operator=True,
        )
    make_person(SENDER, verified=False)
    for c in (api(), api(SENDER)):  # logged out; signed in but not verified
        listed = c.get("/api/v1/templates")
        assert listed.status_code == 200 and public.id in [t["id"] for t in listed.json()]
        read = c.get(f"/api/v1/templates/{public.id}")
        assert read.status_code == 200 and read.json()["variables"] == ["甲方", "乙方", "事项"]
        pdf = c.get(f"/api/v1/templates/{public.id}/pdf")
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        assert pdf.headers["content-type"] == "application/pdf"
    anon = api()
    assert anon.get("/templates", headers={"accept": "text/html"}).status_code == 200
    assert anon.get(f"/templates/{public.id}/download").content.startswith(b"%PDF")
    _problem(anon.get("/api/v1/templates/tpl_aaaaaaaaaaaaaaaaaaaa"), 404, "contract-template-not-found")
    # an unverified person may also create and fill templates, and send contracts
    unverified = api(SENDER)
    _problem(unverified.post("/api/v1/templates", json={"title": "x", "body": "y", "is_public": True}), 403)
    assert _document(unverified)
    _problem(anon.post("/api/v1/templates", json={"title": "x", "body": "y"}), 401)


def test_signing_requires_the_verification_level(
    api: Callable[..., Any], make_person: Callable[..., str], sent: Sent
) -> None:
    make_person(SENDER, verified=False)
    make_person(SIGNER, verified=False)
    _contract_id, links = _sent(api(SENDER), [_signer()])
    signer = api(SIGNER)
    token = links[SIGNER]
    assert signer.post(f"/api/v1/sign/{token}/intent-code").status_code == 202
    r = signer.post(f"/api/v1/sign/{token}/sign", json={"code": sent.code(SIGNER, "otp_contract_sign")})
    body = _problem(r, 403)
    assert "verification" in body["type"] or "identity" in body["type"] or "level" in body["type"], body


# --- the whole flow through the API ------------------------------------------------------------


def test_create_send_and_sign_in_order_through_the_api(
    api: Callable[..., Any], make_person: Callable[..., str], sent: Sent
) -> None:
    make_person(SENDER, verified=False)
    make_person(SIGNER, name="李四")
    make_person(OTHER, name="王五")
    sender = api(SENDER)
    contract_id, links = _sent(sender, [_signer(SIGNER, 1, 90), _signer(OTHER, 2, 170)])
    anon = api()

    # the second signer must wait for the first
    view = anon.get(f"/api/v1/sign/{links[OTHER]}")
    assert view.status_code == 200 and view.json()["access_granted"] is False and view.json()["title"] == ""
    _problem(anon.post(f"/api/v1/sign/{links[OTHER]}/intent-code"), 403, "signer-access-required")

    # the first signer proves the phone by code and signs with the access header
    assert anon.post(f"/api/v1/sign/{links[SIGNER]}/access-code").json()["sent_to"] == "138****8001"
    _problem(anon.post(f"/api/v1/sign/{links[SIGNER]}/access", json={"code": "12"}), 422)
    access = anon.post(
        f"/api/v1/sign/{links[SIGNER]}/access", json={"code": sent.code(SIGNER, "otp_contract_access")}
    ).json()["access"]
    h = {"X-Signing-Access": access}
    view = anon.get(f"/api/v1/sign/{links[SIGNER]}", headers=h).json()
    assert view["access_granted"] and view["your_turn"] and view["title"] == "服务合同"
    assert anon.post(f"/api/v1/sign/{links[SIGNER]}/intent-code", headers=h).status_code == 202
    code = sent.code(SIGNER, "otp_contract_sign")
    wrong = "000000" if code != "000000" else "111111"
    _problem(anon.post(f"/api/v1/sign/{links[SIGNER]}/sign", headers=h, json={"code": wrong}), 422)
    _problem(
        anon.post(
            f"/api/v1/sign/{links[SIGNER]}/sign",
            headers=h,
            json={"code": code, "appearance": "handwriting", "handwriting_png_b64": "not base64!"},
        ),
        422,
    )
    signed = anon.post(f"/api/v1/sign/{links[SIGNER]}/sign", headers=h, json={"code": code})
    assert signed.status_code == 200 and signed.json()["recipient"]["status"] == "signed"
    _problem(anon.post(f"/api/v1/sign/{links[SIGNER]}/sign", headers=h, json={"code": code}), 409)
    assert sender.get(f"/api/v1/contracts/{contract_id}").json()["status"] == "sent"
    assert sent.last(OTHER, "contract_sign_request")  # the next group was told

    # the second signer is signed in as that recipient: no access code needed
    other = api(OTHER)
    assert other.post(f"/api/v1/sign/{links[OTHER]}/intent-code").status_code == 202
    done = other.post(f"/api/v1/sign/{links[OTHER]}/sign", json={"code": sent.code(OTHER, "otp_contract_sign")})
    assert done.status_code == 200 and done.json()["status"] == "completed"
    final = sender.get(f"/api/v1/contracts/{contract_id}").json()
    assert final["status"] == "completed" and final["signatures"] == 2 and final["signed_sha256"]
    pdf = sender.get(f"/api/v1/contracts/{contract_id}/pdf")
    assert pdf.status_code == 200 and pdf.content.count(b"/ByteRange") >= 2
    assert other.get(f"/api/v1/sign/{links[OTHER]}/pdf").content == pdf.content
    listed = other.get("/api/v1/contracts", params={"box": "completed"}).json()
    assert [c["id"] for c in listed["items"]] == [contract_id] and listed["next_cursor"] is None
    _problem(sender.post(f"/api/v1/contracts/{contract_id}/revoke", json={"reason": "晚了"}), 409, "contract-state")


# --- bad input: problem+json, nothing half-created ----------------------------------------------


def test_bad_requests_answer_problem_json(api: Callable[..., Any], make_person: Callable[..., str]) -> None:
    make_person(SENDER, verified=False)
    make_person(OTHER, verified=False)
    sender = api(SENDER)
    _problem(api().post("/api/v1/contracts", json={}), 401)
    r = sender.post("/api/v1/documents", content=b"hello", headers={"content-type": "application/pdf"})
    assert 400 <= r.status_code < 500 and r.headers["content-type"].startswith("application/problem+json")
    _problem(sender.post("/api/v1/documents", content=b"%PDF", headers={"content-type": "text/plain"}), 400)
    enc = corpus_file("enc_user_aes128.pdf")
    r = sender.post("/api/v1/documents", content=enc, headers={"content-type": "application/pdf"})
    assert 400 <= r.status_code < 500 and r.headers["content-type"].startswith("application/problem+json")
    doc = _document(sender)
    cases: list[tuple[dict[str, Any], int, str | None]] = [
        ({"document_id": doc, "recipients": []}, 422, None),
        (
            {"document_id": doc, "recipients": [{"role": "cc", "phone": SIGNER}]},
            422,
            "contract-recipient-invalid",
        ),
        (
            {"document_id": doc, "recipients": [{**_signer(), "phone": None}]},
            422,
            "contract-recipient-invalid",
        ),
        (
            {
                "document_id": doc,
                "recipients": [{**_signer(), "fields": [{**_signer()["fields"][0], "page": 3}]}],
            },
            422,
            "contract-field-invalid",
        ),
        (
            {
                "document_id": doc,
                "recipients": [{**_signer(), "fields": [{**_signer()["fields"][0], "x2": 9000}]}],
            },
            422,
            "contract-field-invalid",
        ),
        ({"document_id": "doc_aaaaaaaaaaaaaaaaaaaa", "recipients": [_signer()]}, 404, "contract-not-found"),
        ({"document_id": doc, "recipients": [_signer()], "deadline": "2001-01-01T00:00:00Z"}, 409, None),
        ({"document_id": doc, "recipients": [_signer()], "surprise": 1}, 422, None),
    ]
    for payload, status, slug in cases:
        _problem(sender.post("/api/v1/contracts", json=payload), status, slug)
    assert sender.get("/api/v1/contracts").json() == {"items": [], "next_cursor": None}
    # others' documents and contracts look absent; unknown links are 404
    other = api(OTHER)
    _problem(other.post("/api/v1/contracts", json={"document_id": doc, "recipients": [_signer()]}), 404)
    created = sender.post("/api/v1/contracts", json={"document_id": doc, "recipients": [_signer()]}).json()
    _problem(other.get(f"/api/v1/contracts/{created['id']}"), 404, "contract-not-found")
    _problem(other.post(f"/api/v1/contracts/{created['id']}/send"), 404)
    _problem(api().get("/api/v1/sign/" + "x" * 43), 404, "signing-link-invalid")
    _problem(api().get("/api/v1/sign/short"), 404, "signing-link-invalid")
    # send twice
    assert sender.post(f"/api/v1/contracts/{created['id']}/send").status_code == 200
    _problem(sender.post(f"/api/v1/contracts/{created['id']}/send"), 409, "contract-state")
    _problem(sender.post(f"/api/v1/contracts/{created['id']}/revoke", json={"reason": ""}), 422)


@pytest.mark.parametrize("box", ["all", "mine", "others", "completed", "closed"])
def test_list_boxes_accept_known_names_only(api: Callable[..., Any], make_person: Callable[..., str], box: str) -> None:
    make_person(SENDER, verified=False)
    c = api(SENDER)
    assert c.get("/api/v1/contracts", params={"box": box}).status_code == 200
    _problem(c.get("/api/v1/contracts", params={"box": "nope"}), 422)
