"""Operator sub-roles with least privilege, and the log of staff access to personal data (P10).

The accounts domain knows one staff role, `operator`. Privacy narrows it: an operator holds one
or more sub-roles (`support`, `reviewer`, `privacy_officer`, `security`) recorded here, and each
action needs a permission one of those roles grants. An operator with no sub-role may do nothing
here, except in demo mode (`QIANSHU_DEMO`), where unassigned operators hold every role so a fresh
instance can be tried out. Every time staff see a person's data in clear they say why, and the
access is logged with the fields seen and shown to that person in their privacy centre.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from qianshu.core.auth import Principal, get_operator_user, get_page_operator, requires_sign_in
from qianshu.core.clock import Clock
from qianshu.core.deps import DbSession, RequestContext
from qianshu.core.errors import InvalidInput, NotFound
from qianshu.core.ids import is_id, new_id
from qianshu.core.logging import get_logger
from qianshu.core.runtime import runtime_of
from qianshu.evidence import service as evidence_service
from qianshu.privacy.centre_models import StaffAccess, StaffRole
from qianshu.privacy.centre_schemas import StaffAccessRead, StaffRoleRead
from qianshu.privacy.errors import StaffRoleRequired
from qianshu.vault import service as vault_service

log = get_logger("qianshu.privacy")

SUPPORT, REVIEWER, PRIVACY_OFFICER, SECURITY = "support", "reviewer", "privacy_officer", "security"
ROLES: dict[str, tuple[str, str]] = {
    SUPPORT: ("客服", "Support"),
    REVIEWER: ("实名审核员", "Identity reviewer"),
    PRIVACY_OFFICER: ("个人信息保护负责人", "Privacy officer"),
    SECURITY: ("安全员", "Security officer"),
}
# permission -> roles that grant it (个人信息保护法 第51条: 操作权限, least privilege)
PERMISSIONS: dict[str, frozenset[str]] = {
    "requests.view": frozenset({SUPPORT, PRIVACY_OFFICER}),
    "requests.handle": frozenset({PRIVACY_OFFICER}),
    "complaints.handle": frozenset({SUPPORT, PRIVACY_OFFICER}),
    "calendar.manage": frozenset({PRIVACY_OFFICER}),
    "policy.publish": frozenset({PRIVACY_OFFICER}),
    "pi.reveal.contact": frozenset({SUPPORT, PRIVACY_OFFICER}),
    "pi.reveal.identity": frozenset({REVIEWER, PRIVACY_OFFICER}),
    "staff.manage": frozenset({PRIVACY_OFFICER}),
    "staff_access.audit": frozenset({PRIVACY_OFFICER, SECURITY}),
    "incidents.manage": frozenset({SECURITY, PRIVACY_OFFICER}),
    "retention.manage": frozenset({PRIVACY_OFFICER}),
    "legal_hold.manage": frozenset({PRIVACY_OFFICER, SECURITY}),
    "statistics.view": frozenset({PRIVACY_OFFICER, SECURITY}),
}
REASONS: dict[str, tuple[str, str]] = {
    "request_handling": ("处理您的个人信息请求", "Handling your personal-information request"),
    "complaint": ("处理您的投诉", "Handling your complaint"),
    "identity_review": ("实名认证人工审核", "Manual identity review"),
    "support_ticket": ("应您的要求提供客户服务", "Customer support you asked for"),
    "security_investigation": ("安全事件调查", "Security incident investigation"),
    "legal_order": ("依法配合有权机关", "Complying with a lawful order"),
    "review": ("资料人工审核", "Manual review of submitted documents"),
    "legal_request": ("依法配合有权机关的要求", "A lawful request from an authority"),
    "incident": ("安全事件处置", "Handling a security incident"),
}
_ACCESS_TABLE = "privacy_staff_access"


@dataclass(frozen=True)
class Staff:
    """An operator acting through a permission, and the sub-role that grants it."""

    principal: Principal
    role: str
    roles: frozenset[str]

    @property
    def user_id(self) -> str:
        """Return the operator's user id."""
        return self.principal.user_id


