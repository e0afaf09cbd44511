"""Steps the browser tests share: read one-time codes, register, log in and out through the pages.

Codes are read the way a tester would: text messages from the sandbox SMS provider's inbox over
HTTP (`GET /sandbox/sms/messages?phone=…` on the same server), e-mails from the `.eml` files the
`outbox` e-mail backend writes. Both readers wait for a code they have not handed out before, so
a test never picks up an older message.
"""

from __future__ import annotations

import email
import re
import time
from email import policy as email_policy
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.conftest import LiveServer

OPERATOR_EMAIL = "ops@qianshu.example"
PASSWORD = "Qianshu-e2e-2026!"
CODE_WAIT_SECONDS = 15.0
_CODE = re.compile(r"(?<!\d)(\d{6})(?!\d)")
_LINK = re.compile(r"/sign/([A-Za-z0-9_-]{20,100})")


class Inbox:
    """Hand out each one-time code sent to an address once (newest first), waiting for it to arrive."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self._seen: set[str] = set()

    def _read(self, to: str) -> list[str]:
        raise NotImplementedError

    def wait_for_code(self, to: str) -> str:
        """Return a code sent to `to` that this inbox has not returned before."""
        deadline = time.monotonic() + CODE_WAIT_SECONDS
        while True:
            self.server.wake_worker()  # deliver the message job now rather than at the next poll
            fresh = [c for c in self._read(to) if c not in self._seen]
            if fresh:
                self._seen.update(fresh)
                return fresh[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"no new code for {to} within {CODE_WAIT_SECONDS:g}s")
            time.sleep(0.05)


class SmsInbox(Inbox):
    """The sandbox SMS provider's inbox (newest first), read over HTTP."""

    def __init__(self, server: LiveServer) -> None:
        super().__init__(server)
        self.url = server("/sandbox/sms/messages")

    def _read(self, to: str) -> list[str]:
        response = httpx.get(self.url, params={"phone": to}, timeout=5)
        response.raise_for_status()
        return [code for message in response.json()["messages"] for code in _CODE.findall(message["text"])]


class EmailOutbox(Inbox):
    """The e-mail outbox folder: one RFC 5322 message per file."""

    def __init__(self, server: LiveServer) -> None:
        super().__init__(server)
        self.folder = Path(server.runtime.settings.outbox_dir)

    def _read(self, to: str) -> list[str]:
        codes: list[str] = []
        if not self.folder.exists():
            return codes
        for path in sorted(self.folder.glob("*.eml"), key=lambda p: p.stat().st_mtime, reverse=True):
            text = _message_text(path.read_bytes())
            if to in text:
                codes.extend(_CODE.findall(text.split(to, 1)[1]))
        return codes


def _message_text(raw: bytes) -> str:
    """Return the headers and decoded text parts of an e-mail (or the raw text of another file)."""
    message = email.message_from_bytes(raw, policy=email_policy.default)
    if not message.keys():
        return raw.decode("utf-8", "replace")
    parts = [f"{k}: {v}" for k, v in message.items()]
    for part in message.walk():
        if part.get_content_maintype() == "text":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                parts.append(payload.decode(part.get_content_charset() or "utf-8", "replace"))
    return "\n".join(parts)


# --- accounts -------------------------------------------------------------------------------


def create_operator(
    server: LiveServer, email: str = OPERATOR_EMAIL, password: str = PASSWORD, roles: tuple[str, ...] = ()
) -> tuple[str, str]:
    """Create an operator account holding privacy sub-`roles`; return its login and password."""
    from qianshu.accounts import service as accounts_service
    from qianshu.privacy import staff

    runtime = server.runtime
    with runtime.transaction() as session:
        user = accounts_service.create_operator(session=session, clock=runtime.clock, email=email, password=password)
        for role in roles:
            staff.grant_role(session=session, clock=runtime.clock, actor="system", user_id=user.id, role=role)
    return email, password


