"""De-identified statistics (P14): counts per group, no identifiers, small groups suppressed.

Each table counts people or requests per group (a month, a kind). A group smaller than
`statistics_min_group_size` (k, default 10) is published as suppressed, never as its number
(k-anonymity); when a table would have exactly one suppressed group, the next smallest is
suppressed as well, so no published total minus the shown numbers reveals it (complementary
suppression). Totals are not published. Nothing here names or identifies anyone.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qianshu.core.clock import Clock
from qianshu.core.runtime import runtime_of
from qianshu.privacy.centre_models import PrivacyRequest
from qianshu.privacy.centre_schemas import StatisticsCell, StatisticsReport, StatisticsTable
from qianshu.privacy.holidays import beijing_date


def suppress(counts: dict[str, int], k: int) -> list[StatisticsCell]:
    """Return the cells of `counts`, groups under `k` suppressed (and one more when only one is)."""
    hidden = {g for g, n in counts.items() if 0 < n < k}
    if len(hidden) == 1:
        others = sorted((n, g) for g, n in counts.items() if g not in hidden and n > 0)
        if others:
            hidden.add(others[0][1])
    return [
        StatisticsCell(group=g, value=None if g in hidden else n, suppressed=g in hidden)
        for g, n in sorted(counts.items())
    ]


def _month(at: datetime) -> str:
    return beijing_date(at).strftime("%Y-%m")


def compute(*, session: Session, clock: Clock) -> StatisticsReport:
    """Compute the published statistics now."""
    from qianshu.accounts import service as accounts_service

    k = max(2, runtime_of(session).settings.statistics_min_group_size)
    users = [u for u in accounts_service.list_users(session=session, limit=10_000_000) if u.role == "user"]
    registrations = Counter(_month(u.created_at) for u in users)
    rows = session.execute(
        select(PrivacyRequest.kind, func.count())
        .where(PrivacyRequest.verified_at.is_not(None))
        .group_by(PrivacyRequest.kind)
    )
    kinds: Counter[str] = Counter({str(kind): int(count) for kind, count in rows})
    answered: Counter[str] = Counter()
    for closed_at, due_on in session.execute(
        select(PrivacyRequest.closed_at, PrivacyRequest.due_on).where(
            PrivacyRequest.closed_at.is_not(None),
            PrivacyRequest.due_on.is_not(None),
            PrivacyRequest.status.in_(("completed", "rejected")),
        )
    ):
        assert closed_at is not None and due_on is not None
        answered["on_time" if beijing_date(closed_at) <= due_on else "late"] += 1
    cancellations = Counter(
        _month(at)
        for at in session.scalars(
            select(PrivacyRequest.closed_at).where(
                PrivacyRequest.kind == "cancellation", PrivacyRequest.status == "completed"
            )
        )
        if at is not None
    )
    return StatisticsReport(
        generated_at=clock.now(),
        min_group_size=k,
        tables=[
            StatisticsTable(
                key="registrations_by_month",
                title="每月新注册用户数",
                title_en="New accounts per month",
                cells=suppress(dict(registrations), k),
            ),
            StatisticsTable(
                key="requests_by_kind",
                title="个人信息请求数（按类型）",
                title_en="Personal-information requests by kind",
                cells=suppress(dict(kinds), k),
            ),
            StatisticsTable(
                key="requests_answered",
                title="按期答复的请求数",
                title_en="Requests answered in time",
                cells=suppress(dict(answered), k),
            ),
            StatisticsTable(
                key="cancellations_by_month",
                title="每月注销账户数",
                title_en="Accounts closed per month",
                cells=suppress(dict(cancellations), k),
            ),
        ],
    )
