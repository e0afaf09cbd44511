"""Placing fields by drag and drop on pages drawn by pdf.js, in Chromium (contracts/placement.py)."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import pytest

from qianshu.accounts import service as accounts_service
from qianshu.contracts import service as contracts_service
from tests.e2e.conftest import PHONE, LiveServer, screenshot
from tests.e2e.flows import SmsInbox, contract_from_template, register

pytestmark = pytest.mark.e2e

SENDER, SIGNER = "13900139171", "13800138272"
# page 1: A4 at the origin; page 2: a MediaBox that does not start at (0, 0)
BOXES = ((0.0, 0.0, 595.28, 841.89), (100.0, 200.0, 712.0, 992.0))
SIGNATURE = (140.0, 56.0)  # the editor's default signature box, in points
TOLERANCE = 2.0  # points: a CSS pixel is about 0.8 point at this width


def _pdf(boxes: tuple[tuple[float, float, float, float], ...]) -> bytes:
    """Return a small PDF whose pages have the given MediaBoxes, each with a frame drawn inside."""
    objects: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>", b""]
    kids = []
    font = 3 + 2 * len(boxes)
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        page_no, content_no = 3 + 2 * i, 4 + 2 * i
        kids.append(f"{page_no} 0 R".encode())
        stream = (
            f"{x1 + 20} {y1 + 20} {x2 - x1 - 40} {y2 - y1 - 40} re S "
            f"BT /F1 18 Tf {x1 + 40} {y2 - 60} Td (Page {i + 1}) Tj ET"
        ).encode()
        data = zlib.compress(stream)
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [{x1} {y1} {x2} {y2}] "
            f"/Resources << /Font << /F1 {font} 0 R >> >> /Contents {content_no} 0 R >>".encode()
        )
        objects.append(b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(data) + data + b"\nendstream")
    objects[1] = b"<< /Type /Pages /Kids [" + b" ".join(kids) + b"] /Count %d >>" % len(boxes)
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _drag(page: Any, selector: str, to: tuple[float, float]) -> None:
    """Press the mouse on `selector`, move in steps to the viewport point `to`, release."""
    box = page.locator(selector).bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(to[0], to[1], steps=12)
    page.mouse.up()


def _point(page: Any, index: int, fx: float, fy: float) -> tuple[float, float]:
    """Return the viewport point at fractions (fx, fy) of page `index` (from its top-left), scrolled into view."""
    target = page.locator(f".pl-page[data-page='{index}']")
    target.scroll_into_view_if_needed()
    rect = target.bounding_box()
    return rect["x"] + fx * rect["width"], rect["y"] + fy * rect["height"]


def _expected(index: int, fx: float, fy: float, size: tuple[float, float]) -> tuple[float, float, float, float]:
    """The PDF rectangle of a box of `size` points centred at fractions (fx, fy) of the page (origin bottom-left)."""
    x1, y1, x2, y2 = BOXES[index]
    cx, cy = x1 + fx * (x2 - x1), y2 - fy * (y2 - y1)
    return cx - size[0] / 2, cy - size[1] / 2, cx + size[0] / 2, cy + size[1] / 2


def _stored(server: LiveServer, url: str) -> Any:
    """Return the sender's contract shown at `url` (its detail page), as stored."""
    contract_id = url.split("?")[0].rstrip("/").split("/")[-1]
    with server.runtime.transaction() as s:
        user = accounts_service.find_user(session=s, phone=SENDER)
        assert user is not None
        return contracts_service.get_contract_or_raise(session=s, contract_id=contract_id, owner_id=user.id)


def _close(got: tuple[float, ...], want: tuple[float, ...]) -> bool:
    return all(abs(a - b) <= TOLERANCE for a, b in zip(got, want, strict=True))