def register(
    page: Any, inbox: Inbox, *, phone: str | None = None, email: str | None = None, password: str = PASSWORD
) -> None:
    """Register with a phone number or an e-mail address and wait for the account page."""
    to = phone or email
    assert to
    page.goto("/register?channel=email" if email else "/register")
    page.fill("input[name=email]" if email else "input[name=phone]", to)
    page.click("#send-code")
    page.wait_for_selector("#code-sent")
    page.fill("input[name=code]", inbox.wait_for_code(to))
    page.fill("input[name=password]", password)
    page.check("input[name=accept_policy]")
    page.click("#submit")
    page.wait_for_url("**/account*")
    page.wait_for_selector("#profile")


def log_in_with_password(page: Any, login: str, password: str = PASSWORD, *, expect_path: str = "/account") -> None:
    """Log in on /login with a password and wait for `expect_path`."""
    page.goto("/login")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", password)
    page.click("#submit")
    page.wait_for_url(f"**{expect_path}*")


def log_in_with_sms(page: Any, inbox: Inbox, phone: str) -> None:
    """Log in on /login with a text-message code and wait for the account page."""
    page.goto("/login")
    page.click("#tab-sms")
    page.fill("input[name=phone]", phone)
    page.click("#send-code")
    page.wait_for_selector("#code-sent")
    page.fill("input[name=code]", inbox.wait_for_code(phone))
    page.click("#submit")
    page.wait_for_url("**/account*")
    page.wait_for_selector("#profile")


def open_menu(page: Any) -> None:
    """Open the collapsed navigation on a phone; do nothing on a desktop."""
    toggle = page.locator("[data-nav-toggle]")
    if toggle.is_visible() and toggle.get_attribute("aria-expanded") != "true":
        toggle.click()
        page.wait_for_selector("#site-nav.open")


def log_out(page: Any) -> None:
    """Press 退出 in the header and wait for the signed-out home page."""
    open_menu(page)
    page.click("#logout")
    page.wait_for_selector("#cta-register")
    assert page.locator("#logout").count() == 0


# --- real-name verification and signing links -----------------------------------------------


def verify_person(server: LiveServer, phone: str, name: str, id_number: str) -> None:
    """Real-name verify the account behind `phone` (two elements) through the served identity sandbox."""
    from qianshu.accounts import service as accounts_service
    from qianshu.identity import levels
    from qianshu.identity.checks import verify_now

    runtime = server.runtime
    with runtime.transaction() as s:
        user = accounts_service.find_user(session=s, phone=phone)
        assert user is not None
        verify_now(
            session=s,
            clock=runtime.clock,
            user_id=user.id,
            level="two_elements",
            name=name,
            id_number=id_number,
            grant=(levels.PURPOSE_ID_NUMBER,),
        )


def signing_link(server: LiveServer, inbox: SmsInbox, phone: str) -> str:
    """Wait for the signing request text message to `phone`; return the link's path (its codes are spent)."""
    for _ in range(200):
        server.wake_worker()
        r = httpx.get(server("/sandbox/sms/messages"), params={"phone": phone}, timeout=5)
        for message in r.json()["messages"]:
            match = _LINK.search(message["text"])
            if match:
                inbox._seen.update(_CODE.findall(message["text"]))
                return f"/sign/{match.group(1)}"
        time.sleep(0.05)
    raise AssertionError("no signing request arrived")


def contract_from_template(page: Any, *, title: str, body: str, values: dict[str, str], signer: str) -> None:
    """Make a template on /templates, use it with `values`, name `signer` (phone) first; stop before sending."""
    page.goto("/templates")
    page.fill("#tpl-title", title)
    page.fill("#tpl-body", body)
    page.click("#create-template")
    page.wait_for_selector("#template-body")
    page.click("#use-template")
    page.wait_for_selector("#new-contract-form")
    for label, value in values.items():
        page.fill(f"input[name=var_{label}]", value)
    page.fill("#s0-contact", signer)


def open_signing_link(page: Any, server: LiveServer, inbox: SmsInbox, phone: str) -> None:
    """Open the signing link sent to `phone`, logged out, and prove the phone by code: the sign form shows."""
    page.goto(signing_link(server, inbox, phone))
    page.click("#send-access-code")
    page.wait_for_selector("#access-form")
    page.fill("#access-code", inbox.wait_for_code(phone))
    page.click("#access-submit")
    page.wait_for_selector("#sign-form")
