"""Fields placed by drag and drop: the editor's JSON read by the new-contract form (contracts/placement.py)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from qianshu.contracts import service as contracts_service
from qianshu.contracts.errors import FieldInvalid
from qianshu.contracts.placement import MAX_PLACED, parse_placement
from qianshu.core.runtime import Runtime

SENDER, SIGNER, OTHER = "13900139070", "13800138071", "13800138072"
HTML = {"accept": "text/html"}


def _pdf() -> bytes:
    out = io.BytesIO()
    doc = canvas.Canvas(out, pagesize=A4)
    for i in range(2):
        doc.drawString(72, 760, f"Page {i + 1}")
        doc.showPage()
    doc.save()
    return out.getvalue()


def _post(c: Any, data: dict[str, str]) -> Any:
    fields = {"source": "upload", "action": "draft", **data, "csrf_token": str(c.cookies.get("qs_csrf"))}
    files = {"file": ("c.pdf", _pdf(), "application/pdf")}
    return c.post("/contracts/new", data=fields, files=files, headers=HTML)


def _field(signer: Any = 0, kind: str = "signature", page: int = 0, **box: Any) -> dict[str, Any]:
    return {"signer": signer, "kind": kind, "page": page, "x1": 100, "y1": 120, "x2": 240, "y2": 176, **box}


def test_parse_placement_groups_fields_by_signer_and_keeps_signatures_required() -> None:
    raw = json.dumps([_field(), _field(1, "date", 1, required=False), _field(1, "seal", 1), _field(0, "text")])
    placed = parse_placement(raw, 4)
    assert sorted(placed) == [0, 1]
    assert [f["kind"] for f in placed[0]] == ["signature", "text"]
    assert placed[0][0] == {
        "kind": "signature",
        "page": 0,
        "x1": 100.0,
        "y1": 120.0,
        "x2": 240.0,
        "y2": 176.0,
        "required": True,
    }
    assert placed[0][1]["required"] is False and placed[1][0]["required"] is False
    assert placed[1][1]["required"] is True  # a seal is always required


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("not json", "无法读取"),
        ('{"a": 1}', "无法读取"),
        (json.dumps([1]), "第 1 个签署区域无法读取"),
        (json.dumps([_field(kind="stamp")]), "类型无效"),
        (json.dumps([_field(signer=4)]), "不属于任何签署方"),
        (json.dumps([_field(signer=True)]), "不属于任何签署方"),
        (json.dumps([_field(page=-1)]), "页码无效"),
        (json.dumps([_field(x1="10")]), "坐标无效"),
        ('[{"signer": 0, "kind": "text", "page": 0, "x1": NaN, "y1": 1, "x2": 30, "y2": 30}]', "坐标无效"),
        (json.dumps([_field()] * (MAX_PLACED + 1)), "过多"),
    ],
)
def test_parse_placement_refuses_malformed_input(raw: str, message: str) -> None:
    with pytest.raises(FieldInvalid) as info:
        parse_placement(raw, 4)
    assert message in str(info.value.to_problem(locale="zh-CN")["detail"])


def test_placed_fields_replace_the_coordinate_inputs(
    browser: Callable[..., Any], make_person: Callable[..., str], runtime: Runtime
) -> None:
    owner = make_person(SENDER, verified=False)
    sender = browser(SENDER)
    placement = [
        _field(),
        _field(0, "date", 1, x1=300, y1=400, x2=410, y2=422),
        _field(1, "checkbox", 0, x1=50, y1=50, x2=66, y2=66),
        _field(1, "signature", 1, x1=60.123, y1=70, x2=200, y2=126),
    ]
    r = _post(
        sender,
        {
            "s0_contact": SIGNER,
            "s0_x": "80",
            "s0_y": "90",
            "s0_w": "150",
            "s0_h": "60",
            "s1_contact": OTHER,
            "placement": json.dumps(placement),
        },
    )
    assert r.status_code == 303, r.text
    contract_id = r.headers["location"].split("/")[2].split("?")[0]
    with runtime.transaction() as s:
        contract = contracts_service.get_contract_or_raise(session=s, contract_id=contract_id, owner_id=owner)
    by_rcp = {
        rcp.id: sorted(
            (f.kind, f.page, f.x1, f.y1, f.x2, f.y2, f.required) for f in contract.fields if f.recipient_id == rcp.id
        )
        for rcp in contract.recipients
    }
    rows = sorted(by_rcp.values(), key=len)
    assert sorted(rows) == sorted(
        [
            [("date", 1, 300.0, 400.0, 410.0, 422.0, False), ("signature", 0, 100.0, 120.0, 240.0, 176.0, True)],
            [("checkbox", 0, 50.0, 50.0, 66.0, 66.0, False), ("signature", 1, 60.12, 70.0, 200.0, 126.0, True)],
        ]
    )


@pytest.mark.parametrize(
    ("placement", "extra", "message"),
    [
        ([_field(x2=700)], {}, "超出第 1 页"),  # A4 is 595 points wide
        ([_field(page=2)], {}, "第 3 页不存在"),
        ([_field(kind="date")], {}, "签名或盖章区域"),
        ([_field(), _field(1)], {}, "签署方 2 未填写手机号或邮箱"),
        ([], {}, "签名或盖章区域"),
        ([_field(kind="seal")], {}, "个人签署方不能使用印章"),
        ([_field(x2=104)], {}, "第 1 个签署区域太小（至少 8 × 8 点）"),
        ([_field(x1=-3)], {}, "第 1 个签署区域超出第 1 页"),
    ],
)
def test_badly_placed_fields_are_refused_readably_and_nothing_is_created(
    browser: Callable[..., Any],
    make_person: Callable[..., str],
    runtime: Runtime,
    placement: list[dict[str, Any]],
    extra: dict[str, str],
    message: str,
) -> None:
    owner = make_person(SENDER, verified=False)
    sender = browser(SENDER)
    raw = json.dumps(placement)
    r = _post(sender, {"s0_contact": SIGNER, "placement": raw, **extra})
    assert 400 <= r.status_code < 500 and 'class="notice error"' in r.text
    assert message in r.text, r.text[:3000]
    # the editor gets its boxes back, and the form its signer
    assert 'name="placement"' in r.text and SIGNER in r.text
    assert raw == "[]" or "&#34;signer&#34;: 0" in r.text
    with runtime.transaction() as s:
        assert contracts_service.list_contracts(session=s, user_id=owner, contact_bidxs=[]) == []


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e999", "abc"])
def test_a_coordinate_input_that_is_no_finite_number_is_refused_readably(
    browser: Callable[..., Any], make_person: Callable[..., str], runtime: Runtime, value: str
) -> None:
    owner = make_person(SENDER, verified=False)
    sender = browser(SENDER)
    for name in ("s0_page", "s0_x", "s0_order"):
        r = _post(sender, {"s0_contact": SIGNER, name: value})
        assert r.status_code == 422 and 'class="notice error"' in r.text, (name, r.status_code)
        assert f"{name} 应为数字" in r.text
    with runtime.transaction() as s:
        assert contracts_service.list_contracts(session=s, user_id=owner, contact_bidxs=[]) == []
