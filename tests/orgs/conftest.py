"""Fixtures for the orgs domain: real users and operators, a live server for the sandbox bank, images.

Users are registered through the accounts service and act through API clients holding their
bearer token. Who is real-name verified is the identity domain's business and is tested there;
here a small registry stands in for the identity service's answers (`verified_level`,
`matches_verified_identity`, `check_name_and_id`), with the same sequence-code rule as the
identity sandbox (…991x is a mismatch), so these tests exercise orgs' own rules.
Messages to notify are recorded (`tests.support.outbox`) and handed on to notify.
"""

from __future__ import annotations

import io
import secrets
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw

from qianshu.core.runtime import Runtime
from tests.support.outbox import Outbox, install_outbox

PASSWORD = "Correct-horse-42"
PROBLEM = "application/problem+json"
# Real-format unified social credit codes (GB 32100-2015), check characters valid.
USCC_CODES = [
    "91350100M000100Y43",
    "91330100716105852F",
    "914403001922038216",
    "911000001000013428",
    "91440300708461136T",
    "91110108551385082Q",
    "9111000071093123XX",
    "91110000802100433B",
    "12100000400000624D",
]
_ID_WEIGHTS = [pow(2, 17 - i, 11) for i in range(17)]


def id_number(seq: str = "002", birth: str = "19800101", area: str = "110105") -> str:
    """Return a GB 11643-1999 resident ID number with a valid ISO 7064 MOD 11-2 check character."""
    body = area + birth + seq
    total = sum(int(d) * w for d, w in zip(body, _ID_WEIGHTS, strict=True))
    return body + "10X98765432"[total % 11]


def problem(response: Any, status: int, slug: str) -> dict[str, Any]:
    """Assert `response` is the problem `slug` with `status`; return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM), response.headers
    body: dict[str, Any] = response.json()
    assert body["type"] == f"https://qianshu.dev/problems/{slug}", body
    return body


# --- images -----------------------------------------------------------------------------------


def licence_image(fmt: str = "JPEG", size: tuple[int, int] = (900, 640)) -> bytes:
    """Draw a fake business-licence photo (JPEG or PNG)."""
    img = Image.new("RGB", size, (250, 248, 240))
    draw = ImageDraw.Draw(img)
    draw.rectangle((20, 20, size[0] - 20, size[1] - 20), outline=(180, 30, 30), width=6)
    draw.text((60, 60), "BUSINESS LICENCE 91350100M000100Y43", fill=(20, 20, 20))
    out = io.BytesIO()
    img.save(out, format=fmt)
    return out.getvalue()


def seal_png(size: int = 300, alpha: bool = True) -> bytes:
    """Draw a red ring on a transparent (or white) background as an uploadable seal."""
    img = Image.new("RGBA" if alpha else "RGB", (size, size), (0, 0, 0, 0) if alpha else (255, 255, 255))
    ImageDraw.Draw(img).ellipse((10, 10, size - 10, size - 10), outline=(220, 30, 30, 255), width=12)
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


# --- identity stand-in --------------------------------------------------------------------------


@dataclass
class Identities:
    """Who is verified with which name and ID number; the provider checks seen."""

    verified: dict[str, tuple[str, str]] = field(default_factory=dict)
    checks: list[tuple[str, str]] = field(default_factory=list)  # (subject_id, masked number)

    def verify(self, user_id: str, name: str, number: str) -> None:
        """Mark a user as verified."""
        self.verified[user_id] = (name, number)


@pytest.fixture(autouse=True)
def identities(monkeypatch: pytest.MonkeyPatch) -> Identities:
    from qianshu.identity import service as identity_service

    registry = Identities()

    def verified_level(*, session: Any, user_id: str) -> str | None:
        return "three_elements" if user_id in registry.verified else None

    def matches_verified_identity(*, session: Any, user_id: str, name: str, id_number: str) -> bool:
        return registry.verified.get(user_id) == (name, id_number)

    def check_name_and_id(
        *, session: Any, clock: Any, actor: str, subject_id: str, name: str, id_number: str, context: Any
    ) -> bool:
        registry.checks.append((subject_id, id_number[:4] + "****"))
        return id_number[14:17] != "991"

    monkeypatch.setattr(identity_service, "verified_level", verified_level, raising=False)
    monkeypatch.setattr(identity_service, "matches_verified_identity", matches_verified_identity, raising=False)
    monkeypatch.setattr(identity_service, "check_name_and_id", check_name_and_id, raising=False)
    return registry


# --- messages -----------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def outbox(monkeypatch: pytest.MonkeyPatch) -> Outbox:
    """Catch every message orgs (and accounts) hand to notify, and let notify send it."""
    return install_outbox(monkeypatch)


# --- users --------------------------------------------------------------------------------------


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Cheap argon2id parameters (production ones are tested in accounts)."""
    return {"password_hash_memory_kib": 1024, "password_hash_time_cost": 1, "password_hash_parallelism": 1}


