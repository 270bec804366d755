"""Recurrence engine for repeating todos (docs/api.md §6): pure date arithmetic, no I/O.

A rule describes a series of occurrences; `next_occurrence` answers "when is the
next one after this instant?", which is all that completing a recurring todo needs
(the caller moves `deadline`, and `remind_at` by the same offset; `None` means the
series has ended and the todo becomes done). `validate_rule` lists what is wrong
with a rule so the API can answer 422 with one entry per field.

Semantics (RRULE-like, chosen to match what Google Calendar / Todoist users expect;
where they differ from RFC 5545 this says so):

Time of day and time zones
    Every occurrence happens at `start_at`'s wall-clock time in the owner's IANA
    zone `tz`, so "every day at 09:00" stays 09:00 local across daylight-saving
    changes (its UTC hour moves). A wall time that does not exist that day (the
    spring-forward gap) is shifted forward by the length of the gap (02:30 becomes
    03:30); an ambiguous one (fall-back) takes its first instance (`fold=0`).
    The occurrence on `start_at`'s own local date is `start_at` itself, exactly.
    Results are aware datetimes in UTC.

Periods and `interval`
    The period is a day, a week, a month or a year according to `type`. Weeks
    start on Sunday (the contract numbers weekdays 0=Sunday..6=Saturday). Periods
    are counted from the one containing `start_at` (index 0); only every
    `interval`-th period (index % interval == 0) can hold occurrences.

Which days of an active period occur
    Without a list: daily = the day itself; weekly = `start_at`'s weekday;
    monthly = `start_at`'s day of the month, or the month's last day when the
    month is shorter (a series started on Jan 31 gives Feb 28/29, Mar 31, Apr 30:
    always from `start_at`'s day, never drifting); yearly = `start_at`'s month and
    day, Feb 29 becoming Feb 28 in common years (same clamping rule).

    At most one list may be given:

    * `days_of_week` (any type): the days of the active period whose weekday is
      listed. For `daily` this is a filter (every `interval` days, only on those
      weekdays); for weekly/monthly it selects those weekdays in the active
      week/month; for yearly, in `start_at`'s month of the active year.
    * `days_of_month` (monthly, yearly): those days of the month; -1 is the last
      day. A day the month lacks (31 in April) simply does not occur that month
      (RFC 5545 behaviour; use -1 for "the last day"). -1 and 31 falling on the
      same day give one occurrence. For yearly the month is `start_at`'s.
    * `weeks_of_month` (monthly, yearly): the n-th `start_at` weekday of the
      month (2 = the 2nd Tuesday when `start_at` is a Tuesday), -1 the last one.
      A month without a 5th such weekday is skipped. For yearly the month is
      `start_at`'s (the 4th Thursday of November).
    * `months_of_year` (any type): only days in the listed months occur. For
      yearly the list replaces `start_at`'s month (day clamped as above); for the
      other types it filters the days they would produce anyway.

    `days_of_month` / `weeks_of_month` with daily or weekly are rejected as
    meaningless rather than given a surprising meaning.

    `start_at` is an occurrence only when it matches the rule (as in dateutil;
    RFC 5545 would always count it). A series started on the 1st Tuesday with
    `weeks_of_month=[2]` begins a week later.

Bounds
    `end_at` is inclusive. `after` far past `start_at` costs nothing extra: the
    search jumps to the right period arithmetically. Each call examines at most
    `MAX_PERIODS` active periods (and never goes past year `LAST_YEAR`), so a
    rule that can never occur again, e.g. monthly on day 31 with interval 12
    starting in February, answers `None` in about a millisecond instead of
    hanging a request. `None` thus also means "no occurrence within that
    horizon", which for valid rules only concerns series sparser than any
    calendar user makes.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

RecurrenceType = Literal["daily", "weekly", "monthly", "yearly"]

RECURRENCE_TYPES: tuple[str, ...] = get_args(RecurrenceType)
MAX_INTERVAL = 1000
# Active periods one call may examine before concluding the series has ended.
MAX_PERIODS = 1000
# Candidates after this year end the search (keeps date/UTC arithmetic in range).
LAST_YEAR = 9998

_LAST_ORDINAL = date(LAST_YEAR, 12, 31).toordinal()
_LIST_FIELDS = ("days_of_week", "days_of_month", "weeks_of_month", "months_of_year")
# Inclusive value ranges, plus -1 ("last") where the contract allows it.
_RANGES: dict[str, tuple[int, int, bool]] = {
    "days_of_week": (0, 6, False),
    "days_of_month": (1, 31, True),
    "weeks_of_month": (1, 5, True),
    "months_of_year": (1, 12, False),
}
_LIST_TYPES: dict[str, frozenset[str]] = {
    "days_of_week": frozenset(RECURRENCE_TYPES),
    "days_of_month": frozenset({"monthly", "yearly"}),
    "weeks_of_month": frozenset({"monthly", "yearly"}),
    "months_of_year": frozenset(RECURRENCE_TYPES),
}


@dataclass(frozen=True, slots=True)
class Rule:
    """A recurrence rule as stored on a todo (docs/api.md §6); see the module docstring.

    Construction does not validate: call `validate_rule` on input from clients.
    """

    type: RecurrenceType
    interval: int
    start_at: datetime  # aware
    end_at: datetime | None = None
    days_of_week: tuple[int, ...] | None = None  # 0=Sunday .. 6=Saturday
    days_of_month: tuple[int, ...] | None = None  # 1..31, -1 = last day
    weeks_of_month: tuple[int, ...] | None = None  # 1..5, -1 = last
    months_of_year: tuple[int, ...] | None = None  # 1..12


def validate_rule(rule: Rule) -> list[tuple[str, str]]:
    """Everything wrong with `rule` as (field, message) pairs; empty when valid.

    Checks: a known `type`; `interval` an integer from 1 to `MAX_INTERVAL`; at most
    one list; each list non-empty, without duplicates, values in range (-1 allowed
    where the contract says "last"), and allowed with the rule's type (see the
    module docstring); `start_at` and `end_at` aware; `end_at` after `start_at`.
    """
    errors: list[tuple[str, str]] = []
    if rule.type not in RECURRENCE_TYPES:
        errors.append(("type", f"must be one of {', '.join(RECURRENCE_TYPES)}"))
    if (
        not isinstance(rule.interval, int)
        or isinstance(rule.interval, bool)
        or not 1 <= rule.interval <= MAX_INTERVAL
    ):
        errors.append(("interval", f"must be an integer from 1 to {MAX_INTERVAL}"))

    given = [name for name in _LIST_FIELDS if getattr(rule, name) is not None]
    for name in given[1:]:
        errors.append((name, f"cannot be combined with {given[0]}: give at most one list"))
    for name in given:
        errors.extend(_list_errors(name, getattr(rule, name), rule.type))

    start_aware = _is_aware(rule.start_at)
    if not start_aware:
        errors.append(("start_at", "must include a time zone offset"))
    if rule.end_at is not None:
        if not _is_aware(rule.end_at):
            errors.append(("end_at", "must include a time zone offset"))
        elif start_aware and rule.end_at <= rule.start_at:
            errors.append(("end_at", "must be after start_at"))
    return errors


def next_occurrence(rule: Rule, *, after: datetime, tz: str) -> datetime | None:
    """The first occurrence strictly after `after`, as an aware UTC datetime.

    Occurrences are never before `start_at` (so an `after` earlier than the start
    gives the first occurrence, which is `start_at` when it matches the rule) and
    never after `end_at` (inclusive). `None` when the series has ended, or has no
    occurrence within the search bound (`MAX_PERIODS`, `LAST_YEAR`).

    Raises ValueError for an invalid rule, a naive `after` or an unknown `tz`.
    """
    errors = validate_rule(rule)
    if errors:
        details = "; ".join(f"{field}: {message}" for field, message in errors)
        raise ValueError(f"invalid recurrence rule: {details}")
    if not _is_aware(after):
        raise ValueError("after must be an aware datetime")
    zone = _zone(tz)

    try:
        local_start = rule.start_at.astimezone(zone)
    except OverflowError:  # the start lies outside the datetime range in the owner's zone
        return None
    start_day = local_start.date()
    wall = local_start.time().replace(fold=0)
    floor = max(after, rule.start_at)
    try:
        # One day of slack: a wall time pushed across midnight by a DST gap still
        # belongs to the previous date's occurrence.
        from_day = max(start_day, floor.astimezone(zone).date() - timedelta(days=1))
    except OverflowError:  # `after` lies at the very end of the datetime range
        return None

    try:
        for day in _candidate_days(rule, start_day, from_day):
            occurrence = rule.start_at if day == start_day else _at(day, wall, zone)
            if occurrence <= after or occurrence < rule.start_at:
                continue
            if rule.end_at is not None and occurrence > rule.end_at:
                return None  # candidates come in chronological order
            return occurrence.astimezone(UTC)
    except OverflowError:  # the next occurrence lies past the end of the datetime range
        return None
    return None


@dataclass(frozen=True, slots=True)
class Schedule:
    """What completing a todo writes: done, or the deadline and reminder moved."""

    done: bool
    deadline: datetime | None = None
    remind_at: datetime | None = None

    def changes(self) -> dict[str, object]:
        """The todo fields to write: `done` alone, or the moved deadline and reminder."""
        if self.done:
            return {"done": True}
        return {"deadline": self.deadline, "remind_at": self.remind_at, "done": False}


def next_schedule(
    rule: Rule | None,
    *,
    deadline: datetime | None,
    remind_at: datetime | None,
    tz: str,
    now: datetime,
) -> Schedule:
    """Completing a todo: done, or for a recurring one its next occurrence until the series
    has ended.

    The deadline moves to the first occurrence after the later of `now` and the current
    deadline (finishing today's occurrence early schedules the next one; missed occurrences
    of an overdue todo are skipped), computed in the owner's time zone `tz`; the reminder
    keeps its offset to the deadline (a reminder without a deadline moves to the occurrence
    itself)."""
    if rule is None:
        return Schedule(done=True)
    after = now if deadline is None else max(now, deadline)
    upcoming = next_occurrence(rule, after=after, tz=tz)
    if upcoming is None:
        return Schedule(done=True)
    if remind_at is not None:
        remind_at = upcoming - (deadline - remind_at) if deadline is not None else upcoming
    return Schedule(done=False, deadline=upcoming, remind_at=remind_at)


# --- validation helpers ---------------------------------------------------------


def _is_aware(value: datetime) -> bool:
    return value.tzinfo is not None and value.utcoffset() is not None


def _list_errors(name: str, values: Sequence[int], rule_type: str) -> list[tuple[str, str]]:
    low, high, last_allowed = _RANGES[name]
    allowed = f"{low}..{high}" + (" or -1 for last" if last_allowed else "")
    errors: list[tuple[str, str]] = []
    if rule_type in RECURRENCE_TYPES and rule_type not in _LIST_TYPES[name]:
        types = " or ".join(sorted(_LIST_TYPES[name]))
        errors.append((name, f"is only allowed with type {types}"))
    if len(values) == 0:
        errors.append((name, "must not be empty"))
    elif any(
        not isinstance(v, int)
        or isinstance(v, bool)
        or not (low <= v <= high or (last_allowed and v == -1))
        for v in values
    ):
        errors.append((name, f"values must be integers {allowed}"))
    elif len(set(values)) != len(values):
        errors.append((name, "must not contain duplicates"))
    return errors


# --- occurrence helpers ---------------------------------------------------------


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)  # ZoneInfo caches instances per key
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone: {tz!r}") from None


def _at(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """`day` at `wall` in `zone`. With fold=0, zoneinfo reads a wall time in a
    spring-forward gap with the offset before the transition, i.e. shifted forward
    by the gap, and an ambiguous fall-back time as its first instance."""
    return datetime.combine(day, wall, tzinfo=zone)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _weekday(day: date) -> int:
    """The contract's weekday number: 0=Sunday .. 6=Saturday."""
    return day.isoweekday() % 7