def staff_roles(*, session: Session, principal: Principal) -> frozenset[str]:
    """Return the sub-roles `principal` holds (none for non-operators)."""
    if not principal.is_operator:
        return frozenset()
    held = frozenset(session.scalars(select(StaffRole.role).where(StaffRole.user_id == principal.user_id)))
    if not held and runtime_of(session).settings.demo:
        return frozenset(ROLES)
    return held


def require_permission(*, session: Session, principal: Principal, permission: str) -> Staff:
    """Return the staff member when one of their sub-roles grants `permission`; raise otherwise."""
    allowed = PERMISSIONS[permission]
    roles = staff_roles(session=session, principal=principal)
    granting = sorted(roles & allowed)
    if not granting:
        needed = "、".join(ROLES[r][0] for r in sorted(allowed))
        raise StaffRoleRequired(
            f"此操作需要以下角色之一：{needed}",
            detail_en=f"This needs one of the roles: {', '.join(sorted(allowed))}",
            permission=permission,
        )
    return Staff(principal=principal, role=granting[0], roles=roles)


def has_permission(*, session: Session, principal: Principal, permission: str) -> bool:
    """Tell whether `principal` holds `permission`."""
    return bool(staff_roles(session=session, principal=principal) & PERMISSIONS[permission])


def staff_dependency(permission: str, *, page: bool = False) -> Callable[..., Staff]:
    """Return a FastAPI dependency requiring an operator with `permission` (page: login redirect)."""
    base = get_page_operator if page else get_operator_user

    @requires_sign_in
    def dependency(request: Request, session: DbSession) -> Staff:
        principal = base(request, session)
        return require_permission(session=session, principal=principal, permission=permission)

    dependency.__name__ = f"staff_{permission.replace('.', '_')}"
    return dependency


# --- role management ----------------------------------------------------------------------------


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise InvalidInput(f"未知的运营角色：{role[:24]}", detail_en=f"Unknown operator role: {role[:24]}")


def grant_role(*, session: Session, clock: Clock, actor: str, user_id: str, role: str) -> StaffRoleRead:
    """Give operator `user_id` the sub-role `role` (no-op when held)."""
    from qianshu.accounts import service as accounts_service

    _check_role(role)
    user = accounts_service.get_user(session=session, user_id=user_id)
    if user is None or user.role != "operator" or user.status != "active":
        raise InvalidInput(
            "只能为在职的运营账号分配角色", detail_en="Roles go to active operator accounts only"
        )
    row = session.get(StaffRole, (user_id, role))
    if row is None:
        row = StaffRole(user_id=user_id, role=role, granted_by=actor, granted_at=clock.now())
        session.add(row)
        session.flush()
        evidence_service.record_event(
            session=session,
            clock=clock,
            stream=f"user:{user_id}",
            actor=actor,
            action="privacy.staff_role_granted",
            data={"role": role},
        )
    return StaffRoleRead.model_validate(row)


def revoke_role(*, session: Session, clock: Clock, actor: str, user_id: str, role: str) -> None:
    """Take the sub-role `role` away from operator `user_id`."""
    _check_role(role)
    result = session.execute(delete(StaffRole).where(StaffRole.user_id == user_id, StaffRole.role == role))
    if not getattr(result, "rowcount", 0):
        raise NotFound("该运营账号没有此角色", detail_en="The operator does not hold that role")
    evidence_service.record_event(
        session=session,
        clock=clock,
        stream=f"user:{user_id}",
        actor=actor,
        action="privacy.staff_role_revoked",
        data={"role": role},
    )


def list_roles(*, session: Session) -> list[StaffRoleRead]:
    """Return every sub-role assignment."""
    rows = session.scalars(select(StaffRole).order_by(StaffRole.user_id, StaffRole.role))
    return [StaffRoleRead.model_validate(r) for r in rows]