@dataclass
class User:
    """A registered user and an API client acting as them."""

    id: str
    phone: str
    token: str
    api: TestClient
    name: str = ""
    number: str = ""


def _phone() -> str:
    return "139" + "".join(secrets.choice("0123456789") for _ in range(8))


@pytest.fixture
def make_user(runtime: Runtime, app: Any, outbox: Outbox, identities: Identities) -> Iterator[Callable[..., User]]:
    """Return `make(verified=True, name=…, number=…, phone=…)` registering a user with a phone."""
    from qianshu.accounts import service as accounts_service
    from qianshu.privacy import service as privacy_service

    opened: list[TestClient] = []
    counter = iter(range(100, 999))

    def make(
        *, verified: bool = True, name: str | None = None, number: str | None = None, phone: str | None = None
    ) -> User:
        phone = phone or _phone()
        with runtime.transaction() as s:
            version = str(privacy_service.current_policy(session=s).version)
            accounts_service.start_registration(session=s, clock=runtime.clock, phone=phone)
        code = outbox.last("otp_register").params["code"]
        with runtime.transaction() as s:
            new = accounts_service.complete_registration(
                session=s,
                clock=runtime.clock,
                phone=phone,
                code=code,
                password=PASSWORD,
                accept_policy_version=version,
                display_name="测试用户",
            )
        api = TestClient(app, base_url="http://testserver", headers={"Authorization": f"Bearer {new.token}"})
        api.__enter__()
        opened.append(api)
        user = User(
            id=new.read.user.id,
            phone=phone,
            token=new.token,
            api=api,
            name=name or "张三",
            number=number or id_number(f"{next(counter):03d}"),
        )
        if verified:
            identities.verify(user.id, user.name, user.number)
        return user

    yield make
    for api in opened:
        api.__exit__(None, None, None)


@pytest.fixture
def operator(runtime: Runtime, app: Any) -> Iterator[User]:
    """An operator with an API client."""
    from qianshu.accounts import service as accounts_service

    email = f"op{secrets.token_hex(4)}@qianshu.local"
    with runtime.transaction() as s:
        accounts_service.create_operator(session=s, clock=runtime.clock, email=email, password=PASSWORD)
    with runtime.transaction() as s:
        new = accounts_service.login_with_password(session=s, clock=runtime.clock, login=email, password=PASSWORD)
    api = TestClient(app, base_url="http://testserver", headers={"Authorization": f"Bearer {new.token}"})
    with api:
        yield User(id=new.read.user.id, phone="", token=new.token, api=api)


# --- the live server (the sandbox bank over real HTTP) ------------------------------------------


@dataclass
class LiveServer:
    """The platform served by uvicorn on a free loopback port; the bank adapter points at it."""

    url: str

    def statement(self, account: str) -> list[dict[str, Any]]:
        """Read an account's statement from the sandbox bank over HTTP, newest first."""
        r = httpx.post(f"{self.url}/sandbox/bank/v1/statement", json={"account_number": account}, timeout=10)
        r.raise_for_status()
        lines: list[dict[str, Any]] = r.json()["transfers"]
        return lines


