"""Working-day arithmetic on the Chinese calendar: holidays, 调休 days, provisional years, overrides."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy.orm import Session

from qianshu.core.clock import FrozenClock
from qianshu.core.errors import InvalidInput, NotFound
from qianshu.privacy import holidays
from qianshu.privacy.holidays import Calendar

CAL = Calendar({})


@pytest.mark.parametrize(
    ("day", "working", "kind"),
    [
        (date(2025, 1, 1), False, "holiday"),  # 元旦 (Wednesday)
        (date(2025, 1, 26), True, "workday"),  # Sunday, 春节调休上班
        (date(2025, 1, 28), False, "holiday"),  # 除夕
        (date(2025, 2, 4), False, "holiday"),  # 正月初七
        (date(2025, 2, 8), True, "workday"),  # Saturday, 春节调休上班
        (date(2025, 4, 27), True, "workday"),  # Sunday before 劳动节
        (date(2025, 5, 5), False, "holiday"),
        (date(2025, 10, 8), False, "holiday"),  # 国庆节、中秋节 eighth day
        (date(2025, 10, 11), True, "workday"),
        (date(2026, 1, 4), True, "workday"),  # Sunday after 元旦
        (date(2026, 2, 14), True, "workday"),  # Saturday before 春节
        (date(2026, 2, 23), False, "holiday"),  # Monday, 正月初七
        (date(2026, 2, 28), True, "workday"),
        (date(2026, 5, 9), True, "workday"),
        (date(2026, 6, 19), False, "holiday"),  # 端午节
        (date(2026, 9, 25), False, "holiday"),  # 中秋节
        (date(2026, 9, 20), True, "workday"),
        (date(2026, 10, 10), True, "workday"),
        (date(2026, 3, 2), True, "normal"),  # a plain Monday
        (date(2026, 3, 7), False, "normal"),  # a plain Saturday
    ],
)
def test_state_council_arrangement_for_2025_and_2026(day: date, working: bool, kind: str) -> None:
    info = CAL.info(day)
    assert (info.working, info.kind) == (working, kind)
    assert not CAL.is_provisional(day)


def test_fifteen_working_days_across_the_spring_festival_count_the_make_up_days() -> None:
    # Received Monday 2025-01-20: the 26 Jan (Sunday) and 8 Feb (Saturday) make-up days count,
    # the eight days 28 Jan - 4 Feb do not.
    deadline = CAL.deadline(date(2025, 1, 20), 15)
    assert deadline.due_on == date(2025, 2, 14)
    assert not deadline.provisional
    assert CAL.working_days_between(date(2025, 1, 20), date(2025, 2, 14)) == 15


def test_the_day_of_receipt_is_not_counted_and_deadlines_skip_golden_week() -> None:
    assert CAL.add_working_days(date(2026, 9, 30), 1) == date(2026, 10, 8)  # 1-7 Oct off
    assert CAL.add_working_days(date(2026, 10, 9), 1) == date(2026, 10, 10)  # Saturday 调休
    assert CAL.add_working_days(date(2026, 3, 2), 0) == date(2026, 3, 2)
    assert CAL.working_days_between(date(2026, 3, 9), date(2026, 3, 2)) == -5


def test_2027_is_marked_provisional_and_knows_only_statutory_days() -> None:
    assert holidays.bundled_years() == {2025: "official", 2026: "official", 2027: "provisional"}
    assert CAL.info(date(2027, 2, 6)).kind == "holiday"  # 春节 (正月初一)
    assert CAL.info(date(2027, 2, 6)).source == "provisional"
    assert CAL.is_provisional(date(2027, 3, 1))
    deadline = CAL.deadline(date(2026, 12, 20), 15)
    assert deadline.provisional  # the period runs into 2027
    assert CAL.is_provisional(date(2028, 1, 3))  # no data at all: weekends only, flagged


def test_operator_entries_override_the_bundle_and_make_a_year_official(
    session: Session, clock: FrozenClock
) -> None:
    # The operator loads a (made-up) 2027 make-up working day and cancels a bundled holiday.
    holidays.set_calendar_day(
        session=session,
        clock=clock,
        actor="usr_test",
        day=date(2027, 2, 20),
        kind="workday",
        name="春节调休上班",
    )
    holidays.set_calendar_day(
        session=session, clock=clock, actor="usr_test", day=date(2027, 4, 5), kind="normal", name="取消"
    )
    calendar = holidays.load_calendar(session=session)
    assert calendar.info(date(2027, 2, 20)).working
    assert calendar.info(date(2027, 2, 20)).source == "operator"
    assert calendar.is_working_day(date(2027, 4, 5))  # a Monday again
    assert not calendar.is_provisional(date(2027, 6, 1))
    special = holidays.list_special_days(session=session, year=2027)
    assert date(2027, 2, 20) in [d.day for d in special]
    holidays.remove_calendar_day(session=session, clock=clock, actor="usr_test", day=date(2027, 4, 5))
    assert not holidays.load_calendar(session=session).is_working_day(date(2027, 4, 5))


def test_bad_calendar_input_is_refused(session: Session, clock: FrozenClock) -> None:
    with pytest.raises(InvalidInput):
        holidays.set_calendar_day(
            session=session, clock=clock, actor="x", day=date(2026, 1, 1), kind="party", name="x"
        )
    with pytest.raises(InvalidInput):
        holidays.set_calendar_day(
            session=session, clock=clock, actor="x", day=date(2026, 1, 1), kind="holiday", name=""
        )
    with pytest.raises(NotFound):
        holidays.remove_calendar_day(session=session, clock=clock, actor="x", day=date(2026, 3, 3))


def test_deadlines_use_the_beijing_date_of_receipt() -> None:
    # 2026-02-13 17:00 UTC is already Saturday 14 Feb (a make-up working day) in Beijing.
    assert holidays.beijing_date(datetime(2026, 2, 13, 17, 0, tzinfo=UTC)) == date(2026, 2, 14)
    assert holidays.beijing_date(datetime(2026, 2, 13, 15, 59, tzinfo=UTC)) == date(2026, 2, 13)
