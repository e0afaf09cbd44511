"""The privacy centre tried as a new user would (issue 8, done-when), in Chromium.

A person signs a contract, then from the privacy centre sees their data, downloads a copy, withdraws
a consent, files a deletion request that a privacy officer completes before its deadline, and closes
the account. The cooling-off period is passed by running the cancellation sweep with a clock moved
eight days on (the server itself runs on the real clock). Afterwards the signed contract still
verifies (public /verify page and pyHanko against the root only) and no row of the database holds
the person's name, phone number or ID number in readable form.
"""

from __future__ import annotations

import json
import re
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, select

from tests.e2e.conftest import PHONE, LiveServer, screenshot
from tests.e2e.flows import (
    SmsInbox,
    contract_from_template,
    create_operator,
    log_in_with_password,
    open_signing_link,
    register,
    verify_person,
)

pytestmark = pytest.mark.e2e

PERSON, SENDER = "13800138555", "13900139555"
NAME = "欧阳知秋"
BODY = "甲方：{{甲方}}\n\n双方就{{事项}}达成如下协议。"
_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})")


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any]) -> dict[str, Any]:
    return {**settings_overrides, "signing_identity_level": "two_elements"}


def _signed_contract(new_page: Any, server: LiveServer, inbox: SmsInbox, tmp_path: Path) -> Path:
    """The sender sends a one-signer contract to the person, who signs it on a phone; return the PDF."""
    sender = new_page()
    register(sender, inbox, phone=SENDER)
    contract_from_template(
        sender, title="房屋租赁合同", body=BODY, values={"甲方": "千书示范公司", "事项": "房屋租赁"}, signer=PERSON
    )
    sender.click("#send-contract")
    sender.wait_for_selector("#timeline")
    sender.context.close()

    phone = new_page(PHONE)
    open_signing_link(phone, server, inbox, PERSON)
    phone.click("#send-intent-code")
    phone.wait_for_selector("#intent-sent")
    phone.fill("#intent-code", inbox.wait_for_code(PERSON))
    phone.click("#sign-submit")
    phone.wait_for_selector("#completed-notice", timeout=60_000)
    with phone.expect_download() as info:
        phone.click("#download-document")
    path = tmp_path / "signed.pdf"
    info.value.save_as(path)
    phone.context.close()
    return path


def _database_values(server: LiveServer) -> list[tuple[str, str, bytes]]:
    """Every non-null value of every row of every table, as bytes (the raw database)."""
    found = []
    metadata = MetaData()
    with server.runtime.engine.connect() as conn:
        metadata.reflect(conn)
        for table in metadata.sorted_tables:
            for row in conn.execute(select(table)):
                for column, value in zip(table.columns.keys(), row, strict=True):
                    if value is None:
                        continue
                    raw = bytes(value) if isinstance(value, bytes | memoryview) else str(value).encode()
                    found.append((table.name, column, raw))
    return found


