"""Placing a draft's fields after creation (contracts/drafts.py): the API's PUT and the page's editor."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tests.contracts.test_api import _document, _problem, _signer

SENDER, FIRST, SECOND, OTHER = "13900139500", "13800138501", "13800138502", "13800138503"


def _fields(c: Any, contract_id: str) -> list[tuple[str, str, int, float, float, float, float]]:
    body = c.get(f"/api/v1/contracts/{contract_id}").json()
    return sorted((f["recipient_id"], f["kind"], f["page"], f["x1"], f["y1"], f["x2"], f["y2"]) for f in body["fields"])


def _draft(c: Any) -> tuple[str, list[str]]:
    created = c.post(
        "/api/v1/contracts", json={"document_id": _document(c), "recipients": [_signer(FIRST), _signer(SECOND, 2)]}
    )
    assert created.status_code == 201, created.text
    body = created.json()
    return body["id"], [r["id"] for r in body["recipients"]]


def _box(kind: str, x: float, y: float, page: int = 0, **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "page": page, "x1": x, "y1": y, "x2": x + 150, "y2": y + 60, **extra}


def test_the_sender_replaces_every_signers_fields_of_a_draft_through_the_api(
    api: Callable[..., Any], make_person: Callable[..., str]
) -> None:
    make_person(SENDER, verified=False)
    c = api(SENDER)
    contract_id, (first, second) = _draft(c)
    body = {
        "recipients": [
            {"recipient_id": first, "fields": [_box("signature", 300, 400), _box("date", 300, 340, required=False)]},
            {"recipient_id": second, "fields": [_box("signature", 60, 120), _box("text", 60, 200)]},
        ]
    }
    r = c.put(f"/api/v1/contracts/{contract_id}/fields", json=body)
    assert r.status_code == 200, r.text
    assert _fields(c, contract_id) == sorted(
        [
            (first, "signature", 0, 300, 400, 450, 460),
            (first, "date", 0, 300, 340, 450, 400),
            (second, "signature", 0, 60, 120, 210, 180),
            (second, "text", 0, 60, 200, 210, 260),
        ]
    )
    sent = c.post(f"/api/v1/contracts/{contract_id}/send")
    assert sent.status_code == 200, sent.text
    # once sent, the fields are what the signers were asked to fill
    late = c.put(f"/api/v1/contracts/{contract_id}/fields", json=body)
    _problem(late, 409)


def test_bad_placements_are_refused_and_change_nothing(
    api: Callable[..., Any], make_person: Callable[..., str]
) -> None:
    make_person(SENDER, verified=False)
    make_person(OTHER, verified=False)
    c = api(SENDER)
    contract_id, (first, second) = _draft(c)
    before = _fields(c, contract_id)
    url = f"/api/v1/contracts/{contract_id}/fields"
    good_second = {"recipient_id": second, "fields": [_box("signature", 60, 120)]}
    cases = {
        "off the page": [{"recipient_id": first, "fields": [_box("signature", 500, 400)]}, good_second],
        "page missing": [{"recipient_id": first, "fields": [_box("signature", 60, 400, page=3)]}, good_second],
        "signer left out": [good_second],
        "two signatures": [
            {"recipient_id": first, "fields": [_box("signature", 60, 400), _box("signature", 60, 600)]},
            good_second,
        ],
        "seal for a person": [{"recipient_id": first, "fields": [_box("seal", 60, 400)]}, good_second],
        "unknown recipient": [
            {"recipient_id": "rcp_aaaaaaaaaaaaaaaaaaaa", "fields": [_box("signature", 60, 400)]},
            {"recipient_id": first, "fields": [_box("signature", 60, 400)]},
            good_second,
        ],
        "twice": [{"recipient_id": first, "fields": [_box("signature", 60, 400)]}, good_second, good_second],
    }
    for name, recipients in cases.items():
        r = c.put(url, json={"recipients": recipients})
        _problem(r, 422)
        assert _fields(c, contract_id) == before, name
    _problem(c.put(url, json={"recipients": [{"recipient_id": first, "fields": [{"kind": "signature"}]}]}), 422)
    _problem(c.put(url, content=b"not json", headers={"content-type": "application/json"}), 400)
    # someone else's draft looks absent
    _problem(api(OTHER).put(url, json={"recipients": [good_second]}), 404)
    assert _fields(c, contract_id) == before


def test_the_draft_page_shows_the_editor_and_saves_the_placed_fields(
    api: Callable[..., Any], browser: Callable[..., Any], make_person: Callable[..., str]
) -> None:
    make_person(SENDER, verified=False)
    contract_id, (first, second) = _draft(api(SENDER))
    page = browser(SENDER)
    csrf = page.cookies.get("qs_csrf")

    shown = page.get(f"/contracts/{contract_id}/fields", headers={"accept": "text/html"})
    assert shown.status_code == 200, shown.text
    assert f'data-pdf-url="/contracts/{contract_id}/original.pdf"' in shown.text
    assert "签署方 1 · " in shown.text and "签署方 2 · " in shown.text
    detail = page.get(f"/contracts/{contract_id}", headers={"accept": "text/html"})
    assert f'href="/contracts/{contract_id}/fields"' in detail.text

    placed = [
        {"signer": 0, "kind": "signature", "page": 0, "x1": 320, "y1": 500, "x2": 470, "y2": 560},
        {"signer": 1, "kind": "signature", "page": 0, "x1": 72, "y1": 90, "x2": 222, "y2": 150},
        {"signer": 1, "kind": "checkbox", "page": 0, "x1": 72, "y1": 200, "x2": 92, "y2": 220, "required": True},
    ]
    r = page.post(f"/contracts/{contract_id}/fields", data={"csrf_token": csrf, "placement": json.dumps(placed)})
    assert r.status_code == 303 and r.headers["location"].endswith("notice=contracts_fields_saved"), r.text
    c = api(SENDER)
    assert _fields(c, contract_id) == sorted(
        [
            (first, "signature", 0, 320, 500, 470, 560),
            (second, "signature", 0, 72, 90, 222, 150),
            (second, "checkbox", 0, 72, 200, 92, 220),
        ]
    )
    timeline = page.get(f"/contracts/{contract_id}", headers={"accept": "text/html"}).text
    assert 'data-action="contract.fields_placed"' in timeline and "放置签署区域" in timeline
    # the saved fields come back into the editor
    again = page.get(f"/contracts/{contract_id}/fields", headers={"accept": "text/html"}).text
    assert "320.0" in again and "checkbox" in again

    # bad input: the page again with a message and status, nothing changed
    after = _fields(c, contract_id)
    for raw, status, text in (
        ("{broken", 422, "无法读取"),
        (json.dumps([{**placed[1], "signer": 5}]), 422, "不属于任何签署方"),
        (json.dumps(placed[1:]), 422, "需要一个签名或盖章区域"),
        (json.dumps([{**placed[0], "x2": 900}, placed[1]]), 422, "超出第 1 页"),
        ("", 422, "尚未显示"),
    ):
        r = page.post(f"/contracts/{contract_id}/fields", data={"csrf_token": csrf, "placement": raw})
        assert r.status_code == status and text in r.text, (raw, r.status_code)
        assert "text/html" in r.headers["content-type"]
        assert _fields(c, contract_id) == after
    # without the CSRF field nothing is saved
    assert page.post(f"/contracts/{contract_id}/fields", data={"placement": json.dumps(placed)}).status_code == 403

    assert c.post(f"/api/v1/contracts/{contract_id}/send").status_code == 200
    gone = page.get(f"/contracts/{contract_id}/fields", headers={"accept": "text/html"})
    assert gone.status_code == 303 and gone.headers["location"] == f"/contracts/{contract_id}"
    late = page.post(f"/contracts/{contract_id}/fields", data={"csrf_token": csrf, "placement": json.dumps(placed)})
    assert late.status_code == 409 and "不能再修改" in late.text