@pytest.fixture
def live_server(runtime: Runtime) -> Iterator[LiveServer]:
    """Serve the app with uvicorn in a thread (socket bound first, so no waiting for startup)."""
    import uvicorn

    from qianshu.app import create_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(runtime, start_background=False),
            log_level="warning",
            access_log=False,
            lifespan="off",
            ws="none",
            timeout_graceful_shutdown=2,
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="orgs-live", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    runtime.settings.bank_url = f"{url}/sandbox/bank"
    runtime.settings.bank_timeout_seconds = 30.0  # generous: CI machines run many suites at once
    try:
        yield LiveServer(url=url)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


# --- organisations ------------------------------------------------------------------------------


@dataclass
class Flow:
    """Drive an application through the API."""

    runtime: Runtime
    operator: User
    live: LiveServer | None = None
    _codes: Iterator[str] = field(default_factory=lambda: iter(USCC_CODES))

    def create(self, user: User, name: str = "福建测试科技有限公司", uscc: str | None = None) -> dict[str, Any]:
        """Open an application; return the org."""
        r = user.api.post("/api/v1/orgs", json={"name": name, "uscc": uscc or next(self._codes)})
        assert r.status_code == 201, r.text
        body: dict[str, Any] = r.json()
        return body

    def licence(self, user: User, org_id: str, approve: bool = True) -> dict[str, Any]:
        """Upload a licence and have the operator decide on it."""
        r = user.api.post(
            f"/api/v1/orgs/{org_id}/licence", content=licence_image(), headers={"content-type": "image/jpeg"}
        )
        assert r.status_code == 201, r.text
        doc: dict[str, Any] = r.json()
        decision = {"decision": "approve"} if approve else {"decision": "reject", "reason": "unreadable"}
        r = self.operator.api.post(f"/api/v1/operator/org-reviews/{doc['id']}/decision", json=decision)
        assert r.status_code == 200, r.text
        return doc

    def legal_rep_self(self, user: User, org_id: str) -> dict[str, Any]:
        """Submit the applicant as legal representative."""
        r = user.api.put(
            f"/api/v1/orgs/{org_id}/legal-rep",
            json={"name": user.name, "id_number": user.number, "authorised": True},
        )
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    def bank(self, user: User, org_id: str, account: str | None = None) -> dict[str, Any]:
        """Run the micro-deposit check through the live sandbox bank."""
        assert self.live is not None, "the bank step needs the live_server fixture"
        account = account or "6222" + "".join(secrets.choice("123456789") for _ in range(12))
        r = user.api.post(
            f"/api/v1/orgs/{org_id}/bank/deposits",
            json={"bank_name": "中国工商银行福州分行", "account_number": account},
        )
        assert r.status_code == 201, r.text
        amount = self.live.statement(account)[0]["amount"]
        r = user.api.post(f"/api/v1/orgs/{org_id}/bank/deposits/confirm", json={"amount": amount})
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    def verified(self, user: User, name: str = "福建测试科技有限公司", uscc: str | None = None) -> dict[str, Any]:
        """Run every step; return the verified org."""
        org = self.create(user, name=name, uscc=uscc)
        self.licence(user, org["id"])
        self.legal_rep_self(user, org["id"])
        self.bank(user, org["id"])
        r = user.api.get(f"/api/v1/orgs/{org['id']}")
        assert r.json()["status"] == "verified", r.json()
        body: dict[str, Any] = r.json()
        return body


@pytest.fixture
def flow(runtime: Runtime, operator: User) -> Flow:
    """An application driver without the bank step."""
    return Flow(runtime=runtime, operator=operator)


@pytest.fixture
def live_flow(runtime: Runtime, operator: User, live_server: LiveServer) -> Flow:
    """An application driver with the live sandbox bank."""
    return Flow(runtime=runtime, operator=operator, live=live_server)
