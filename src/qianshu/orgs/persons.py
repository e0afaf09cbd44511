"""What orgs asks the identity domain about people: who is verified, and is this the legal rep.

All calls go through `identity_service` (imported lazily: the identity domain may load after this
one). Nothing here stores personal data; the answers are booleans. Functions the identity service
does not offer (yet) answer 503 with a clear message instead of failing with a 500.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from qianshu.core.clock import Clock
from qianshu.core.deps import RequestContext
from qianshu.core.errors import ServiceUnavailable


def _identity_function(name: str) -> Callable[..., Any]:
    from qianshu.identity import service as identity_service

    fn: Callable[..., Any] | None = getattr(identity_service, name, None)
    if fn is None or not callable(fn):
        raise ServiceUnavailable(
            "实名认证服务暂不支持此项核验", detail_en=f"The identity service does not offer {name} yet"
        )
    return fn


def is_verified(*, session: Session, user_id: str) -> bool:
    """Tell whether the user completed real-name verification (any level)."""
    level = _identity_function("verified_level")(session=session, user_id=user_id)
    return isinstance(level, str) and bool(level) and level != "none"


def is_same_person(*, session: Session, user_id: str, name: str, id_number: str) -> bool:
    """Tell whether the user's verified identity has exactly this name and ID number."""
    matches = _identity_function("matches_verified_identity")
    return bool(matches(session=session, user_id=user_id, name=name, id_number=id_number))


def check_person(
    *,
    session: Session,
    clock: Clock,
    actor: str,
    subject_id: str,
    name: str,
    id_number: str,
    context: RequestContext | None,
) -> bool:
    """Check a name and ID number with the identity provider (two-element check) on behalf of `subject_id`."""
    check = _identity_function("check_name_and_id")
    return bool(
        check(
            session=session,
            clock=clock,
            actor=actor,
            subject_id=subject_id,
            name=name,
            id_number=id_number,
            context=context,
        )
    )
