"""A copy of one's data (P4): JSON with every section, a Chinese PDF, encrypted, behind an expiring link."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from qianshu.core.clock import FrozenClock
from qianshu.core.runtime import Runtime
from qianshu.privacy import export, retention, sharing
from qianshu.privacy.errors import ExportNotReady
from tests.privacy.centre_support import CHEAP_HASHING, Outbox, install_outbox, register_user

PHONE = "13800138301"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return dict(CHEAP_HASHING)


@pytest.fixture
def outbox(monkeypatch: pytest.MonkeyPatch) -> Outbox:
    return install_outbox(monkeypatch)


def _ready_copy(runtime: Runtime, outbox: Outbox, run_jobs: Any) -> tuple[str, str, str]:
    from qianshu.pki import service as pki_service

    user = register_user(runtime, outbox, PHONE, name="王小明")
    with runtime.transaction() as s:
        pki_service.issue_person_certificate(session=s, clock=runtime.clock, subject_id=user, name="王小明")
        sharing.record_sharing(
            session=s,
            clock=runtime.clock,
            subject_id=user,
            recipient="天威诚信电子商务服务有限公司",
            recipient_kind="ca",
            fields=["real_name", "id_number"],
            purpose="申请数字证书",
            legal_basis="contract",
        )
        created = export.request_export(session=s, clock=runtime.clock, user_id=user)
        assert created.status == "queued"
    run_jobs()
    return user, created.id, created.token


def test_copy_holds_every_section_in_clear_and_a_chinese_pdf(
    runtime: Runtime, outbox: Outbox, run_jobs: Any, tmp_path: Path
) -> None:
    user, export_id, token = _ready_copy(runtime, outbox, run_jobs)
    assert "privacy_export_ready" in outbox.templates(user)
    with runtime.transaction() as s:
        raw, media, name = export.download(
            session=s, clock=runtime.clock, user_id=user, export_id=export_id, token=token, fmt="json"
        )
        pdf, pdf_media, _ = export.download(
            session=s, clock=runtime.clock, user_id=user, export_id=export_id, token=token, fmt="pdf"
        )
    assert media == "application/json" and name.endswith(".json") and pdf_media == "application/pdf"
    document = json.loads(raw)
    assert document["format"] == "qianshu.personal-data.v1" and document["user_id"] == user
    sections = document["sections"]
    assert {
        "accounts",
        "devices",
        "pki",
        "consents",
        "preferences",
        "shared_with",
        "staff_access",
        "evidence",
        "requests",
    } <= set(sections)
    fields = {f["name"]: f["value"] for f in sections["accounts"]["fields"]}
    assert fields["phone"] == PHONE and fields["display_name"] == "王小明"  # in clear for the owner
    assert sections["pki"]["records"][0]["subject_name"] == "王小明"
    assert sections["shared_with"]["records"][0]["recipient"] == "天威诚信电子商务服务有限公司"
    assert sections["devices"]["records"] and sections["evidence"]["fields"][0]["name"] == "logged_requests"
    assert [c["policy_version"] for c in sections["consents"]["records"] if "policy_version" in c] == ["1.0"]
    # the PDF embeds its font, renders, and its text layer holds the Chinese text
    assert pdf.startswith(b"%PDF-") and b"/FontFile2" in pdf
    (tmp_path / "copy.pdf").write_bytes(pdf)
    if shutil.which("pdftoppm"):
        subprocess.run(
            [
                "pdftoppm",
                "-png",
                "-r",
                "60",
                "-f",
                "1",
                "-l",
                "1",
                str(tmp_path / "copy.pdf"),
                str(tmp_path / "page"),
            ],
            check=True,
        )
        (png,) = tmp_path.glob("page*.png")
        assert png.stat().st_size > 5_000
    if shutil.which("pdftotext"):
        text = subprocess.run(
            ["pdftotext", str(tmp_path / "copy.pdf"), "-"], check=True, capture_output=True
        ).stdout
        assert "个人信息副本" in text.decode() and "王小明" in text.decode()


def test_copies_are_encrypted_owner_only_and_expire(
    runtime: Runtime, outbox: Outbox, run_jobs: Any, clock: FrozenClock
) -> None:
    from qianshu.privacy.centre_models import DataExport
    from qianshu.storage import service as storage_service

    user, export_id, token = _ready_copy(runtime, outbox, run_jobs)
    other = register_user(runtime, outbox, "13800138302", name="李四")
    with runtime.transaction() as s:
        row = s.get(DataExport, export_id)
        assert row is not None and row.json_blob_id
        stored = storage_service.blob_store(session=s)
        assert b"13800138301" not in b"".join(stored.open(row.json_blob_id))  # encrypted at rest
        for bad in ({"user_id": other, "token": token}, {"user_id": user, "token": "wrong"}):
            with pytest.raises(ExportNotReady):
                export.download(session=s, clock=clock, export_id=export_id, fmt="json", **bad)
        with pytest.raises(ExportNotReady):
            export.download(session=s, clock=clock, user_id=user, export_id=export_id, token=token, fmt="zip")
        json_blob = row.json_blob_id
    clock.advance(timedelta(hours=73))
    with runtime.transaction() as s:
        with pytest.raises(ExportNotReady):
            export.download(
                session=s, clock=clock, user_id=user, export_id=export_id, token=token, fmt="json"
            )
        assert retention.run_sweep(session=s, clock=clock)["exports_expired"] == 1
        assert storage_service.get_blob(session=s, blob_id=json_blob) is None
        assert [e.status for e in export.list_exports(session=s, user_id=user)] == ["expired"]
