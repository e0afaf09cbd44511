"""An enterprise verified as its staff would do it, in Chromium, against the served sandboxes.

(c) the owner (verified in person through the identity page) creates the organisation, uploads the
business licence (an operator approves it), is the legal representative, and verifies the
corporate account by micro-deposit, reading the amount from the sandbox bank's statement; the
organisation's certificate is shown; the owner invites an agent, who accepts; the owner generates
the contract seal and authorises the agent to use it. (d) the generated seal is the PNG the
console shows: red ink on a transparent background, round, with the name around the ring.
"""

from __future__ import annotations

import io
import secrets
import time
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.e2e.conftest import ARTIFACTS, LiveServer, screenshot
from tests.e2e.flows import SmsInbox, create_operator, log_in_with_password, register
from tests.e2e.test_identity_flow import id_number

pytestmark = pytest.mark.e2e

ORG_NAME = "福州闽江数字科技有限公司"
USCC = "91350100M000100Y43"
OWNER_PHONE, AGENT_PHONE = "13500135001", "13500135002"


def _verify_in_person(page: Any, phone: str, name: str, seq: str) -> None:
    """Verify the signed-in person at three elements through the identity page."""
    page.goto("/identity")
    form = page.locator("#level-three_elements")
    form.locator("input[name=name]").fill(name)
    form.locator("input[name=id_number]").fill(id_number(seq=seq))
    form.locator("input[name=phone]").fill(phone)
    form.locator("input[name=consent][value='sensitive.id_number']").check()
    form.locator("#verify-three_elements").click()
    page.wait_for_url("**/identity/verifications/*")
    assert page.get_attribute("#verification-status", "data-status") == "verified"


def _statement(server: LiveServer, account: str) -> list[dict[str, Any]]:
    r = httpx.post(server("/sandbox/bank/v1/statement"), json={"account_number": account}, timeout=10)
    r.raise_for_status()
    lines: list[dict[str, Any]] = r.json()["transfers"]
    return lines


def _wait_for_org_certificate(page: Any, server: LiveServer, org_path: str) -> str:
    deadline = time.monotonic() + 20
    while True:
        server.wake_worker()
        page.goto(org_path)
        if page.locator("#org-certificate").count():
            return str(page.inner_text("#org-certificate"))
        if time.monotonic() > deadline:
            raise AssertionError("the organisation's certificate was not shown")
        time.sleep(0.2)


