"""The working-day calendar of mainland China: public holidays and make-up working days (调休).

Deadlines of personal-information requests (P6) are counted in working days. A day is a working
day when it is Monday–Friday and not a public holiday, or when it is a make-up working day
(调休上班) on a weekend. The arrangement is published each year by the General Office of the State
Council; the bundled file `data/cn_public_holidays.json` holds 2025 and 2026 (official) and 2027
(provisional: statutory holidays only, until the notice is out). Operators add or correct days in
`privacy_calendar_day`; those entries win. Periods are counted per 民法典 第201条 (the day the
period starts is not counted) and 第203条 (a period ending on a holiday ends on the next working
day, which counting working days gives by construction). Dates are Beijing dates (UTC+8).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import extract, select
from sqlalchemy.orm import Session

from qianshu.core.clock import Clock
from qianshu.core.errors import InvalidInput, NotFound
from qianshu.evidence import service as evidence_service
from qianshu.privacy.centre_models import CalendarDay

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")
DATA_FILE = Path(__file__).parent / "data" / "cn_public_holidays.json"
DayKind = Literal["holiday", "workday", "normal"]
_KINDS = ("holiday", "workday", "normal")
_MAX_SPAN_DAYS = 3 * 366  # no deadline reaches further than this; guards against endless loops


@dataclass(frozen=True)
class DayInfo:
    """What a date is: holiday, make-up working day or an ordinary day, and who says so."""

    day: date
    kind: DayKind
    name: str
    source: Literal["official", "provisional", "operator", "weekday", "weekend"]
    working: bool


@dataclass(frozen=True)
class Deadline:
    """A deadline: the last Beijing date to answer on, and whether provisional calendar data went in."""

    due_on: date
    working_days: int
    provisional: bool


@dataclass(frozen=True)
class _Entry:
    kind: DayKind
    name: str
    source: Literal["official", "provisional", "operator"]


@cache
def _bundled() -> tuple[dict[date, _Entry], dict[int, str]]:
    raw: dict[str, Any] = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    days: dict[date, _Entry] = {}
    status: dict[int, str] = {}
    for year_text, year in raw["years"].items():
        source: Literal["official", "provisional"] = (
            "official" if year["status"] == "official" else "provisional"
        )
        status[int(year_text)] = source
        for item in year["holidays"]:
            current, last = date.fromisoformat(item["from"]), date.fromisoformat(item["to"])
            while current <= last:
                days[current] = _Entry("holiday", item["name"], source)
                current += timedelta(days=1)
        for item in year["workdays"]:
            days[date.fromisoformat(item["date"])] = _Entry("workday", item["name"], source)
    return days, status


def bundled_years() -> dict[int, str]:
    """Return each bundled year and whether its data is `official` or `provisional`."""
    return dict(_bundled()[1])


class Calendar:
    """The bundled arrangement overlaid with the operator's entries."""

    def __init__(self, operator_days: dict[date, _Entry]) -> None:
        bundled, status = _bundled()
        self._days = {**bundled, **operator_days}
        self._operator_years = {d.year for d in operator_days}
        self._status = status

    def info(self, day: date) -> DayInfo:
        """Describe `day`."""
        entry = self._days.get(day)
        if entry is not None and entry.kind != "normal":
            return DayInfo(day, entry.kind, entry.name, entry.source, entry.kind == "workday")
        weekend = day.weekday() >= 5
        if entry is not None:  # the operator cancelled a bundled entry: the weekday rule applies
            return DayInfo(day, "normal", entry.name, entry.source, not weekend)
        return DayInfo(day, "normal", "", "weekend" if weekend else "weekday", not weekend)

    def is_working_day(self, day: date) -> bool:
        """Tell whether `day` is a working day."""
        return self.info(day).working

    def is_provisional(self, day: date) -> bool:
        """Tell whether `day`'s year lacks an official arrangement (bundled or from the operator)."""
        if day.year in self._operator_years:
            return False
        return self._status.get(day.year) != "official"

    def add_working_days(self, start: date, count: int) -> date:
        """Return the `count`-th working day after `start` (`start` itself is not counted)."""
        if count < 0:
            raise ValueError("count must not be negative")
        current, found = start, 0
        for _ in range(_MAX_SPAN_DAYS):
            if found == count:
                return current
            current += timedelta(days=1)
            if self.is_working_day(current):
                found += 1
        raise ValueError("deadline too far away")

    def working_days_between(self, start: date, end: date) -> int:
        """Count working days after `start` up to and including `end` (negative when `end` is earlier)."""
        if end < start:
            return -self.working_days_between(end, start)
        if (end - start).days > _MAX_SPAN_DAYS:
            raise ValueError("span too long")
        return sum(
            1 for i in range(1, (end - start).days + 1) if self.is_working_day(start + timedelta(days=i))
        )

    def deadline(self, received: date, working_days: int) -> Deadline:
        """Return the deadline `working_days` working days after `received` (民法典 第201条)."""
        due = self.add_working_days(received, working_days)
        provisional = any(
            self.is_provisional(received + timedelta(days=i)) for i in range((due - received).days + 1)
        )
        return Deadline(due_on=due, working_days=working_days, provisional=provisional)


