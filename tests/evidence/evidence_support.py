"""Helpers for the preservation, report, bundle and verifier tests: signed-in clients, bundle surgery."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.types import Receive, Scope, Send

from qianshu.core.auth import Principal
from qianshu.core.ids import new_id
from qianshu.core.runtime import Runtime


class SignedInClient(TestClient):
    """A test client whose requests come from `principal`."""

    principal: Principal


ClientAs = Callable[..., SignedInClient]


class _SignedIn:
    """Seed `request.state` with the principal, as the session cookie would (core.auth caches it there)."""

    def __init__(self, app: Any, principal: Principal) -> None:
        self.app = app
        self.principal = principal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            state = scope.setdefault("state", {})
            state["user"] = self.principal
            state["principal_resolved"] = True
        await self.app(scope, receive, send)


def accept_policy(runtime: Runtime, user_id: str) -> None:
    """Record the user's acceptance of the current privacy policy (the re-consent gate, P1)."""
    from qianshu.privacy import service as privacy_service

    with runtime.transaction() as session:
        policy = privacy_service.current_policy(session=session)
        privacy_service.record_policy_acceptance(
            session=session, clock=runtime.clock, user_id=user_id, version_id=policy.id, context=None
        )


@pytest.fixture
def client_as(app: Any, runtime: Runtime) -> Iterator[ClientAs]:
    """Return `make(user_id=None, role="user")`: a TestClient signed in as that user (policy accepted)."""
    opened: list[SignedInClient] = []

    def make(user_id: str | None = None, role: str = "user") -> SignedInClient:
        principal = Principal(user_id=user_id or new_id("usr"), session_id=new_id("ses"), role=role)
        if role != "operator":
            accept_policy(runtime, principal.user_id)
        client = SignedInClient(_SignedIn(app, principal), base_url="http://testserver")
        client.__enter__()
        client.principal = principal
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


def csrf(client: TestClient) -> dict[str, str]:
    """Return the CSRF header for form posts (fetching a page first for the cookie)."""
    token = client.cookies.get("qs_csrf")
    if not token:
        client.get("/verify")
        token = client.cookies.get("qs_csrf")
    assert token
    return {"X-CSRF-Token": str(token)}


def read_zip(data: bytes) -> dict[str, bytes]:
    """Return every member of a ZIP archive."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def write_zip(members: dict[str, bytes]) -> bytes:
    """Build a ZIP archive from members (manifest first, as bundles are)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(members, key=lambda n: (n != "manifest.json", n)):
            archive.writestr(name, members[name])
    return out.getvalue()


def canonical_manifest(doc: dict[str, Any]) -> bytes:
    """Serialise a manifest as bundles do (the verifier accepts only this form)."""
    return (json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode("utf-8")


def rewrite(bundle: bytes, path: str, data: bytes, *, fix_manifest: bool = True) -> bytes:
    """Replace one member; with `fix_manifest`, also update its hash and size (a careful forger)."""
    members = read_zip(bundle)
    members[path] = data
    if fix_manifest:
        manifest = json.loads(members["manifest.json"])
        for item in manifest["files"]:
            if item["path"] == path:
                item["sha256"] = hashlib.sha256(data).hexdigest()
                item["size"] = len(data)
        members["manifest.json"] = canonical_manifest(manifest)
    return write_zip(members)


def member(bundle: bytes, prefix: str) -> str:
    """Return the one member whose path starts with `prefix`."""
    names = [n for n in read_zip(bundle) if n.startswith(prefix)]
    assert len(names) == 1, names
    return names[0]
