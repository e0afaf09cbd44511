"""Deletion of data tied to a contract needs every party's agreement (P8, YQ1 五(三)2).

The mechanism is generic over "the parties of an object": a domain registers an object type with a
function naming its parties (and, optionally, one that deletes the requester's data tied to the
object), or exposes `privacy_parties_of(*, session, object_type, object_id)` and
`privacy_delete_for_object(*, session, clock, object_type, object_id, requester)` in its service.
When a confirmed request arrives, every other party is asked; one refusal closes the request, and
only when all agree does it join the operators' queue (its deadline starts then). The outcome is
recorded on the request and shown to every party in their privacy centre.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from qianshu.core.clock import Clock
from qianshu.core.deps import RequestContext
from qianshu.core.errors import Forbidden, NotFound
from qianshu.core.ids import new_id
from qianshu.evidence import service as evidence_service
from qianshu.privacy import notices
from qianshu.privacy import requests as requests_module
from qianshu.privacy.centre_models import PartyDecision, PrivacyRequest
from qianshu.privacy.centre_schemas import RequestRead
from qianshu.privacy.errors import RequestNotFound, RequestStateConflict

PartyResolver = Callable[..., "list[str] | None"]
DeletionExecutor = Callable[..., None]


@dataclass(frozen=True)
class ObjectType:
    """How privacy finds the parties of an object, and how the owning domain deletes the data."""

    parties: PartyResolver
    execute: DeletionExecutor | None = None


_TYPES: dict[str, ObjectType] = {}


def register_object_type(
    object_type: str, *, parties: PartyResolver, execute: DeletionExecutor | None = None
) -> None:
    """Register `parties(*, session, object_type, object_id)` (and a deleter) for `object_type`."""
    _TYPES[object_type] = ObjectType(parties=parties, execute=execute)


def unregister_object_type(object_type: str) -> None:
    """Forget a registered object type (tests)."""
    _TYPES.pop(object_type, None)


def _from_domains(name: str) -> list[Callable[..., object]]:
    from qianshu.app import domain_modules

    return [fn for mod in domain_modules("service") if callable(fn := getattr(mod, name, None))]


def parties_of(*, session: Session, object_type: str, object_id: str) -> list[str] | None:
    """Return the party ids of an object, or None when no domain knows the object."""
    registered = _TYPES.get(object_type)
    if registered is not None:
        found = registered.parties(session=session, object_type=object_type, object_id=object_id)
        return None if found is None else sorted(set(found))
    for fn in _from_domains("privacy_parties_of"):
        result = fn(session=session, object_type=object_type, object_id=object_id)
        if isinstance(result, list):
            return sorted({str(p) for p in result})
    return None


def parties_or_raise(*, session: Session, object_type: str, object_id: str, requester: str) -> list[str]:
    """Return the parties of an object the requester is a party to; raise otherwise."""
    found = parties_of(session=session, object_type=object_type, object_id=object_id)
    if found is None:
        raise NotFound("未找到该合同", detail_en="No such contract or object")
    if requester not in found:
        raise Forbidden("您不是该合同的当事方", detail_en="You are not a party to it")
    return found


def ask_parties(
    *, session: Session, clock: Clock, row: PrivacyRequest, context: RequestContext | None
) -> None:
    """Record a pending decision for every party (the requester agrees by asking) and ask the others."""
    assert row.object_type is not None and row.object_id is not None
    parties = parties_or_raise(
        session=session, object_type=row.object_type, object_id=row.object_id, requester=row.user_id
    )
    now = clock.now()
    for party in parties:
        mine = party == row.user_id
        session.add(
            PartyDecision(
                id=new_id("ppd"),
                request_id=row.id,
                party_id=party,
                decision="agree" if mine else "pending",
                created_at=now,
                decided_at=now if mine else None,
            )
        )
    session.flush()
    requests_module.add_step(
        session,
        clock,
        row,
        actor="system",
        actor_role="system",
        action="parties_asked",
        data={"parties": len(parties)},
        context=context,
    )
    for party in parties:
        if party != row.user_id:
            notices.notify_user(
                session=session,
                clock=clock,
                user_id=party,
                template="privacy_party_consent",
                params={"request_id": row.id},
            )
    _maybe_all_agreed(session, clock, row)


def _maybe_all_agreed(session: Session, clock: Clock, row: PrivacyRequest) -> None:
    pending = session.scalar(
        select(PartyDecision.id)
        .where(PartyDecision.request_id == row.id, PartyDecision.decision != "agree")
        .limit(1)
    )
    if pending is None and row.status == requests_module.AWAITING_PARTIES:
        row.status = requests_module.OPEN
        requests_module.start_deadline(session, clock, row)
        requests_module.add_step(
            session,
            clock,
            row,
            actor="system",
            actor_role="system",
            action="all_parties_agreed",
            data={"due_on": row.due_on.isoformat() if row.due_on else None},
        )
        requests_module.tell_status(session, clock, row)


def answer(
    *,
    session: Session,
    clock: Clock,
    user_id: str,
    request_id: str,
    decision: str,
    context: RequestContext | None = None,
) -> RequestRead:
    """Record a party's agreement or refusal; a refusal closes the request for everyone."""
    if decision not in ("agree", "refuse"):
        raise RequestStateConflict("答复须为同意或拒绝", detail_en="Answer agree or refuse")
    row = session.get(PrivacyRequest, request_id)
    mine = session.scalar(
        select(PartyDecision).where(PartyDecision.request_id == request_id, PartyDecision.party_id == user_id)
    )
    if row is None or mine is None:
        raise RequestNotFound()
    if row.status != requests_module.AWAITING_PARTIES or mine.decision != "pending":
        raise RequestStateConflict("该请求已不需要您的答复", detail_en="Your answer is no longer needed")
    mine.decision, mine.decided_at = decision, clock.now()
    session.flush()
    evidence_service.record_event(
        session=session,
        clock=clock,
        stream=f"user:{user_id}",
        actor=user_id,
        action="privacy.party_agreed" if decision == "agree" else "privacy.party_refused",
        object_id=row.id,
        context=context,
    )
    requests_module.add_step(
        session,
        clock,
        row,
        actor=user_id,
        actor_role="party",
        action="party_agreed" if decision == "agree" else "party_refused",
        context=context,
    )
    if decision == "refuse":
        row.status = row.resolution = requests_module.REFUSED
        row.closed_at = clock.now()
        requests_module.add_step(
            session, clock, row, actor="system", actor_role="system", action="closed_refused"
        )
        tell_parties(session=session, clock=clock, row=row)
        requests_module.tell_status(session, clock, row)
    else:
        _maybe_all_agreed(session, clock, row)
    return requests_module.to_read(session, clock, row, reveal=False)