def beijing_date(at: datetime) -> date:
    """Return the Beijing calendar date of an aware time."""
    return at.astimezone(BEIJING).date()


def load_calendar(*, session: Session) -> Calendar:
    """Return the calendar: bundled data with the operator's entries on top."""
    rows = session.scalars(select(CalendarDay))
    return Calendar({row.day: _Entry(_kind(row.kind), row.name, "operator") for row in rows})


def _kind(value: str) -> DayKind:
    if value == "holiday":
        return "holiday"
    if value == "workday":
        return "workday"
    return "normal"


def deadline_for(*, session: Session, received_at: datetime, working_days: int) -> Deadline:
    """Return the deadline of a request received (and identity-checked) at `received_at`."""
    return load_calendar(session=session).deadline(beijing_date(received_at), working_days)


def set_calendar_day(
    *, session: Session, clock: Clock, actor: str, day: date, kind: str, name: str, note: str | None = None
) -> DayInfo:
    """Record that `day` is a holiday, a make-up working day or (`normal`) neither, overriding the bundle."""
    if kind not in _KINDS:
        raise InvalidInput(
            "类型须为 holiday、workday 或 normal", detail_en="kind must be holiday, workday or normal"
        )
    name = name.strip()
    if not name or len(name) > 64:
        raise InvalidInput("名称须为 1 至 64 个字符", detail_en="The name must have 1 to 64 characters")
    if not 2000 <= day.year <= 2100:
        raise InvalidInput("日期超出范围", detail_en="The date is out of range")
    note = (note or "").strip()[:400] or None
    row = session.get(CalendarDay, day)
    if row is None:
        row = CalendarDay(day=day, kind=kind, name=name, note=note, created_at=clock.now(), created_by=actor)
        session.add(row)
    else:
        row.kind, row.name, row.note, row.created_at, row.created_by = kind, name, note, clock.now(), actor
    session.flush()
    evidence_service.record_event(
        session=session,
        clock=clock,
        stream="system",
        actor=actor,
        action="privacy.calendar_day_set",
        data={"day": day.isoformat(), "kind": kind},
    )
    return load_calendar(session=session).info(day)


def remove_calendar_day(*, session: Session, clock: Clock, actor: str, day: date) -> None:
    """Remove the operator's entry for `day`, so the bundled data (or the weekday rule) applies again."""
    row = session.get(CalendarDay, day)
    if row is None:
        raise NotFound("该日期没有运营方设置", detail_en="No operator entry for that date")
    session.delete(row)
    session.flush()
    evidence_service.record_event(
        session=session,
        clock=clock,
        stream="system",
        actor=actor,
        action="privacy.calendar_day_removed",
        data={"day": day.isoformat()},
    )


def list_special_days(*, session: Session, year: int) -> list[DayInfo]:
    """Return the holidays and make-up working days of `year` (bundled and operator entries)."""
    calendar = load_calendar(session=session)
    bundled, _status = _bundled()
    operator = set(session.scalars(select(CalendarDay.day).where(extract("year", CalendarDay.day) == year)))
    days = sorted({d for d in bundled if d.year == year} | operator)
    result = []
    for day in days:
        info = calendar.info(day)
        if info.kind != "normal" or day in operator:
            result.append(info)
    return result
