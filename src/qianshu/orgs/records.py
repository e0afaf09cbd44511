"""Shared plumbing of the orgs services: loading an organisation for a member, vault fields, audit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from qianshu.core.clock import Clock, as_utc
from qianshu.core.deps import RequestContext
from qianshu.orgs.errors import OrgForbidden, OrgNotFound
from qianshu.orgs.models import Org, OrgMember
from qianshu.orgs.roles import Permission, allows
from qianshu.vault import service as vault_service

ACTIVE, REMOVED = "active", "removed"
DRAFT, VERIFIED = "draft", "verified"


def stream_of(org_id: str) -> str:
    """Return the audit stream of an organisation."""
    return f"org:{org_id}"


def audit(
    session: Session,
    clock: Clock,
    *,
    org_id: str,
    actor: str,
    action: str,
    object_id: str | None = None,
    data: dict[str, Any] | None = None,
    context: RequestContext | None = None,
) -> str:
    """Record one event on the organisation's audit stream, in the caller's transaction."""
    from qianshu.evidence import service as evidence_service

    return evidence_service.record_event(
        session=session,
        clock=clock,
        stream=stream_of(org_id),
        actor=actor,
        action=action,
        object_id=object_id or org_id,
        data=data or {},
        context=context,
    )


def seal_text(session: Session, *, org_id: str, table: str, column: str, row_id: str, value: str) -> bytes:
    """Encrypt a text field under the organisation's data key."""
    return vault_service.encrypt_field(
        session=session, subject_id=org_id, table=table, column=column, row_id=row_id, value=value
    )


def open_text(session: Session, *, org_id: str, table: str, column: str, row_id: str, blob: bytes) -> str:
    """Decrypt a text field sealed under the organisation's data key."""
    return vault_service.decrypt_field(
        session=session, subject_id=org_id, table=table, column=column, row_id=row_id, blob=blob
    )


def seal_bytes(session: Session, *, org_id: str, table: str, column: str, row_id: str, value: bytes) -> bytes:
    """Encrypt a binary field (an image) under the organisation's data key."""
    return vault_service.encrypt_bytes(
        session=session, subject_id=org_id, table=table, column=column, row_id=row_id, value=value
    )


def open_bytes(session: Session, *, org_id: str, table: str, column: str, row_id: str, blob: bytes) -> bytes:
    """Decrypt a binary field sealed under the organisation's data key."""
    return vault_service.decrypt_bytes(
        session=session, subject_id=org_id, table=table, column=column, row_id=row_id, blob=blob
    )


def membership(session: Session, *, org_id: str, user_id: str) -> OrgMember | None:
    """Return the user's active membership of the organisation, or None."""
    return session.scalar(
        select(OrgMember).where(OrgMember.org_id == org_id, OrgMember.user_id == user_id, OrgMember.status == ACTIVE)
    )


def org_for(
    session: Session,
    *,
    org_id: str,
    user_id: str,
    permission: Permission = Permission.VIEW,
    lock: bool = False,
) -> tuple[Org, OrgMember]:
    """Return the organisation and the caller's membership; 404 for non-members, 403 without `permission`."""
    member = membership(session, org_id=org_id, user_id=user_id)
    if member is None:
        raise OrgNotFound()
    query = select(Org).where(Org.id == org_id)
    if lock:
        query = query.with_for_update()
    org = session.scalar(query)
    if org is None:  # pragma: no cover - a membership always has its org (foreign key)
        raise OrgNotFound()
    if not allows(member.role, permission):
        raise OrgForbidden()
    return org, member


def lock_org(session: Session, org_id: str) -> Org:
    """Return the organisation re-read and locked for update until the transaction ends."""
    org = session.scalar(
        select(Org).where(Org.id == org_id).with_for_update().execution_options(populate_existing=True)
    )
    if org is None:
        raise OrgNotFound()
    return org


def is_expired(expires_at: datetime | None, now: datetime) -> bool:
    """Tell whether an optional expiry lies in the past."""
    return expires_at is not None and as_utc(expires_at) <= now
