"""What orgs asks the identity domain about people: who is verified, and is this the legal rep.

All calls go through `identity_service` (imported lazily: the identity domain may load after this
one). Nothing here stores personal data; the answers are booleans. A provider failure during a
check of someone else's name and ID number surfaces as the identity domain's 503 (try later).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from qianshu.core.clock import Clock
from qianshu.core.deps import RequestContext


def is_verified(*, session: Session, user_id: str) -> bool:
    """Tell whether the user completed real-name verification (any level)."""
    from qianshu.identity import service as identity_service

    level = identity_service.verified_level(session=session, user_id=user_id)
    return isinstance(level, str) and bool(level) and level != "none"


def is_same_person(*, session: Session, user_id: str, name: str, id_number: str) -> bool:
    """Tell whether the user's verified identity has exactly this name and ID number."""
    from qianshu.identity import service as identity_service

    return bool(
        identity_service.matches_verified_identity(session=session, user_id=user_id, name=name, id_number=id_number)
    )


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
    """Check a name and ID number with the identity provider (two-element check) on behalf of `subject_id`.

    The call is written to `subject_id`'s sharing register by the identity domain (P9); a provider
    failure raises its 503 problem and leaves the legal representative unverified.
    """
    from qianshu.identity import service as identity_service

    return bool(
        identity_service.check_name_and_id(
            session=session,
            clock=clock,
            actor=actor,
            subject_id=subject_id,
            name=name,
            id_number=id_number,
            context=context,
        )
    )
