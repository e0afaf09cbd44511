"""Real-name verification as a person does it, in Chromium, against the served identity sandbox.

(a) a new user gives the separate consent, verifies on the phone-sized identity page and sees the
certificate issued for them; (b) an under-age ID number is refused with a clear message;
(e) a passport holder asks for manual review, an operator opens the case (masked until a reason is
given), and the opening appears in the staff-access log of the person's identity page and privacy centre.
"""

from __future__ import annotations

import io
import time
from datetime import date
from typing import Any

import pytest
from PIL import Image, ImageDraw

from tests.e2e.conftest import LiveServer, screenshot
from tests.e2e.flows import SmsInbox, create_operator, log_in_with_password, register

pytestmark = pytest.mark.e2e

NAME = "陈晓明"
_WEIGHTS = [pow(2, 17 - i, 11) for i in range(17)]


def id_number(birth: str = "19900307", seq: str = "123", area: str = "350102") -> str:
    """Return a GB 11643-1999 resident ID number with a correct check character."""
    body = area + birth + seq
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, _WEIGHTS, strict=True)) % 11]


def _wait_for_certificate(page: Any, server: LiveServer) -> str:
    """Reload /identity until the certificate job has run; return the certificate id shown."""
    deadline = time.monotonic() + 20
    while True:
        server.wake_worker()
        page.goto("/identity")
        shown = page.inner_text("#identity-certificate")
        if shown != "正在签发":
            return str(shown)
        if time.monotonic() > deadline:
            raise AssertionError(f"no certificate shown: {shown!r}")
        time.sleep(0.2)


def test_person_gives_consent_verifies_and_sees_the_certificate(phone_page: Any, live_server: LiveServer) -> None:
    page = phone_page
    register(page, SmsInbox(live_server), phone="13600136001")
    page.goto("/identity")
    assert "尚未完成实名认证" in page.inner_text("#identity-status")
    screenshot(page, "identity-1-start-phone")

    form = page.locator("#level-three_elements")
    form.locator("input[name=name]").fill(NAME)
    form.locator("input[name=id_number]").fill(id_number())
    form.locator("input[name=phone]").fill("13600136001")
    form.locator("#verify-three_elements").click()  # consent box left unticked
    page.wait_for_selector(".notice.error")
    refusal = page.inner_text(".notice.error")
    assert "单独同意" in refusal, refusal
    screenshot(page, "identity-2-consent-required-phone")

    form = page.locator("#level-three_elements")
    form.locator("input[name=id_number]").fill(id_number().lower()[:17] + id_number()[17].lower())
    form.locator("input[name=phone]").fill("13600136001")
    form.locator("input[name=consent][value='sensitive.id_number']").check()
    form.locator("#verify-three_elements").click()
    page.wait_for_url("**/identity/verifications/*")
    assert page.get_attribute("#verification-status", "data-status") == "verified"
    screenshot(page, "identity-3-verified-phone")

    certificate = _wait_for_certificate(page, live_server)
    assert certificate.startswith("crt_")
    assert page.inner_text("#certificate-status") == "有效"
    assert page.inner_text("#certificate-issuer")  # the platform's issuing CA
    assert " — " in page.inner_text("#certificate-validity")
    assert page.get_attribute("#level-three_elements", "open") is None  # verified: the forms fold away
    status = page.inner_text("#identity-status")
    assert "陈**" in status or "陈*明" in status, status
    assert id_number() not in status  # the ID number is shown masked
    assert "可以签署合同" in status, status
    consents = page.inner_text("#consents")
    assert "已同意" in consents, consents
    sharing = page.inner_text("#sharing-records")
    assert "沙箱" in sharing, sharing
    screenshot(page, "identity-4-certificate-phone")


