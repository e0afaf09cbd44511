"""Two-element checks of someone else's name and ID number (e.g. an organisation's legal representative).

Unlike a person's own verification, nothing is stored and nobody becomes verified: the caller
learns whether the provider found exactly this name with this ID number, and decides what to do.
Order (promises A4, P9): local validation (GB 11643, names) → a per-actor rate limit (the check is
not a lookup service) → the provider call through the configured adapter → the call written to the
sharing register in its own transaction (data left this platform even if the caller's transaction
is later rolled back, e.g. because the answer was a mismatch) → the answer. A provider error,
time-out or unreadable reply raises `ProviderUnavailable` (503, "try again later"): it is never
read as a match. Call it before the caller's transaction writes anything (SQLite allows one writer).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from qianshu.core.clock import Clock
from qianshu.core.deps import RequestContext
from qianshu.core.ids import new_id
from qianshu.core.logging import get_logger
from qianshu.core.ratelimit import Limit, enforce
from qianshu.core.runtime import runtime_of
from qianshu.identity import levels
from qianshu.identity.errors import ProviderUnavailable
from qianshu.identity.providers import CheckOutcome, ElementCheck, identity_checker
from qianshu.identity.validators import china_today, parse_id_number, parse_name
from qianshu.privacy import service as privacy_service

__all__ = ["DEFAULT_PURPOSE", "check_name_and_id"]

log = get_logger("qianshu.identity.third_party")

DEFAULT_PURPOSE = "企业认证：核验法定代表人姓名与身份证号 / enterprise verification: legal representative check"


def check_name_and_id(
    *,
    session: Session,
    clock: Clock,
    actor: str,
    subject_id: str,
    name: str,
    id_number: str,
    context: RequestContext | None = None,
    purpose: str = DEFAULT_PURPOSE,
) -> bool:
    """Ask the provider whether `name` and `id_number` belong together; True only on a match.

    `actor` is the user asking (rate-limited per day), `subject_id` the register the call is
    written in (the organisation, for a legal representative). Mismatch and "no record" answer
    False; a provider failure raises `ProviderUnavailable` (retrying=False): try again later.
    """
    runtime = runtime_of(session)
    clean_name = parse_name(name)
    number = parse_id_number(id_number, today=china_today(clock.now())).number
    enforce(
        runtime,
        f"identity.third_party:{actor}",
        Limit(runtime.settings.identity_max_checks_per_day, 86400),
    )
    reference = new_id("idc")
    checker = identity_checker(runtime)
    outcome: CheckOutcome | ProviderUnavailable
    try:
        outcome = checker.check_elements(
            ElementCheck(level="two_elements", reference=reference, name=clean_name, id_number=number)
        )
    except ProviderUnavailable as exc:
        outcome = exc
    sent = outcome.sent if isinstance(outcome, ProviderUnavailable) else True
    if sent:
        with runtime.transaction() as own:
            privacy_service.record_sharing(
                session=own,
                clock=clock,
                subject_id=subject_id,
                recipient=checker.recipient,
                fields=list(levels.PROVIDER_FIELDS["two_elements"]),
                purpose=purpose,
                recipient_kind="identity_provider",
                legal_basis="contract",
                object_id=reference,
                actor=actor,
                context=context,
            )
    if isinstance(outcome, ProviderUnavailable):
        log.warning("identity_third_party_unavailable", reference=reference, reason=outcome.reason)
        raise ProviderUnavailable(outcome.reason, sent=outcome.sent, retrying=False)
    log.info("identity_third_party_checked", reference=reference, result=outcome.result)
    return outcome.result == "match"
