"""Evidence reports (出证): requests by parties and for authorities, decisions, delivery (E3, P9)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from qianshu.core.clock import FrozenClock
from qianshu.core.errors import Conflict, InvalidInput, NotFound
from qianshu.core.ids import new_id
from qianshu.core.runtime import Runtime
from qianshu.evidence import preservation, reports, translog
from qianshu.evidence import service as evidence_service
from qianshu.evidence.evidence_schemas import PreservationRead
from qianshu.privacy import service as privacy_service
from qianshu.signing import service as signing_service
from qianshu.signing.schemas import PadesLevel
from tests.evidence import evidence_support
from tests.evidence.evidence_support import ClientAs, csrf

client_as = evidence_support.client_as  # the shared fixture

CONTENT = "借款合同：甲方向乙方借款人民币拾万元整。".encode() * 30
COURT = "北京市朝阳区人民法院"
REFERENCE = "（2026）京0105民初1234号"


def _preserved(runtime: Runtime, owner: str) -> PreservationRead:
    return preservation.submit_file(runtime=runtime, owner_id=owner, stream=CONTENT, label="借款合同.txt")


def _authority_form(subject_id: str, **overrides: str) -> dict[str, str]:
    form = {
        "subject_kind": "preservation",
        "subject_id": subject_id,
        "authority_kind": "court",
        "authority_name": COURT,
        "reference_no": REFERENCE,
    }
    form.update(overrides)
    return form


# --- party requests -------------------------------------------------------------------------


def test_party_request_approved_issues_a_signed_logged_report(
    runtime: Runtime, client_as: ClientAs, tmp_path: Path
) -> None:
    owner = client_as()
    record = _preserved(runtime, owner.principal.user_id)
    res = owner.post("/api/v1/evidence-reports", json={"subject_id": record.id, "note": "用于诉讼准备"})
    assert res.status_code == 201, res.text
    requested = res.json()
    assert requested["status"] == "requested" and requested["channel"] == "party"
    assert requested["note"] == "用于诉讼准备"
    assert owner.get(f"/api/v1/evidence-reports/{requested['id']}/pdf").status_code == 409  # not issued yet

    assert owner.post(f"/api/v1/evidence-reports/{requested['id']}/approve", json={}).status_code == 403
    operator = client_as(role="operator")
    res = operator.post(f"/api/v1/evidence-reports/{requested['id']}/approve", json={"reason": "材料齐全"})
    assert res.status_code == 200, res.text
    issued = res.json()
    assert issued["status"] == "issued" and issued["decided_by"] == operator.principal.user_id
    assert issued["decision_reason"] == "材料齐全" and issued["log_entry_id"]

    pdf = owner.get(f"/api/v1/evidence-reports/{requested['id']}/pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert hashlib.sha256(pdf.content).hexdigest() == issued["report_sha256"]
    with runtime.transaction() as session:
        validation = signing_service.validate_pdf(
            pdf.content, trust_roots=signing_service.trust_roots(runtime=runtime, session=session)
        )
        leaf = translog.get_leaf(session=session, entry_id=issued["log_entry_id"])
        assert leaf is not None and leaf.index is not None  # the report itself is in the log
        entry = json.loads(translog.get_entry(session=session, index=leaf.index) or b"{}")
        actions = [e.action for e in evidence_service.list_events(session=session, stream=f"preservation:{record.id}")]
    assert validation.ok and validation.signatures[0].pades_level == PadesLevel.B_LTA
    assert entry == {
        **entry,
        "type": "evidence.report",
        "id": requested["id"],
        "subject": record.id,
        "sha256": issued["report_sha256"],
    }
    assert actions[-3:] == ["evidence.report_requested", "evidence.report_approved", "evidence.report_issued"]
    if shutil.which("pdftotext"):
        path = tmp_path / "report.pdf"
        path.write_bytes(pdf.content)
        text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
        for expected in (
            "电子数据证据报告",
            record.sha256,
            "审计日志",
            "可信时间戳",
            "包含证明",
            "检查点",
            runtime.settings.log_origin,
            owner.principal.user_id,
        ):
            assert expected in text, expected
    stranger = client_as()
    assert stranger.get(f"/api/v1/evidence-reports/{requested['id']}").status_code == 404
    assert stranger.get(f"/api/v1/evidence-reports/{requested['id']}/pdf").status_code == 404


def test_reject_needs_a_reason_and_ends_the_request(runtime: Runtime, client_as: ClientAs) -> None:
    owner = client_as()
    record = _preserved(runtime, owner.principal.user_id)
    requested = owner.post("/api/v1/evidence-reports", json={"subject_id": record.id}).json()
    operator = client_as(role="operator")
    assert operator.post(f"/api/v1/evidence-reports/{requested['id']}/reject", json={}).status_code == 422
    res = operator.post(f"/api/v1/evidence-reports/{requested['id']}/reject", json={"reason": "申请用途不明"})
    assert res.status_code == 200 and res.json()["status"] == "rejected"
    seen = owner.get(f"/api/v1/evidence-reports/{requested['id']}").json()
    assert seen["decision_reason"] == "申请用途不明"
    assert operator.post(f"/api/v1/evidence-reports/{requested['id']}/approve", json={}).status_code == 409
    again = owner.post("/api/v1/evidence-reports", json={"subject_id": record.id})
    assert again.status_code == 201  # a closed request does not block a new one


def test_only_parties_may_request_and_not_twice(runtime: Runtime, session: Session, clock: FrozenClock) -> None:
    owner = new_id("usr")
    record = _preserved(runtime, owner)
    with pytest.raises(NotFound):
        reports.request_report(
            session=session,
            clock=clock,
            requester_id=new_id("usr"),
            subject_kind="preservation",
            subject_id=record.id,
        )
    with pytest.raises(InvalidInput):
        reports.request_report(
            session=session, clock=clock, requester_id=owner, subject_kind="ledger", subject_id=record.id
        )
    reports.request_report(
        session=session, clock=clock, requester_id=owner, subject_kind="preservation", subject_id=record.id
    )
    with pytest.raises(Conflict):
        reports.request_report(
            session=session,
            clock=clock,
            requester_id=owner,
            subject_kind="preservation",
            subject_id=record.id,
        )


def test_approval_waits_for_the_log_then_the_job_issues(
    runtime: Runtime, session: Session, clock: FrozenClock, run_jobs: Callable[[], int]
) -> None:
    owner = new_id("usr")
    record = preservation.preserve_hash(session=session, clock=clock, owner_id=owner, sha256="ab" * 32)
    requested = reports.request_report(
        session=session, clock=clock, requester_id=owner, subject_kind="preservation", subject_id=record.id
    )
    approved = reports.approve_report(session=session, clock=clock, report_id=requested.id, operator_id=new_id("usr"))
    session.commit()
    assert approved.status == "approved"
    assert reports.issue_report(session=session, report_id=requested.id) is None  # the subject is not logged yet
    session.rollback()
    run_jobs()
    found = reports.get_report_or_raise(session=session, report_id=requested.id, viewer_id=owner)
    assert found.status == "issued" and found.report_sha256


# --- authority requests and deliveries ------------------------------------------------------


def test_authority_request_delivery_is_registered_and_shown_to_the_subject(
    runtime: Runtime, client_as: ClientAs
) -> None:
    owner = client_as()
    record = _preserved(runtime, owner.principal.user_id)
    operator = client_as(role="operator")
    document = ("调取证据通知书.pdf", b"%PDF-1.4 court notice", "application/pdf")

    refused = owner.post(
        "/api/v1/evidence-reports/authority",
        data=_authority_form(record.id),
        files={"document": document},
        headers=csrf(owner),
    )
    assert refused.status_code == 403
    missing = operator.post(
        "/api/v1/evidence-reports/authority",
        data=_authority_form(record.id),
        files={"note": (None, "无文书")},
        headers=csrf(operator),
    )
    assert missing.status_code == 422
    not_multipart = operator.post(
        "/api/v1/evidence-reports/authority", data=_authority_form(record.id), headers=csrf(operator)
    )
    assert not_multipart.status_code == 400
    bad_kind = operator.post(
        "/api/v1/evidence-reports/authority",
        data=_authority_form(record.id, authority_kind="police"),
        files={"document": document},
        headers=csrf(operator),
    )
    assert bad_kind.status_code == 422

    res = operator.post(
        "/api/v1/evidence-reports/authority",
        data=_authority_form(record.id),
        files={"document": document},
        headers=csrf(operator),
    )
    assert res.status_code == 201, res.text
    requested = res.json()
    assert requested["channel"] == "authority" and requested["authority_name"] == COURT
    assert requested["reference_no"] == REFERENCE and requested["has_request_document"]
    doc = operator.get(f"/api/v1/evidence-reports/{requested['id']}/request-document")
    assert doc.status_code == 200 and doc.content == document[1]
    assert owner.get(f"/api/v1/evidence-reports/{requested['id']}/request-document").status_code == 403

    issued = operator.post(f"/api/v1/evidence-reports/{requested['id']}/approve").json()
    assert issued["status"] == "issued"
    assert owner.get(f"/api/v1/preservations/{record.id}/deliveries").json() == []
    # The data subject sees the request but not the authority's report itself.
    assert owner.get(f"/api/v1/evidence-reports/{requested['id']}").status_code == 200
    assert owner.get(f"/api/v1/evidence-reports/{requested['id']}/pdf").status_code == 403

    pdf = operator.get(f"/api/v1/evidence-reports/{requested['id']}/pdf")
    assert pdf.status_code == 200
    bundle = operator.get(f"/api/v1/evidence-reports/{requested['id']}/bundle")
    assert bundle.status_code == 200 and bundle.content.startswith(b"PK")

    deliveries = owner.get(f"/api/v1/preservations/{record.id}/deliveries").json()
    assert sorted(d["item"] for d in deliveries) == ["bundle", "report_pdf"]
    assert {d["recipient"] for d in deliveries} == {COURT}
    assert all(REFERENCE in d["purpose"] and d["recipient_kind"] == "court" for d in deliveries)
    assert all(d["delivered_by"] == operator.principal.user_id and d["sharing_id"] for d in deliveries)
    with runtime.transaction() as session:
        register = privacy_service.list_sharing(session=session, subject_id=owner.principal.user_id)
    assert len(register) == 2 and {r.id for r in register} == {d["sharing_id"] for d in deliveries}
    assert all(
        r.recipient == COURT
        and r.recipient_kind == "court"
        and r.legal_basis == "legal_obligation"
        and r.object_id == requested["id"]
        for r in register
    )
    page = owner.get(f"/evidence/preservations/{record.id}")
    assert COURT in page.text and REFERENCE in page.text and "证据包（ZIP）" in page.text


def test_party_downloads_are_not_deliveries(runtime: Runtime, session: Session, clock: FrozenClock) -> None:
    owner = new_id("usr")
    record = _preserved(runtime, owner)
    requested = reports.request_report(
        session=session, clock=clock, requester_id=owner, subject_kind="preservation", subject_id=record.id
    )
    session.commit()
    reports.approve_and_issue(runtime=runtime, report_id=requested.id, operator_id=new_id("usr"))
    session.rollback()
    reports.download_report(session=session, clock=clock, report_id=requested.id, viewer_id=owner)
    with pytest.raises(Conflict):
        reports.record_delivery(
            session=session, clock=clock, report_id=requested.id, item="report_pdf", operator_id=new_id("usr")
        )
    assert reports.list_deliveries(session=session, subject_id=record.id) == []


# --- pages ----------------------------------------------------------------------------------


def test_pages_request_decide_and_show_a_report(runtime: Runtime, client_as: ClientAs) -> None:
    owner = client_as()
    record = _preserved(runtime, owner.principal.user_id)
    res = owner.post(
        f"/evidence/preservations/{record.id}/reports",
        data={"note": "仲裁准备"},
        headers=csrf(owner),
        follow_redirects=False,
    )
    assert res.status_code == 303
    report_url = res.headers["location"].split("?")[0]
    operator = client_as(role="operator")
    queue = operator.get("/operator/evidence/reports")
    assert queue.status_code == 200 and report_url.rsplit("/", 1)[-1] in queue.text
    assert owner.get("/operator/evidence/reports").status_code == 403
    page = operator.get(report_url)
    assert "approve-button" in page.text and "仲裁准备" in page.text
    decided = operator.post(
        f"/operator/evidence/reports/{report_url.rsplit('/', 1)[-1]}/decision",
        data={"decision": "approve"},
        headers=csrf(operator),
        follow_redirects=False,
    )
    assert decided.status_code == 303
    shown = owner.get(report_url)
    assert "已出具" in shown.text and "download-report" in shown.text


def test_operator_page_files_an_authority_request(runtime: Runtime, client_as: ClientAs) -> None:
    record = _preserved(runtime, new_id("usr"))
    operator = client_as(role="operator")
    form = operator.get(f"/operator/evidence/reports/new?subject_id={record.id}")
    assert form.status_code == 200 and record.id in form.text
    res = operator.post(
        "/operator/evidence/reports",
        data=_authority_form(record.id, authority_kind="arbitration", authority_name="上海仲裁委员会"),
        files={"document": ("notice.pdf", b"%PDF-1.4 notice", "application/pdf")},
        headers=csrf(operator),
        follow_redirects=False,
    )
    assert res.status_code == 303, res.text
    shown = operator.get(res.headers["location"])
    assert "上海仲裁委员会" in shown.text and "仲裁委员会" in shown.text
    unknown = operator.post(
        "/operator/evidence/reports",
        data=_authority_form("prs_00000000000000000000"),
        files={"document": ("notice.pdf", b"%PDF-1.4 notice", "application/pdf")},
        headers=csrf(operator),
    )
    assert unknown.status_code == 404 and "未找到" in unknown.text
