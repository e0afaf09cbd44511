"""Member roles of an organisation and what each may do.

| role        | sees the org | manages members | manages seals | runs verification |
|-------------|--------------|-----------------|---------------|-------------------|
| owner       | yes          | yes (all)       | yes           | yes               |
| admin       | yes          | yes (not owners)| yes           | yes               |
| seal_keeper | yes          | no              | yes           | no                |
| agent       | yes          | no              | no            | no                |
| member      | yes          | no              | no            | no                |

Using a seal is never implied by a role: it needs a seal grant (`orgs.seals`).
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """A member's role in an organisation."""

    OWNER = "owner"
    ADMIN = "admin"
    AGENT = "agent"  # 经办人: acts for the organisation (signs with a granted seal)
    SEAL_KEEPER = "seal_keeper"  # 印章管理员
    MEMBER = "member"


class Permission(StrEnum):
    """Something a member may be allowed to do."""

    VIEW = "view"
    MANAGE_MEMBERS = "manage_members"
    MANAGE_SEALS = "manage_seals"
    VERIFY = "verify"  # run the enterprise verification steps


_GRANTS: dict[Role, frozenset[Permission]] = {
    Role.OWNER: frozenset(Permission),
    Role.ADMIN: frozenset(Permission),
    Role.SEAL_KEEPER: frozenset({Permission.VIEW, Permission.MANAGE_SEALS}),
    Role.AGENT: frozenset({Permission.VIEW}),
    Role.MEMBER: frozenset({Permission.VIEW}),
}

LABELS: dict[Role, tuple[str, str]] = {
    Role.OWNER: ("所有者", "Owner"),
    Role.ADMIN: ("管理员", "Administrator"),
    Role.AGENT: ("经办人", "Agent"),
    Role.SEAL_KEEPER: ("印章管理员", "Seal keeper"),
    Role.MEMBER: ("成员", "Member"),
}


def allows(role: str, permission: Permission) -> bool:
    """Tell whether `role` holds `permission` (unknown roles hold nothing)."""
    try:
        return permission in _GRANTS[Role(role)]
    except ValueError:
        return False


def label(role: str, locale: str = "zh-CN") -> str:
    """Return the display name of `role` in `locale`."""
    try:
        zh, en = LABELS[Role(role)]
    except ValueError:
        return role
    return en if locale.startswith("en") else zh