def _week_start(day: date) -> date:
    """The Sunday starting `day`'s week."""
    return day - timedelta(days=_weekday(day))


def _next_listed_month(day: date, months: frozenset[int]) -> date | None:
    """The first day of the first listed month after `day`'s month, or None past
    `LAST_YEAR`. `months` is non-empty, so at most twelve steps."""
    index = day.year * 12 + day.month - 1
    for _ in range(12):
        index += 1
        year, month0 = divmod(index, 12)
        if month0 + 1 in months:
            return date(year, month0 + 1, 1) if year <= LAST_YEAR else None
    return None  # unreachable with a non-empty `months`


def _candidate_days(rule: Rule, start: date, from_day: date) -> Iterator[date]:
    """Local dates of the rule's occurrences on or after `from_day`, in order,
    starting at the first active period that can hold one (computed, not
    searched) and examining at most `MAX_PERIODS` periods."""
    if rule.type == "daily":
        return _daily(rule, start, from_day)
    if rule.type == "weekly":
        return _weekly(rule, start, from_day)
    if rule.type == "monthly":
        return _monthly(rule, start, from_day)
    return _yearly(rule, start, from_day)


def _daily(rule: Rule, start: date, from_day: date) -> Iterator[date]:
    step = rule.interval
    first = start.toordinal()
    months = frozenset(rule.months_of_year or ())
    weekdays = frozenset(rule.days_of_week or ())

    def first_active_from(day: date) -> int:
        return first + _ceil_div(day.toordinal() - first, step) * step

    ordinal = first_active_from(from_day)
    for _ in range(MAX_PERIODS):
        if ordinal > _LAST_ORDINAL:
            return
        day = date.fromordinal(ordinal)
        if months and day.month not in months:
            target = _next_listed_month(day, months)
            if target is None:
                return
            ordinal = first_active_from(target)  # skip whole unlisted months at once
            continue
        if not weekdays or _weekday(day) in weekdays:
            yield day
        ordinal += step


