"""Incidents (P12), statistics with k-anonymity (P14), and wind-down (P15)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from qianshu.core.clock import FrozenClock
from qianshu.core.errors import InvalidInput
from qianshu.core.runtime import Runtime
from qianshu.privacy import incidents, statistics, winddown
from qianshu.privacy.centre_schemas import IncidentCreate
from qianshu.privacy.errors import CollectionStopped, IncidentNotFound
from tests.privacy.centre_support import CHEAP_HASHING, Outbox, install_outbox, make_operator, register_user


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {**CHEAP_HASHING, "statistics_min_group_size": 3}


@pytest.fixture
def outbox(monkeypatch: pytest.MonkeyPatch) -> Outbox:
    return install_outbox(monkeypatch)


def _incident(subjects: list[str], scope: str = "explicit") -> IncidentCreate:
    start = datetime(2026, 1, 4, 0, 0, tzinfo=UTC)
    return IncidentCreate(
        title="短信服务商日志泄露",
        summary="短信服务商的发送日志被未授权访问。",
        impact="手机号与短信内容可能泄露。",
        measures="已更换服务商密钥并删除日志。",
        advice="请警惕冒充平台的短信，不要透露验证码。",
        severity="high",
        categories=["contact"],
        occurred_from=start,
        occurred_to=start + timedelta(hours=6),
        discovered_at=start + timedelta(days=1),
        scope=scope,
        subject_ids=subjects,  # type: ignore[arg-type]
    )


def test_incident_finds_the_affected_tells_them_and_exports_a_report(
    runtime: Runtime, outbox: Outbox, clock: FrozenClock, run_jobs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = register_user(runtime, outbox, "13800138601")
    b = register_user(runtime, outbox, "13800138602")
    c = register_user(runtime, outbox, "13800138603")
    make_operator(runtime, "sec@example.com", ("security",))
    with runtime.transaction() as s:
        with pytest.raises(InvalidInput):
            incidents.record_incident(session=s, clock=clock, actor="usr_sec", data=_incident(["usr_nobody"]))
        one = incidents.record_incident(session=s, clock=clock, actor="usr_sec", data=_incident([a, b]))
        everyone = incidents.record_incident(
            session=s, clock=clock, actor="usr_sec", data=_incident([], "all")
        )
        assert one.affected_count == 2 and everyone.affected_count == 3  # operators are not "users"
    monkeypatch.setattr(incidents, "NOTIFY_BATCH", 1)  # two batches: the job re-queues itself
    with runtime.transaction() as s:
        incidents.send_notices(session=s, clock=clock, actor="usr_sec", incident_id=one.id)
    run_jobs()
    assert (
        outbox.templates(a)[-1] == "privacy_incident_notice"
        and outbox.templates(b)[-1] == "privacy_incident_notice"
    )
    assert "privacy_incident_notice" not in outbox.templates(c)
    with runtime.transaction() as s:
        report = incidents.regulator_report(session=s, clock=clock, actor="usr_sec", incident_id=one.id)
        assert (report["affected_subjects"], report["subjects_notified"]) == (2, 2)
        assert [e["action"] for e in report["timeline"]] == [
            "privacy.incident_recorded",
            "privacy.incident_notices_started",
            "privacy.incident_notified",
            "privacy.incident_reported",
        ]
        assert "13800138601" not in str(report)
        assert incidents.notice_for(session=s, user_id=a, incident_id=one.id).title == "短信服务商日志泄露"
        with pytest.raises(IncidentNotFound):
            incidents.notice_for(session=s, user_id=c, incident_id=one.id)
        assert [i.status for i in incidents.list_incidents(session=s) if i.id == one.id] == ["reported"]


def test_statistics_suppress_small_groups_and_carry_no_identifiers(
    runtime: Runtime, outbox: Outbox, clock: FrozenClock
) -> None:
    for i in range(4):
        register_user(runtime, outbox, f"1380013870{i}")
    clock.set(datetime(2026, 3, 2, 2, 0, tzinfo=UTC))
    register_user(runtime, outbox, "13800138710")
    with runtime.transaction() as s:
        report = statistics.compute(session=s, clock=clock)
    (table,) = [t for t in report.tables if t.key == "registrations_by_month"]
    cells = {c.group: (c.value, c.suppressed) for c in table.cells}
    # January has 4 >= k=3 but March's 1 would be the only hidden cell: both are suppressed
    assert cells == {"2026-01": (None, True), "2026-03": (None, True)}
    assert "usr_" not in report.model_dump_json()
    assert statistics.suppress({"a": 10, "b": 12, "c": 0}, 3)[0].value == 10


def test_wind_down_stops_collection_tells_everyone_closes_accounts_and_hands_over(
    runtime: Runtime, outbox: Outbox, clock: FrozenClock, tmp_path: Path
) -> None:
    from qianshu.accounts import service as accounts_service
    from qianshu.pki import service as pki_service
    from qianshu.vault import service as vault_service

    user = register_user(runtime, outbox, "13800138801")
    with runtime.transaction() as s:
        pki_service.issue_person_certificate(session=s, clock=clock, subject_id=user, name="张三")
    report = winddown.run_wind_down(
        runtime=runtime, end_date=date(2026, 6, 30), out_dir=tmp_path / "ca", purge=True
    )
    assert report.announced == 1 and report.accounts_closed == 1
    assert "certificates.json" in report.handover_files and "ca-root.pem" in report.handover_files
    assert "privacy_service_winddown" in outbox.templates(user)
    with runtime.transaction() as s:
        assert winddown.collection_stopped(session=s)
        with pytest.raises(CollectionStopped):
            winddown.check_collection_allowed(session=s)
        assert accounts_service.get_user(session=s, user_id=user).status == "cancelled"  # type: ignore[union-attr]
        assert vault_service.is_shredded(session=s, subject_id=user)
        assert vault_service.has_retention_key(session=s, subject_id=user)
    assert (tmp_path / "ca" / "crl-issuing.crl").stat().st_size > 0
    # running it again changes nothing that was done
    again = winddown.run_wind_down(runtime=runtime, end_date=date(2026, 6, 30), out_dir=None, purge=False)
    assert again.collection_stopped_since == report.collection_stopped_since and again.announced == 0
