"""Two signers, end to end in Chromium: upload, drag-and-drop fields, send, sign with a seal and by hand.

The sender uploads a PDF on /contracts/new, drags a seal field for an organisation's agent and a
signature field for a verified person onto the pages drawn by pdf.js, and sends. Each signer opens
the link from the sandbox SMS inbox, proves the phone, asks for the intent code and signs: the agent
with the organisation's seal, the person by drawing on the handwriting pad with the mouse. Both see
"completed"; the downloaded PDF passes `pdfsig` (trusting only the platform's root) and `qpdf`.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from qianshu.accounts import service as accounts_service
from qianshu.contracts import service as contracts_service
from qianshu.pki import service as pki_service
from tests.contracts.org_signers import SealOrg, two_page_pdf, verify_seal_org
from tests.e2e.conftest import ARTIFACTS, PHONE, LiveServer, screenshot
from tests.e2e.flows import SmsInbox, open_signing_link, register, verify_person
from tests.e2e.test_placement_flow import _drag, _point
from tests.identity.conftest import make_id
from tests.support.live import pdfsig_trusting

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not all(shutil.which(tool) for tool in ("pdfsig", "pdftoppm", "qpdf", "certutil")),
        reason="poppler-utils, qpdf and libnss3-tools are needed",
    ),
]

SENDER, OWNER, AGENT, PERSON = "13900139181", "13700137281", "13600136381", "13500135481"
ORG_NAME = "福建测试科技有限公司"
DPI = 100
PAGE_HEIGHT = 841.89  # A4 (reportlab's A4 in two_page_pdf)


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any]) -> dict[str, Any]:
    return {**settings_overrides, "signing_identity_level": "two_elements"}


def _user_id(server: LiveServer, phone: str) -> str:
    with server.runtime.transaction() as s:
        user = accounts_service.find_user(session=s, phone=phone)
        assert user is not None
        return str(user.id)


def _seal_org(server: LiveServer, new_page: Any, inbox: SmsInbox) -> SealOrg:
    """Register the owner and the agent in the browser; verify the org and grant the seal through the services.

    `verify_seal_org` does the rest, with the micro-deposit going through the sandbox bank
    served by the live server (a real HTTP round trip). The seal needs no approval, so the agent signs alone.
    """
    number = make_id(seq="481")
    for phone, name, id_number in ((OWNER, "王五", number), (AGENT, "赵六", make_id(seq="482"))):
        page = new_page(PHONE)
        register(page, inbox, phone=phone)
        page.context.close()
        verify_person(server, phone, name, id_number)
    owner, agent = _user_id(server, OWNER), _user_id(server, AGENT)
    return verify_seal_org(server.runtime, owner=(owner, OWNER, number), agent=(agent, AGENT), requires_approval=False)


def _open_and_request_intent(page: Any, server: LiveServer, inbox: SmsInbox, phone: str) -> None:
    """Open the signing link from the SMS inbox, prove the phone, ask for the intent code and type it."""
    open_signing_link(page, server, inbox, phone)
    assert page.inner_text("#sign-title") == "双方合作协议"
    page.click("#send-intent-code")
    page.wait_for_selector("#intent-sent")
    page.fill("#intent-code", inbox.wait_for_code(phone))


def _draw_signature(page: Any) -> None:
    """Write a scribble on the handwriting pad with the mouse: three strokes."""
    pad = page.locator("#signpad-canvas")
    pad.scroll_into_view_if_needed()
    box = pad.bounding_box()
    x0, y0, w, h = box["x"], box["y"], box["width"], box["height"]
    strokes = (
        [(0.10, 0.65), (0.18, 0.25), (0.26, 0.70), (0.34, 0.30), (0.42, 0.68)],
        [(0.48, 0.35), (0.60, 0.35), (0.54, 0.35), (0.54, 0.75)],
        [(0.66, 0.70), (0.74, 0.30), (0.82, 0.70), (0.90, 0.40)],
    )
    for stroke in strokes:
        page.mouse.move(x0 + stroke[0][0] * w, y0 + stroke[0][1] * h)
        page.mouse.down()
        for fx, fy in stroke[1:]:
            page.mouse.move(x0 + fx * w, y0 + fy * h, steps=8)
        page.mouse.up()


def _crop(image: Image.Image, field: tuple[int, float, float, float, float]) -> Image.Image:
    """Return the part of a page rendered at DPI that the field (page, x1, y1, x2, y2 in points) covers."""
    _, x1, y1, x2, y2 = field
    scale = DPI / 72
    return image.crop(
        (round(x1 * scale), round((PAGE_HEIGHT - y2) * scale), round(x2 * scale), round((PAGE_HEIGHT - y1) * scale))
    )


def _count(region: Image.Image, test: Callable[[tuple[int, int, int]], bool]) -> int:
    rgb = region.convert("RGB")
    pixels = [rgb.getpixel((x, y)) for y in range(rgb.height) for x in range(rgb.width)]
    return sum(1 for px in pixels if isinstance(px, tuple) and test((px[0], px[1], px[2])))


def test_two_signers_sign_with_a_seal_and_a_drawn_signature_and_the_pdf_verifies(
    new_page: Any, live_server: LiveServer, tmp_path: Path
) -> None:
    inbox = SmsInbox(live_server)
    org = _seal_org(live_server, new_page, inbox)
    person_setup = new_page(PHONE)
    register(person_setup, inbox, phone=PERSON)
    person_setup.context.close()
    verify_person(live_server, PERSON, "李四", make_id(seq="483"))

    # the sender uploads a PDF and drags one field for each signer onto page 1
    sender = new_page()
    errors: list[str] = []
    sender.on("pageerror", lambda e: errors.append(str(e)))
    register(sender, inbox, phone=SENDER)
    pdf = tmp_path / "contract.pdf"
    pdf.write_bytes(two_page_pdf())
    sender.goto("/contracts/new")
    sender.fill("#f-title", "双方合作协议")
    sender.fill("#s0-contact", AGENT)
    sender.click("#signer-0 details.org-signer summary")
    sender.fill("#s0-org", org.org_id)
    sender.fill("#s0-seal", org.seal_id)
    sender.fill("#s1-contact", PERSON)
    sender.set_input_files("#f-file", str(pdf))
    sender.wait_for_selector("#placement.pl-active .pl-page[data-page='1'] canvas")
    sender.select_option("#pl-signer", "0")
    _drag(sender, "#pl-add-seal", _point(sender, 0, 0.72, 0.72))
    sender.select_option("#pl-signer", "1")
    _drag(sender, "#pl-add-signature", _point(sender, 0, 0.3, 0.75))
    assert sender.locator(".pl-box").count() == 2
    assert sender.locator(".pl-box.pl-signer-0.pl-kind-seal").count() == 1
    assert sender.locator(".pl-box.pl-signer-1.pl-kind-signature").count() == 1
    screenshot(sender, "two-party-placement")
    sender.click("#send-contract")
    sender.wait_for_selector("#timeline")
    assert sender.locator("[data-status=sent]").count() == 1
    assert not errors, errors
    detail_url = sender.url.split("?")[0]
    contract_id = detail_url.rstrip("/").split("/")[-1]
    sender_id = _user_id(live_server, SENDER)
    with live_server.runtime.transaction() as s:
        contract = contracts_service.get_contract_or_raise(session=s, contract_id=contract_id, owner_id=sender_id)
        fields = {f.kind: (f.page, f.x1, f.y1, f.x2, f.y2) for f in contract.fields}
    assert sorted(fields) == ["seal", "signature"] and {f[0] for f in fields.values()} == {0}

    # signer A, the organisation's agent, signs with the seal (the only appearance offered to it)
    agent = new_page(PHONE)
    _open_and_request_intent(agent, live_server, inbox, AGENT)
    assert agent.locator("#ap-seal").is_checked() and agent.locator("#signpad").count() == 0
    agent.click("#sign-submit")
    agent.wait_for_selector("#signed-notice", timeout=60_000)

    # signer B draws on the pad; an empty pad is refused first, with a message, and nothing is sent
    person = new_page(PHONE)
    person_errors: list[str] = []
    person.on("pageerror", lambda e: person_errors.append(str(e)))
    _open_and_request_intent(person, live_server, inbox, PERSON)
    assert person.locator("#signpad").is_visible()
    person.check("#ap-hand")
    person.click("#sign-submit")
    assert "请先在签名板上手写签名" in person.inner_text("#signpad-status")
    assert person.locator("#sign-form").count() == 1
    _draw_signature(person)
    person.click("#signpad-clear")  # clear and write again
    assert "已清除" in person.inner_text("#signpad-status")
    _draw_signature(person)
    person.evaluate("window.scrollTo(0, 0)")  # keep the sticky header off the pad in the full-page shot
    screenshot(person, "two-party-handwriting-pad-phone")
    ink = person.evaluate(
        """() => { const c = document.getElementById("signpad-canvas");
                   const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
                   let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }"""
    )
    assert ink > 200, f"the pad shows only {ink} inked pixels after the second drawing"
    width = person.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the signing page scrolls sideways ({width}px)"
    person.click("#sign-submit")
    person.wait_for_selector("#completed-notice", timeout=60_000)
    assert not person_errors, person_errors
    agent.reload()
    agent.wait_for_selector("#completed-notice")

    with person.expect_download() as info:
        person.click("#download-document")
    signed = tmp_path / "signed.pdf"
    signed.write_bytes(Path(info.value.path()).read_bytes())
    sender.goto(detail_url)
    assert sender.locator("[data-status=completed]").count() == 1
    with live_server.runtime.transaction() as s:
        events = contracts_service.contract_events(session=s, contract_id=contract_id, owner_id=sender_id)
    appearances = sorted(str(e.data.get("appearance")) for e in events if e.action == "contract.signed")
    assert appearances == ["handwriting", "seal"], appearances  # the drawing reached the server as the image

    # the file checks out with qpdf, and pdfsig trusting only the platform's root
    qpdf = subprocess.run(["qpdf", "--check", str(signed)], capture_output=True, text=True, timeout=120)
    assert qpdf.returncode == 0, qpdf.stdout + qpdf.stderr
    with live_server.runtime.transaction() as s:
        root = pki_service.ca_certificate(session=s, kind="root").pem
    verdict = pdfsig_trusting(signed, root, tmp_path)
    assert verdict.count("Signature is Valid.") == 2, verdict
    assert verdict.count("Certificate is Trusted.") == 2, verdict
    assert ORG_NAME in verdict and "李四" in verdict, verdict

    # page 1 rendered: red seal ink inside the seal field, dark handwriting inside the signature field
    subprocess.run(
        ["pdftoppm", "-png", "-r", str(DPI), "-f", "1", "-l", "1", str(signed), str(tmp_path / "page")],
        check=True,
        timeout=120,
    )
    page_png = next(tmp_path.glob("page-*1.png"))
    shutil.copy(page_png, ARTIFACTS / "two-party-signed-page1.png")
    image = Image.open(page_png)
    red = _count(_crop(image, fields["seal"]), lambda p: p[0] > 150 and p[1] < 110 and p[2] < 110)
    dark = _count(_crop(image, fields["signature"]), lambda p: sum(p) < 3 * 110)
    assert red > 200, red
    assert dark > 50, dark