def test_an_under_age_id_number_is_refused_with_a_clear_message(phone_page: Any, live_server: LiveServer) -> None:
    page = phone_page
    register(page, SmsInbox(live_server), phone="13600136002")
    page.goto("/identity")
    today = date.today()
    birth = f"{today.year - 15:04d}0101"
    page.click("#level-two_elements summary")  # the required level is unfolded; others open on a tap
    form = page.locator("#level-two_elements")
    form.locator("input[name=name]").fill("李小龙")
    form.locator("input[name=id_number]").fill(id_number(birth=birth, seq="124"))
    form.locator("input[name=consent][value='sensitive.id_number']").check()
    form.locator("#verify-two_elements").click()
    page.wait_for_selector(".notice.error")
    message = page.inner_text(".notice.error")
    assert "18" in message and "岁" in message, message
    assert "尚未完成实名认证" in page.inner_text("#identity-status")
    screenshot(page, "identity-5-under-age-phone")


def _passport_scan() -> bytes:
    img = Image.new("RGB", (900, 620), (236, 240, 232))
    draw = ImageDraw.Draw(img)
    draw.rectangle((24, 24, 876, 596), outline=(30, 60, 120), width=6)
    draw.text((60, 60), "PASSPORT  P<GBRSMITH<<JOHN<<<<<<<<<<<<<<<<<<", fill=(20, 20, 20))
    draw.rectangle((60, 120, 300, 420), fill=(180, 170, 160))
    out = io.BytesIO()
    img.save(out, format="JPEG")
    return out.getvalue()


def test_operator_reviews_a_passport_with_masked_data_and_each_reveal_is_logged(
    new_page: Any, live_server: LiveServer, tmp_path: Any
) -> None:
    person = new_page()
    register(person, SmsInbox(live_server), phone="13600136003")
    person.goto("/identity")
    scan = tmp_path / "passport.jpg"
    scan.write_bytes(_passport_scan())
    person.click("#level-manual summary")
    manual = person.locator("#level-manual")
    manual.locator("#f-doc-type").select_option("passport")
    manual.locator("#f-manual-name").fill("John Smith")
    manual.locator("#f-manual-number").fill("E12345678")
    manual.locator("#f-manual-birth").fill("1985-06-01")
    manual.locator("#f-manual-images").set_input_files(str(scan))
    for box in manual.locator("input[name=consent]").all():
        box.check()
    screenshot(person, "identity-6-manual-form")
    manual.locator("#submit-review").click()
    person.wait_for_url("**/identity/verifications/*")
    assert person.get_attribute("#verification-status", "data-status") == "in_review"

    operator = new_page()
    login, password = create_operator(live_server, email="reviewer@qianshu.example", roles=("reviewer",))
    log_in_with_password(operator, login, password, expect_path="/")
    operator.goto("/operator/identity")
    queue = operator.inner_text("main")
    assert "E12345678" not in queue and "John Smith" not in queue  # masked in the queue
    screenshot(operator, "identity-7-review-queue")
    operator.locator("main a[href^='/operator/identity/reviews/']").first.click()
    operator.wait_for_selector("#review-details")
    assert "E12345678" not in operator.inner_text("#review-number")
    assert "John Smith" not in operator.inner_text("#review-name")
    screenshot(operator, "identity-8-review-masked")
    operator.fill("#f-reveal-note", "核对护照照片与填写信息")
    operator.click("#reveal-button")
    operator.wait_for_selector("#reveal-logged")
    assert operator.inner_text("#review-number") == "E12345678"
    assert operator.locator("#review-images img").count() == 1
    screenshot(operator, "identity-9-review-revealed")
    operator.fill("#f-decide-reason", "护照信息清晰，与填写一致")
    operator.click("#approve")
    operator.wait_for_url("**/operator/identity?*")

    person.goto("/identity")
    log = person.inner_text("#staff-access-log")
    assert "核对护照照片与填写信息" in log, log
    assert person.inner_text("#identity-level") == "人工审核（证件照片）"  # the approved review's level
    screenshot(person, "identity-10-staff-access-logged")
    person.goto("/privacy/centre")
    centre = person.inner_text("#section-staff_access")
    assert "核对护照照片与填写信息" in centre and "reviewer" in centre, centre
    screenshot(person, "identity-11-privacy-centre")