def _weekly(rule: Rule, start: date, from_day: date) -> Iterator[date]:
    step_days = 7 * rule.interval
    first = _week_start(start).toordinal()
    months = frozenset(rule.months_of_year or ())
    offsets = sorted(rule.days_of_week) if rule.days_of_week else [_weekday(start)]

    def first_active_from(day: date) -> int:
        return first + _ceil_div(_week_start(day).toordinal() - first, step_days) * step_days

    ordinal = first_active_from(from_day)
    for _ in range(MAX_PERIODS):
        if ordinal > _LAST_ORDINAL:
            return
        week = date.fromordinal(ordinal)
        week_end = week + timedelta(days=6)
        if months and week.month not in months and week_end.month not in months:
            target = _next_listed_month(week_end, months)
            if target is None:
                return
            ordinal = first_active_from(target)
            continue
        for offset in offsets:
            day = week + timedelta(days=offset)
            if day >= from_day and (not months or day.month in months):
                yield day
        ordinal += step_days


def _monthly(rule: Rule, start: date, from_day: date) -> Iterator[date]:
    step = rule.interval
    first = start.year * 12 + start.month - 1
    months = frozenset(rule.months_of_year or ())
    index = first + _ceil_div(from_day.year * 12 + from_day.month - 1 - first, step) * step
    for _ in range(MAX_PERIODS):
        year, month0 = divmod(index, 12)
        if year > LAST_YEAR:
            return
        if not months or month0 + 1 in months:
            for day in _days_in_month(rule, start, year, month0 + 1):
                if day >= from_day:
                    yield day
        index += step