def subject_stream(subject_id: str) -> str:
    """Return the audit stream of a person (`user:…`) or organisation (`org:…`), else `system`."""
    if is_id(subject_id, "usr"):
        return f"user:{subject_id}"
    if is_id(subject_id, "org"):
        return f"org:{subject_id}"
    return "system"


# --- staff access log ---------------------------------------------------------------------------


def _check_reason(reason: str) -> None:
    if reason not in REASONS:
        raise InvalidInput(
            "请选择查看个人信息的理由",
            detail_en=f"Unknown access reason: {reason[:32]}",
            reasons=sorted(REASONS),
        )


def record_staff_access(
    *,
    session: Session,
    clock: Clock,
    staff_id: str,
    subject_id: str,
    fields: list[str],
    reason: str,
    staff_role: str | None = None,
    note: str | None = None,
    object_id: str | None = None,
    context: RequestContext | None = None,
) -> str:
    """Log that staff saw `fields` of `subject_id` in clear, and why; return the log id."""
    _check_reason(reason)
    if staff_role is None:
        held = sorted(session.scalars(select(StaffRole.role).where(StaffRole.user_id == staff_id)))
        staff_role = held[0] if held else "operator"
    if not fields or any(not f or len(f) > 64 for f in fields):
        raise InvalidInput("请列出查看的字段", detail_en="List the fields seen")
    access_id = new_id("sta")
    note_enc = None
    if note and note.strip() and not vault_service.is_shredded(session=session, subject_id=subject_id):
        note_enc = vault_service.encrypt_field(
            session=session,
            subject_id=subject_id,
            table=_ACCESS_TABLE,
            column="note",
            row_id=access_id,
            value=note.strip()[:400],
        )
    session.add(
        StaffAccess(
            id=access_id,
            staff_id=staff_id,
            staff_role=staff_role,
            subject_id=subject_id,
            fields=sorted(set(fields)),
            reason=reason,
            note_enc=note_enc,
            object_id=object_id,
            request_id=context.request_id[:64] if context is not None else None,
            accessed_at=clock.now(),
        )
    )
    session.flush()
    stream = subject_stream(subject_id)
    evidence_service.record_event(
        session=session,
        clock=clock,
        stream=stream,
        actor=staff_id,
        action="privacy.staff_access",
        object_id=access_id,
        data={"fields": sorted(set(fields)), "reason": reason, "role": staff_role, "subject": subject_id},
        context=context,
    )
    log.info("staff_access", access_id=access_id, staff_id=staff_id, subject_id=subject_id, reason=reason)
    return access_id


def _access_read(session: Session, row: StaffAccess, *, with_note: bool, locale: str) -> StaffAccessRead:
    note = None
    if with_note and row.note_enc is not None:
        try:
            note = vault_service.decrypt_field(
                session=session,
                subject_id=row.subject_id,
                table=_ACCESS_TABLE,
                column="note",
                row_id=row.id,
                blob=row.note_enc,
            )
        except vault_service.DataShredded:
            note = None
    labels = REASONS.get(row.reason, (row.reason, row.reason))
    return StaffAccessRead(
        id=row.id,
        staff_id=row.staff_id,
        staff_role=row.staff_role,
        subject_id=row.subject_id,
        fields=list(row.fields),
        reason=row.reason,
        reason_label=labels[1] if locale.startswith("en") else labels[0],
        note=note,
        object_id=row.object_id,
        accessed_at=row.accessed_at,
    )


def list_staff_access(
    *,
    session: Session,
    subject_id: str | None = None,
    staff_id: str | None = None,
    limit: int = 500,
    with_note: bool = False,
    locale: str = "zh-CN",
) -> list[StaffAccessRead]:
    """Return staff accesses to one person's data (or by one staff member), newest first."""
    query = select(StaffAccess).order_by(StaffAccess.accessed_at.desc()).limit(max(1, min(limit, 5000)))
    if subject_id is not None:
        query = query.where(StaffAccess.subject_id == subject_id)
    if staff_id is not None:
        query = query.where(StaffAccess.staff_id == staff_id)
    return [_access_read(session, r, with_note=with_note, locale=locale) for r in session.scalars(query)]
