"""Helpers for the privacy-centre tests: catch messages, register people, make operators."""

from __future__ import annotations

from typing import Any

from qianshu.core.auth import Principal
from qianshu.core.ids import new_id
from qianshu.core.runtime import Runtime
from tests.support.outbox import Outbox, install_outbox

__all__ = ["CHEAP_HASHING", "PASSWORD", "Outbox", "install_outbox", "make_operator", "register_user", "staff_for"]

CHEAP_HASHING = {
    "password_hash_memory_kib": 1024,
    "password_hash_time_cost": 1,
    "password_hash_parallelism": 1,
}
PASSWORD = "Correct-horse-42"


def register_user(runtime: Runtime, outbox: Outbox, phone: str, name: str | None = "张三") -> str:
    """Register a person through the accounts service; return their user id."""
    from qianshu.accounts import service as accounts_service
    from qianshu.privacy import service as privacy_service

    with runtime.transaction() as s:
        accounts_service.start_registration(session=s, clock=runtime.clock, phone=phone)
        version = privacy_service.current_policy(session=s).version
    with runtime.transaction() as s:
        new = accounts_service.complete_registration(
            session=s,
            clock=runtime.clock,
            phone=phone,
            code=outbox.last_code(phone),
            password=PASSWORD,
            accept_policy_version=version,
            display_name=name,
        )
        return new.read.user.id


def make_operator(runtime: Runtime, email: str, roles: tuple[str, ...] = ()) -> Principal:
    """Create an operator holding `roles`; return their principal."""
    from qianshu.accounts import service as accounts_service
    from qianshu.privacy import staff

    with runtime.transaction() as s:
        user = accounts_service.create_operator(session=s, clock=runtime.clock, email=email, password=PASSWORD)
        for role in roles:
            staff.grant_role(session=s, clock=runtime.clock, actor="system", user_id=user.id, role=role)
    return Principal(user_id=user.id, session_id=new_id("ses"), role="operator")


def staff_for(runtime: Runtime, principal: Principal, permission: str) -> Any:
    """Return the `Staff` acting for `principal` through `permission`."""
    from qianshu.privacy import staff

    with runtime.transaction() as s:
        return staff.require_permission(session=s, principal=principal, permission=permission)