def test_a_person_sees_copies_withdraws_deletes_and_leaves_and_their_contract_still_verifies(
    new_page: Any, live_server: LiveServer, tmp_path: Path
) -> None:
    from tests.identity.conftest import make_id

    runtime = live_server.runtime
    id_number = make_id(seq="555")
    inbox = SmsInbox(live_server)
    # the operator set up the retention key pair: the private key went offline, not onto the platform
    from qianshu.privacy import retention

    offline_key = tmp_path / "offline-retention.pem"
    retention.create_retention_key(runtime=runtime, out=offline_key)

    person = new_page()
    register(person, inbox, phone=PERSON)
    verify_person(live_server, PERSON, NAME, id_number)
    signed = _signed_contract(new_page, live_server, inbox, tmp_path)

    # 1. everything held about them, in clear for them
    person.goto("/privacy/centre")
    person.wait_for_selector("#section-accounts")
    text = person.inner_text("main")
    assert PERSON in text and NAME in text
    screenshot(person, "privacy-1-centre-desktop")

    # 2. a complete copy: built by a job, downloaded through the page's expiring link
    person.click("#copy-submit")
    person.wait_for_url("**/privacy/centre/exports/*")
    for _ in range(200):
        live_server.wake_worker()
        if person.locator("#download-json").count():
            break
        time.sleep(0.1)
        person.reload()
    screenshot(person, "privacy-2-copy-desktop")
    with person.expect_download() as info:
        person.click("#download-json")
    copy = json.loads(Path(info.value.path()).read_text(encoding="utf-8"))
    dumped = json.dumps(copy, ensure_ascii=False)
    assert PERSON in dumped and NAME in dumped and SENDER not in dumped
    with person.expect_download() as info:
        person.click("#download-pdf")
    assert Path(info.value.path()).read_bytes().startswith(b"%PDF")

    # 3. withdraw a consent (the ID-number processing granted at verification)
    person.goto("/privacy/consents")
    card = person.locator("#purpose-sensitive-id_number")
    assert card.locator(".badge.ok").count() == 1
    card.locator("button[type=submit]").click()
    person.wait_for_url("**/privacy/consents?notice=*")
    assert person.locator("#purpose-sensitive-id_number .badge.ok").count() == 0
    screenshot(person, "privacy-3-consent-withdrawn-desktop")

    # 4. a deletion request, confirmed by code, answered by a privacy officer before its deadline
    person.goto("/privacy/centre#request-form")
    person.select_option("#f-kind", "deletion")
    person.fill("#f-details", "请删除我的账户称呼和登录设备记录")
    person.click("#request-submit")
    person.wait_for_selector("#code-form")
    person.fill("#f-code", inbox.wait_for_code(PERSON))
    person.click("#code-submit")
    person.wait_for_selector("#request-due")
    due = date.fromisoformat(_DATE.search(person.inner_text("#request-due")).group(1))  # type: ignore[union-attr]
    request_url = person.url.split("?")[0]
    request_id = request_url.rsplit("/", 1)[1]
    screenshot(person, "privacy-4-request-open-desktop")

    officer = new_page()
    login, password = create_operator(live_server, email="dpo@qianshu.example", roles=("privacy_officer",))
    log_in_with_password(officer, login, password)
    officer.goto("/operator/privacy/requests")
    officer.wait_for_selector(f"#row-{request_id}")
    assert PERSON not in officer.inner_text("#queue")  # masked in the queue
    screenshot(officer, "privacy-5-operator-queue-desktop")
    officer.click(f"#row-{request_id} a")
    officer.wait_for_selector("#reveal-form")
    officer.select_option("#f-reason", "request_handling")
    officer.click("#reveal")
    officer.wait_for_selector("#resolve-form")
    assert "登录设备记录" in officer.inner_text("#details")
    officer.fill("#f-note", "已删除您的账户称呼，登录设备记录已清除。")
    officer.click("#complete")
    officer.wait_for_selector("#status")
    screenshot(officer, "privacy-6-operator-done-desktop")

    person.goto(request_url)
    assert "已删除您的账户称呼" in person.inner_text("#request-answer")
    status = person.inner_text("#request-status-value")
    assert "完成" in status, status
    from qianshu.privacy.holidays import beijing_date

    assert beijing_date(runtime.clock.now()) <= due  # answered before its deadline
    screenshot(person, "privacy-7-request-completed-desktop")

    # 5. close the account: explained, confirmed by code, then the cooling-off period
    person.goto("/privacy/centre/cancel")
    assert person.locator("#blockers").count() == 0
    screenshot(person, "privacy-8-cancel-desktop")
    person.once("dialog", lambda dialog: dialog.accept())
    person.click("#cancel-start")
    person.wait_for_selector("#code-form")
    person.fill("#f-code", inbox.wait_for_code(PERSON))
    person.click("#code-submit")
    person.wait_for_selector("#request-status-value")
    assert "冷静期" in person.inner_text("#request-status-value")
    screenshot(person, "privacy-9-cooling-off-desktop")

    from qianshu.accounts import service as accounts_service
    from qianshu.core.clock import FrozenClock
    from qianshu.privacy import cancellation

    later = FrozenClock(runtime.clock.now() + timedelta(days=runtime.settings.cancellation_cooling_off_days + 1))
    with runtime.transaction() as s:
        assert cancellation.run_due(session=s, clock=later) == 1
    person.goto("/account")
    person.wait_for_url("**/login*")  # their sessions ended with the account
    with runtime.transaction() as s:
        assert accounts_service.find_user(session=s, phone=PERSON) is None

    # their signed contract still verifies: on the public page and offline against the root only
    visitor = new_page()
    visitor.goto("/verify")
    visitor.set_input_files("#f-verify-file", str(signed))
    visitor.click("#verify-submit")
    visitor.wait_for_selector("#verify-result")
    assert visitor.locator("#verify-ok").count() == 1, visitor.inner_text("#verify-result")
    screenshot(visitor, "privacy-10-verify-after-cancellation-desktop")
    from qianshu.pki import service as pki_service
    from qianshu.signing import service as signing_service

    with runtime.transaction() as s:
        root = pki_service.root_certificate_der(session=s)
    report = signing_service.validate_pdf(signed.read_bytes(), trust_roots=[root])
    assert report.ok, report

    # nothing personal is readable in the database
    needles = {
        "phone": PERSON.encode(),
        "name": NAME.encode(),
        "id_number": id_number.encode(),
        "name_utf16": NAME.encode("utf-16-be"),
    }
    readable = [
        (table, column, what)
        for table, column, raw in _database_values(live_server)
        for what, needle in needles.items()
        if needle in raw
    ]
    # No exception: the person's certificates (their subject names them; the CA keeps them five years
    # after they stop being valid, 电子签名法 第24条) are sealed under the retention key and their rows
    # in pki_certificate keep only serial, fingerprint, validity and revocation.
    assert readable == [], readable
    # ... while the operator's offline key still opens what the law keeps (a court order)
    with runtime.transaction() as s:
        user_ids = {r.subject_id for r in retention.list_holds(session=s)}
        assert len(user_ids) == 1
        opened = retention.open_retained_records(
            session=s, user_id=user_ids.pop(), private_key=offline_key.read_bytes()
        )
    assert PERSON in json.dumps(opened, ensure_ascii=False)
