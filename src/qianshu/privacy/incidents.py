"""Personal-information security incidents (P12, 个人信息保护法 第57条).

Staff record what happened, when, which data categories and which people are affected (everyone,
or a list of accounts). Notices tell each affected person — by SMS or e-mail, in batches run by a
job — to read the notice in their account, which states what happened, the possible impact, what
was done and what they can do themselves (第57条 (一)–(三)). The regulator report is a JSON
document assembled from the record, the counts and the audit timeline. Texts are written by staff
and must hold no personal data; every step is audited on the `system` stream.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qianshu.core.clock import Clock
from qianshu.core.errors import InvalidInput
from qianshu.core.ids import is_id, new_id
from qianshu.core.logging import get_logger
from qianshu.core.runtime import runtime_of
from qianshu.evidence import service as evidence_service
from qianshu.privacy import notices
from qianshu.privacy.centre_models import Incident, IncidentSubject
from qianshu.privacy.centre_schemas import IncidentCreate, IncidentRead
from qianshu.privacy.errors import IncidentNotFound, RequestStateConflict

log = get_logger("qianshu.privacy")

NOTIFY_JOB = "privacy.incident_notify"
NOTIFY_BATCH = 200
CATEGORIES = frozenset(
    {
        "contact",
        "identity",
        "id_number",
        "bank_card",
        "face",
        "documents",
        "contracts",
        "signatures",
        "network_logs",
        "credentials",
        "other",
    }
)


def _row_or_raise(session: Session, incident_id: str) -> Incident:
    row = session.get(Incident, incident_id) if is_id(incident_id, "inc") else None
    if row is None:
        raise IncidentNotFound()
    return row


def _audit(
    session: Session, clock: Clock, actor: str, action: str, row: Incident, data: dict[str, Any]
) -> None:
    evidence_service.record_event(
        session=session,
        clock=clock,
        stream="system",
        actor=actor,
        action=f"privacy.incident_{action}",
        object_id=row.id,
        data=data,
    )


def _affected(session: Session, data: IncidentCreate) -> list[str]:
    from qianshu.accounts import service as accounts_service

    if data.scope == "all":
        users = accounts_service.list_users(session=session, limit=10_000_000)
        return [u.id for u in users if u.status == "active" and u.role == "user"]
    ids = sorted(set(data.subject_ids))
    bad = [
        i for i in ids if not is_id(i, "usr") or accounts_service.get_user(session=session, user_id=i) is None
    ]
    if bad:
        raise InvalidInput(f"有 {len(bad)} 个用户编号无效", detail_en=f"{len(bad)} user ids are unknown")
    if not ids:
        raise InvalidInput("请列出受影响的用户", detail_en="List the affected users")
    return ids


def record_incident(*, session: Session, clock: Clock, actor: str, data: IncidentCreate) -> IncidentRead:
    """Record an incident and compute who is affected."""
    unknown = sorted(set(data.categories) - CATEGORIES)
    if unknown:
        raise InvalidInput("未知的数据类别", detail_en=f"Unknown data categories: {', '.join(unknown)}")
    if data.occurred_to is not None and data.occurred_to < data.occurred_from:
        raise InvalidInput("结束时间早于开始时间", detail_en="The incident ends before it starts")
    subjects = _affected(session, data)
    row = Incident(
        id=new_id("inc"),
        title=data.title.strip(),
        summary=data.summary.strip(),
        impact=data.impact.strip(),
        measures=data.measures.strip(),
        advice=data.advice.strip(),
        severity=data.severity,
        categories=sorted(set(data.categories)),
        scope={"kind": data.scope},
        status="open",
        occurred_from=data.occurred_from,
        occurred_to=data.occurred_to,
        discovered_at=data.discovered_at,
        created_by=actor,
        created_at=clock.now(),
        affected_count=len(subjects),
    )
    session.add(row)
    session.flush()
    session.add_all(IncidentSubject(incident_id=row.id, subject_id=s) for s in subjects)
    session.flush()
    _audit(
        session,
        clock,
        actor,
        "recorded",
        row,
        {"severity": row.severity, "affected": len(subjects), "categories": row.categories},
    )
    return IncidentRead.model_validate(row)


def send_notices(*, session: Session, clock: Clock, actor: str, incident_id: str) -> str:
    """Start telling every affected person (a job sends the messages in batches); return the job id."""
    from qianshu.jobs import service as jobs_service

    row = _row_or_raise(session, incident_id)
    if row.status == "closed":
        raise RequestStateConflict("事件已关闭", detail_en="The incident is closed")
    _audit(session, clock, actor, "notices_started", row, {"affected": row.affected_count})
    return jobs_service.enqueue(
        session=session, clock=clock, kind=NOTIFY_JOB, payload={"incident_id": row.id}
    )


def notify_batch(*, session: Session, clock: Clock, incident_id: str) -> int:
    """Send the next batch of notices; queue the next batch when people are left; return how many went."""
    from qianshu.jobs import service as jobs_service

    row = _row_or_raise(session, incident_id)
    pending = list(
        session.scalars(
            select(IncidentSubject)
            .where(IncidentSubject.incident_id == row.id, IncidentSubject.notified_at.is_(None))
            .order_by(IncidentSubject.subject_id)
            .limit(NOTIFY_BATCH)
        )
    )
    for subject in pending:
        message = notices.notify_user(
            session=session,
            clock=clock,
            user_id=subject.subject_id,
            template="privacy_incident_notice",
            params={"incident_id": row.id, "title": row.title[:100]},
        )
        subject.notified_at, subject.channel = clock.now(), "message" if message else "notice_page"
    session.flush()
    left = session.scalar(
        select(func.count())
        .select_from(IncidentSubject)
        .where(IncidentSubject.incident_id == row.id, IncidentSubject.notified_at.is_(None))
    )
    if left:
        jobs_service.enqueue(session=session, clock=clock, kind=NOTIFY_JOB, payload={"incident_id": row.id})
    elif row.notified_at is None:
        row.notified_at = clock.now()
        row.status = "notified" if row.status == "open" else row.status
        _audit(session, clock, "system", "notified", row, {"notified": row.affected_count})
    return len(pending)


def regulator_report(*, session: Session, clock: Clock, actor: str, incident_id: str) -> dict[str, Any]:
    """Assemble the report for the regulator (JSON) and mark the incident reported."""
    row = _row_or_raise(session, incident_id)
    notified = session.scalar(
        select(func.count())
        .select_from(IncidentSubject)
        .where(IncidentSubject.incident_id == row.id, IncidentSubject.notified_at.is_not(None))
    )
    timeline = [
        {"at": e.created_at.isoformat(), "action": e.action, "actor": e.actor}
        for e in evidence_service.list_events(session=session, stream="system")
        if e.object_id == row.id
    ]
    settings = runtime_of(session).settings
    if row.reported_at is None:
        row.reported_at = clock.now()
        row.status = "reported" if row.status in ("open", "notified") else row.status
        _audit(session, clock, actor, "reported", row, {"notified": int(notified or 0)})
        timeline.append(
            {"at": clock.now().isoformat(), "action": "privacy.incident_reported", "actor": actor}
        )
    return {
        "format": "qianshu.incident-report.v1",
        "processor": {
            "name": settings.operator_name,
            "contact": settings.privacy_contact_email,
            "service": settings.site_name,
            "url": settings.public_base_url,
        },
        "incident": {
            "id": row.id,
            "title": row.title,
            "severity": row.severity,
            "categories": row.categories,
            "occurred_from": row.occurred_from.isoformat(),
            "occurred_to": row.occurred_to.isoformat() if row.occurred_to else None,
            "discovered_at": row.discovered_at.isoformat(),
            "summary": row.summary,
            "impact": row.impact,
            "measures": row.measures,
            "advice_to_subjects": row.advice,
        },
        "affected_subjects": int(row.affected_count),
        "subjects_notified": int(notified or 0),
        "timeline": timeline,
        "legal_basis": "个人信息保护法 第57条",
    }


def close_incident(*, session: Session, clock: Clock, actor: str, incident_id: str) -> IncidentRead:
    """Close an incident once handled."""
    row = _row_or_raise(session, incident_id)
    row.status, row.closed_at = "closed", clock.now()
    _audit(session, clock, actor, "closed", row, {})
    return IncidentRead.model_validate(row)


def list_incidents(*, session: Session) -> list[IncidentRead]:
    """Return every incident, newest first."""
    return [
        IncidentRead.model_validate(r)
        for r in session.scalars(select(Incident).order_by(Incident.created_at.desc()))
    ]


def notice_for(*, session: Session, user_id: str, incident_id: str) -> IncidentRead:
    """Return the incident notice if `user_id` is among the affected (NotFound otherwise)."""
    row = _row_or_raise(session, incident_id)
    if session.get(IncidentSubject, (row.id, user_id)) is None:
        raise IncidentNotFound()
    return IncidentRead.model_validate(row)


def notices_for(*, session: Session, user_id: str) -> list[IncidentRead]:
    """Return every incident notice addressed to `user_id`, newest first."""
    rows = session.scalars(
        select(Incident)
        .join(IncidentSubject, IncidentSubject.incident_id == Incident.id)
        .where(IncidentSubject.subject_id == user_id)
        .order_by(Incident.created_at.desc())
    )
    return [IncidentRead.model_validate(r) for r in rows]