def _check_seal_png(data: bytes) -> None:
    """A real company seal: round red ink on a transparent background, a star in the middle."""
    seal = Image.open(io.BytesIO(data))
    assert seal.format == "PNG" and seal.mode == "RGBA"
    width, height = seal.size
    assert width == height and width >= 472  # 40 mm across at 300 dpi (a company seal is 40-42 mm)
    pixels = seal.load()
    assert pixels is not None
    assert pixels[2, 2][3] == 0 and pixels[width - 3, height - 3][3] == 0  # transparent corners
    inked = [pixels[x, y] for x in range(0, width, 3) for y in range(0, height, 3) if pixels[x, y][3] > 200]
    assert len(inked) > 500
    reds = [p for p in inked if p[0] > 150 and p[1] < 80 and p[2] < 80]
    assert len(reds) / len(inked) > 0.95  # one red ink
    centre = [
        pixels[x, y][3]
        for x in range(width // 2 - 10, width // 2 + 10)
        for y in range(height // 2 - 10, height // 2 + 10)
    ]
    assert max(centre) > 200  # the star fills the centre


def test_enterprise_verifies_by_micro_deposit_invites_an_agent_and_authorises_the_contract_seal(
    new_page: Any, live_server: LiveServer
) -> None:
    inbox = SmsInbox(live_server)
    agent = new_page()
    register(agent, inbox, phone=AGENT_PHONE)
    _verify_in_person(agent, AGENT_PHONE, "王经办", "125")

    owner = new_page()
    register(owner, inbox, phone=OWNER_PHONE)
    _verify_in_person(owner, OWNER_PHONE, "林法人", "123")

    owner.goto("/orgs/new")
    owner.fill("input[name=name]", ORG_NAME)
    owner.fill("input[name=uscc]", USCC[:-1] + ("X" if USCC[-1] != "X" else "Y"))  # wrong check character
    owner.click("#create-org")
    owner.wait_for_selector(".notice.error, .field-error, [aria-invalid=true]")
    screenshot(owner, "orgs-1-uscc-refused")
    owner.fill("input[name=uscc]", USCC)
    owner.click("#create-org")
    owner.wait_for_url("**/orgs/*/apply*")
    apply_path = owner.url.split(live_server.url, 1)[1].split("?", 1)[0]
    org_path = apply_path.removesuffix("/apply")

    licence = ARTIFACTS / "orgs-licence-upload.jpg"
    ARTIFACTS.mkdir(exist_ok=True)
    Image.new("RGB", (900, 640), (250, 248, 240)).save(licence, format="JPEG")
    owner.set_input_files("#licence-file", str(licence))
    owner.click("#upload-licence")
    owner.wait_for_selector("#step-licence-status")

    owner.fill("#legal-rep-form input[name=name]", "林法人")
    owner.fill("#legal-rep-form input[name=id_number]", id_number(seq="123"))
    owner.check("#authorised")
    owner.click("#submit-legal-rep")
    owner.wait_for_selector("#agent-done")  # the legal representative is the applicant: agent authorised

    account = "6222" + "".join(secrets.choice("123456789") for _ in range(12))
    owner.fill("#deposit-form input[name=bank_name]", "中国工商银行福州分行")
    owner.fill("#deposit-form input[name=account_number]", account)
    owner.click("#start-deposit")
    owner.wait_for_selector("#deposit-sent")
    (transfer,) = _statement(live_server, account)
    assert transfer["memo"] and transfer["amount"]
    owner.fill("#deposit-confirm-form input[name=amount]", "0.00")
    owner.click("#confirm-deposit")
    owner.wait_for_selector(".notice.error")
    screenshot(owner, "orgs-2-wrong-amount")
    owner.fill("#deposit-confirm-form input[name=amount]", str(transfer["amount"]))
    owner.click("#confirm-deposit")
    owner.wait_for_selector("#bank-done")
    screenshot(owner, "orgs-3-apply-steps")

    operator = new_page()
    login, password = create_operator(live_server, email="orgs-ops@qianshu.example", roles=("reviewer",))
    log_in_with_password(operator, login, password, expect_path="/")
    operator.goto("/operator/orgs")
    operator.click("#review-queue a.button")
    operator.wait_for_selector("#decision-form")
    screenshot(operator, "orgs-4-licence-review")
    operator.check("#d-approve")
    operator.click("#decide")
    operator.wait_for_url("**/operator/orgs*")

    certificate = _wait_for_org_certificate(owner, live_server, org_path)
    assert certificate.startswith("crt_")
    assert owner.inner_text("#org-status") == "已认证"

    owner.fill("#invite-contact", AGENT_PHONE)
    owner.select_option("#invite-role", "agent")
    owner.click("#send-invite")
    owner.wait_for_selector("#invitation-list")
    agent.goto("/orgs")
    agent.locator("#my-invitations button[id^=accept-]").click()
    agent.wait_for_url("**/orgs/*")

    owner.goto(org_path)
    owner.fill("#seal-name", "合同专用章")
    owner.click("#generate-seal")
    owner.wait_for_selector("#seals article.card")
    seal_card = owner.locator("#seals article.card").first
    seal_card.locator("select[name=member]").select_option(
        label=next(
            o
            for o in seal_card.locator("select[name=member] option").all_inner_texts()
            if "经办" in o or "135****5002" in o
        )
    )
    seal_card.locator("form[action$='/grants'] button").click()
    owner.wait_for_selector("#seals li[id^=grant-]")
    granted = owner.inner_text("#seals li[id^=grant-]")
    assert "135****5002" in granted and "经办人" in granted, granted
    screenshot(owner, "orgs-5-console")

    image_url = owner.get_attribute("#seals article.card img", "src")
    assert image_url
    png = owner.request.get(image_url).body()
    (ARTIFACTS / "orgs-6-seal.png").write_bytes(png)
    _check_seal_png(png)