def _yearly(rule: Rule, start: date, from_day: date) -> Iterator[date]:
    step = rule.interval
    year = start.year + _ceil_div(from_day.year - start.year, step) * step
    months = sorted(rule.months_of_year) if rule.months_of_year else [start.month]
    for _ in range(MAX_PERIODS):
        if year > LAST_YEAR:
            return
        for month in months:
            for day in _days_in_month(rule, start, year, month):
                if day >= from_day:
                    yield day
        year += step


def _days_in_month(rule: Rule, start: date, year: int, month: int) -> list[date]:
    """The occurring days of one active month, sorted (see the module docstring)."""
    last = calendar.monthrange(year, month)[1]
    days: set[int]
    if rule.days_of_month:
        days = {last if v == -1 else v for v in rule.days_of_month if v <= last}
    elif rule.weeks_of_month:
        # First day of the month falling on start's weekday, and how many there are.
        first = 1 + (start.weekday() - date(year, month, 1).weekday()) % 7
        count = (last - first) // 7 + 1
        days = {
            first + 7 * ((count if n == -1 else n) - 1) for n in rule.weeks_of_month if n <= count
        }
    elif rule.days_of_week:
        weekdays = frozenset(rule.days_of_week)
        first_weekday = _weekday(date(year, month, 1))
        days = {d for d in range(1, last + 1) if (first_weekday + d - 1) % 7 in weekdays}
    else:
        days = {min(start.day, last)}
    return [date(year, month, d) for d in sorted(days)]