def execute_deletion(*, session: Session, clock: Clock, row: PrivacyRequest, actor: str) -> None:
    """Have the owning domain delete the requester's data tied to the object (all parties agreed)."""
    assert row.object_type is not None and row.object_id is not None
    agreed = list(session.scalars(select(PartyDecision.decision).where(PartyDecision.request_id == row.id)))
    if not agreed or any(d != "agree" for d in agreed):
        raise RequestStateConflict("尚未取得全部相关方同意", detail_en="Not every party has agreed")
    registered = _TYPES.get(row.object_type)
    executors: list[Callable[..., object]] = (
        [registered.execute] if registered is not None and registered.execute is not None else []
    )
    if registered is None:
        executors = _from_domains("privacy_delete_for_object")
    if not executors:
        raise RequestStateConflict(
            "该类对象尚不支持删除，请驳回并说明原因",
            detail_en="No domain deletes data of this object type yet; reject with an explanation",
        )
    executors[0](
        session=session,
        clock=clock,
        object_type=row.object_type,
        object_id=row.object_id,
        requester=row.user_id,
    )
    requests_module.add_step(session, clock, row, actor=actor, actor_role="staff", action="data_deleted")


def tell_parties(*, session: Session, clock: Clock, row: PrivacyRequest) -> None:
    """Tell every other party how the request ended."""
    for party in session.scalars(select(PartyDecision.party_id).where(PartyDecision.request_id == row.id)):
        if party == row.user_id:
            continue
        label = requests_module.STATUS_LABELS.get(row.status, (row.status, row.status))[0]
        notices.notify_user(
            session=session,
            clock=clock,
            user_id=party,
            template="privacy_request_update",
            params={"request_id": row.id, "status": label},
        )
