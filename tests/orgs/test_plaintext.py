"""No organisation licence, legal representative, bank account or contact is stored in clear (A6, P11)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, select

from qianshu.core.runtime import Runtime
from tests.orgs.conftest import Flow, User, id_number

LEGAL_REP_NAME = "司马测试人"
LEGAL_REP_ID = id_number("737", birth="19750606", area="350102")
ACCOUNT = "6222027373737373"
INVITED_EMAIL = "grep.target.invitee@example.org"


def _sqlite_files(runtime: Runtime) -> list[Path]:
    url = runtime.settings.effective_database_url
    if not url.startswith("sqlite:///"):
        return []
    db = Path(url.removeprefix("sqlite:///"))
    return [p for p in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-journal")) if p.exists()]


def _values(runtime: Runtime) -> Iterator[tuple[str, str, bytes]]:
    metadata = MetaData()
    with runtime.engine.connect() as conn:
        metadata.reflect(conn)
        for tbl in metadata.sorted_tables:
            for row in conn.execute(select(tbl)):
                for column, value in zip(tbl.columns.keys(), row, strict=True):
                    if value is None:
                        continue
                    raw = bytes(value) if isinstance(value, bytes | memoryview) else str(value).encode("utf-8")
                    yield tbl.name, column, raw


def test_sensitive_org_data_never_reaches_the_database_in_clear(
    live_flow: Flow, make_user: Any, operator: User, runtime: Runtime
) -> None:
    owner = make_user(name=LEGAL_REP_NAME, number=LEGAL_REP_ID)
    org = live_flow.create(owner, name="福建明文检查有限公司")
    live_flow.licence(owner, org["id"])
    live_flow.legal_rep_self(owner, org["id"])
    live_flow.bank(owner, org["id"], account=ACCOUNT)
    invitee = make_user()
    owner.api.post(f"/api/v1/orgs/{org['id']}/invitations", json={"phone": invitee.phone, "role": "member"})
    owner.api.post(f"/api/v1/orgs/{org['id']}/invitations", json={"email": INVITED_EMAIL, "role": "member"})
    seal = owner.api.post(f"/api/v1/orgs/{org['id']}/seals", json={"name": "合同专用章"}).json()
    seal_png = owner.api.get(seal["image_url"]).content
    # The first licence was approved already; a second, pending one is revealed to learn stored bytes.
    org2 = live_flow.create(owner, name="福建明文检查二有限公司")
    doc2 = owner.api.post(
        f"/api/v1/orgs/{org2['id']}/licence",
        content=_distinct_licence(),
        headers={"content-type": "image/jpeg"},
    ).json()
    stored = base64.b64decode(
        operator.api.post(f"/api/v1/operator/org-reviews/{doc2['id']}/reveal", json={"reason": "review"}).json()[
            "image_base64"
        ]
    )
    needles = {
        "legal rep name": LEGAL_REP_NAME.encode("utf-8"),
        "legal rep id": LEGAL_REP_ID.encode(),
        "bank account": ACCOUNT.encode(),
        "invited phone": invitee.phone.encode(),
        "invited e-mail": INVITED_EMAIL.encode(),
        "licence image": stored[len(stored) // 2 : len(stored) // 2 + 64],
        "seal image": seal_png[len(seal_png) // 2 : len(seal_png) // 2 + 64],
    }
    found = [
        (what, tbl, col) for tbl, col, raw in _values(runtime) for what, needle in needles.items() if needle in raw
    ]
    assert found == []
    # The scan does see clear values: the (public) organisation name and code are stored as they are.
    assert any(tbl == "orgs_org" and org["uscc"].encode() in raw for tbl, _col, raw in _values(runtime))
    for path in _sqlite_files(runtime):
        data = path.read_bytes()
        assert [what for what, needle in needles.items() if needle in data] == [], path.name


def _distinct_licence() -> bytes:
    import io

    from PIL import Image, ImageDraw

    img = Image.new("RGB", (800, 600), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    for i in range(0, 800, 7):
        draw.line((i, 0, 800 - i, 600), fill=(i % 255, 80, 160))
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=95)
    return out.getvalue()