def test_sender_drags_fields_onto_the_pages_and_they_are_stored_in_pdf_points(
    new_page: Any, live_server: LiveServer, tmp_path: Path
) -> None:
    inbox = SmsInbox(live_server)
    sender = new_page()
    errors: list[str] = []
    sender.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    sender.on("pageerror", lambda e: errors.append(str(e)))
    register(sender, inbox, phone=SENDER)
    pdf = tmp_path / "two-pages.pdf"
    pdf.write_bytes(_pdf(BOXES))

    sender.goto("/contracts/new")
    assert sender.locator(".coords").first.is_visible()  # before a PDF is drawn, the coordinates show
    sender.fill("#f-title", "拖放签署区域测试")
    sender.fill("#s0-contact", SIGNER)
    sender.set_input_files("#f-file", str(pdf))
    sender.wait_for_selector("#placement.pl-active .pl-page[data-page='1'] canvas")
    assert not sender.locator(".coords").first.is_visible()  # the editor replaces them
    assert "签署方 1 · " + SIGNER in sender.inner_text("#pl-signer")

    # a signature dropped on page 1, a text field dropped half off the right edge of page 2 (clamped)
    _drag(sender, "#pl-add-signature", _point(sender, 0, 0.3, 0.7))
    assert sender.locator(".pl-box").count() == 1
    _drag(sender, "#pl-add-text", _point(sender, 1, 0.995, 0.5))
    assert sender.locator(".pl-box").count() == 2
    # dropped outside every page: refused, with a message
    _drag(sender, "#pl-add-date", (5, 5))
    assert sender.locator(".pl-box").count() == 2
    assert "需要放在页面上" in sender.inner_text("#pl-status")
    # the keyboard path: the date button adds a date field to the visible page; Delete removes it
    sender.focus("#pl-add-date")
    sender.keyboard.press("Enter")
    assert sender.locator(".pl-box[data-kind=date]").count() == 1
    sender.keyboard.press("Delete")
    assert sender.locator(".pl-box[data-kind=date]").count() == 0

    # move the signature box by dragging it: 10 % of the page right and up
    sig = sender.locator(".pl-box[data-kind=signature]")
    sig.scroll_into_view_if_needed()
    start = sig.bounding_box()
    page_rect = sender.locator(".pl-page[data-page='0']").bounding_box()
    sender.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    sender.mouse.down()
    sender.mouse.move(
        start["x"] + start["width"] / 2 + 0.1 * page_rect["width"],
        start["y"] + start["height"] / 2 - 0.1 * page_rect["height"],
        steps=8,
    )
    sender.mouse.up()
    screenshot(sender, "placement-editor-desktop")
    assert not errors, errors

    sender.click("#save-draft")
    sender.wait_for_selector("#timeline")
    contract = _stored(live_server, sender.url)
    fields = {f.kind: f for f in contract.fields}
    assert sorted(fields) == ["signature", "text"]
    signature, text = fields["signature"], fields["text"]
    got = (signature.x1, signature.y1, signature.x2, signature.y2)
    assert signature.page == 0 and _close(got, _expected(0, 0.4, 0.6, SIGNATURE)), got
    # clamped to the right edge of page 2, whose MediaBox starts at (100, 200)
    _, y1, x2, y2 = BOXES[1]
    assert text.page == 1 and abs(text.x2 - x2) <= 0.01 and abs(text.x1 - (x2 - 150)) <= 0.01, text
    assert abs((text.y1 + text.y2) / 2 - (y1 + y2) / 2) <= TOLERANCE, text


def test_the_editor_fits_a_phone_and_a_field_can_be_added_by_button(
    new_page: Any, live_server: LiveServer, tmp_path: Path
) -> None:
    inbox = SmsInbox(live_server)
    phone = new_page(PHONE)
    register(phone, inbox, phone=SENDER)
    pdf = tmp_path / "two-pages.pdf"
    pdf.write_bytes(_pdf(BOXES))
    phone.goto("/contracts/new")
    phone.fill("#s0-contact", SIGNER)
    phone.set_input_files("#f-file", str(pdf))
    phone.wait_for_selector("#placement.pl-active .pl-page[data-page='1'] canvas")
    phone.locator(".pl-page[data-page='0']").scroll_into_view_if_needed()
    phone.click("#pl-add-signature")
    assert phone.locator(".pl-box[data-kind=signature]").count() == 1
    screenshot(phone, "placement-editor-phone")
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the placement page scrolls sideways ({width}px)"
    phone.click("#save-draft")
    phone.wait_for_selector("#timeline")


def test_fields_are_dragged_onto_a_template_drafts_pages(new_page: Any, live_server: LiveServer) -> None:
    inbox = SmsInbox(live_server)
    sender = new_page()
    register(sender, inbox, phone=SENDER)
    contract_from_template(
        sender,
        title="房屋租赁合同",
        body="出租方：{{甲方}}\n承租方：{{乙方}}\n\n月租金人民币{{租金}}元。",
        values={"甲方": "张三", "乙方": "李四", "租金": "3000"},
        signer=SIGNER,
    )
    sender.click("#save-draft")
    sender.wait_for_selector("#timeline")

    sender.click("#edit-fields")
    sender.wait_for_selector("#placement.pl-active .pl-page[data-page='0'] canvas")
    # the draft's own field (placed with the form's default coordinates) is shown; move it by dragging
    assert sender.locator(".pl-box[data-kind=signature]").count() == 1
    sender.locator(".pl-box[data-kind=signature]").first.focus()
    sender.keyboard.press("Delete")
    _drag(sender, "#pl-add-signature", _point(sender, 0, 0.7, 0.8))
    _drag(sender, "#pl-add-date", _point(sender, 0, 0.7, 0.9))
    assert sender.locator(".pl-box").count() == 2
    screenshot(sender, "placement-template-draft")
    sender.click("#save-fields")
    sender.wait_for_selector("#timeline")
    assert "contracts_fields_saved" in sender.url
    assert sender.locator("[data-action='contract.fields_placed']").count() == 1

    contract = _stored(live_server, sender.url)
    fields = {f.kind: f for f in contract.fields}
    assert sorted(fields) == ["date", "signature"]
    a4 = (0.0, 0.0, 595.28, 841.89)
    cx, cy = a4[2] * 0.7, a4[3] * (1 - 0.8)
    sig = fields["signature"]
    assert abs((sig.x1 + sig.x2) / 2 - cx) <= TOLERANCE and abs((sig.y1 + sig.y2) / 2 - cy) <= TOLERANCE, sig
    sender.click("#send-draft")
    sender.wait_for_selector("[data-status=sent]")
