"""Unit tests for common.recurrence.

Every expected value is computed by hand from known calendars (2026-01-01 is a
Thursday, 2028 is a leap year whose Feb 29 is a Tuesday, US DST 2026 changes on
Mar 8 / Nov 1, EU DST on Mar 29 / Oct 25), never copied from the code's output.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from common.recurrence import Rule, next_occurrence, next_schedule, validate_rule

pytestmark = pytest.mark.unit

NY = "America/New_York"
BERLIN = "Europe/Berlin"


def utc(text: str) -> datetime:
    """An ISO date-time string (no offset) read as UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def local(text: str, tz: str) -> datetime:
    """An ISO date-time string read as wall-clock time in `tz`."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz))


def rule(type_: Any, start_at: datetime, **fields: Any) -> Rule:
    fields.setdefault("interval", 1)
    return Rule(type=type_, start_at=start_at, **fields)


def nxt(r: Rule, after: datetime, tz: str = "UTC") -> datetime | None:
    result = next_occurrence(r, after=after, tz=tz)
    if result is not None:
        assert result.tzinfo is UTC
    return result


# --- time of day and daylight saving ----------------------------------------------


@pytest.mark.parametrize(
    ("tz", "start", "after", "expected"),
    [
        # New York, spring forward on 2026-03-08: 09:00 EST = 14:00Z, 09:00 EDT = 13:00Z.
        (NY, "2026-03-01T09:00", "2026-03-07T14:00", "2026-03-08T13:00"),
        (NY, "2026-03-01T09:00", "2026-03-08T13:00", "2026-03-09T13:00"),
        # New York, fall back on 2026-11-01.
        (NY, "2026-03-01T09:00", "2026-10-31T13:00", "2026-11-01T14:00"),
        (NY, "2026-03-01T09:00", "2026-11-01T14:00", "2026-11-02T14:00"),
        # Berlin, spring forward on 2026-03-29: 09:00 CET = 08:00Z, 09:00 CEST = 07:00Z.
        (BERLIN, "2026-03-01T09:00", "2026-03-28T08:00", "2026-03-29T07:00"),
        (BERLIN, "2026-03-01T09:00", "2026-03-29T07:00", "2026-03-30T07:00"),
        # Berlin, fall back on 2026-10-25.
        (BERLIN, "2026-03-01T09:00", "2026-10-24T07:00", "2026-10-25T08:00"),
        (BERLIN, "2026-03-01T09:00", "2026-10-25T08:00", "2026-10-26T08:00"),
    ],
)
def test_daily_stays_at_local_wall_time_across_dst(
    tz: str, start: str, after: str, expected: str
) -> None:
    r = rule("daily", local(start, tz))
    assert nxt(r, utc(after), tz) == utc(expected)


@pytest.mark.parametrize(("tz", "first_day"), [(NY, 5), (BERLIN, 26)])
def test_daily_walk_across_spring_forward_is_always_0900_local(tz: str, first_day: int) -> None:
    r = rule("daily", local(f"2026-03-{first_day:02d}T09:00", tz))
    after = r.start_at - timedelta(seconds=1)
    for offset in range(6):  # crosses 2026-03-08 (NY) / 2026-03-29 (Berlin)
        found = nxt(r, after, tz)
        assert found is not None
        assert found.astimezone(ZoneInfo(tz)) == local(
            f"2026-03-{first_day + offset:02d}T09:00", tz
        )
        after = found


def test_start_at_given_in_utc_uses_its_wall_time_in_the_owner_zone() -> None:
    # 14:00Z on 2026-03-06 is 09:00 EST; the rule keeps 09:00 New York time.
    r = rule("daily", utc("2026-03-06T14:00"))
    assert nxt(r, utc("2026-03-07T14:00"), NY) == utc("2026-03-08T13:00")


@pytest.mark.parametrize(
    ("tz", "start", "after", "expected"),
    [
        # 02:30 does not exist in New York on 2026-03-08: shifted forward to 03:30 EDT.
        (NY, "2026-03-07T07:30", "2026-03-07T07:30", "2026-03-08T07:30"),
        (NY, "2026-03-07T07:30", "2026-03-08T07:30", "2026-03-09T06:30"),
        # 02:30 does not exist in Berlin on 2026-03-29: 03:30 CEST = 01:30Z.
        (BERLIN, "2026-03-28T01:30", "2026-03-28T01:30", "2026-03-29T01:30"),
        (BERLIN, "2026-03-28T01:30", "2026-03-29T01:30", "2026-03-30T00:30"),
        # 01:30 happens twice in New York on 2026-11-01: the first (EDT, 05:30Z) counts.
        (NY, "2026-10-31T05:30", "2026-10-31T05:30", "2026-11-01T05:30"),
        (NY, "2026-10-31T05:30", "2026-11-01T05:30", "2026-11-02T06:30"),
        # A start_at on the second 01:30 (EST) is itself the first occurrence.
        (NY, "2026-11-01T06:30", "2026-11-01T00:00", "2026-11-01T06:30"),
        (NY, "2026-11-01T06:30", "2026-11-01T06:30", "2026-11-02T06:30"),
        # Started on the second 01:30 a year earlier: later overlaps still take the first.
        (NY, "2025-11-02T06:30", "2026-10-31T12:00", "2026-11-01T05:30"),
    ],
)
def test_daily_in_dst_gap_and_overlap(tz: str, start: str, after: str, expected: str) -> None:
    r = rule("daily", utc(start))
    assert nxt(r, utc(after), tz) == utc(expected)


# --- daily ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("interval", "after", "expected"),
    [
        (2, "2026-01-01T09:00", "2026-01-03T09:00"),
        (2, "2026-01-02T10:00", "2026-01-03T09:00"),
        (2, "2026-01-03T09:00", "2026-01-05T09:00"),
        (3, "2026-01-01T09:00", "2026-01-04T09:00"),
        (3, "2026-01-04T08:59", "2026-01-04T09:00"),
        (3, "2026-01-04T09:00", "2026-01-07T09:00"),
        (3, "2026-01-31T12:00", "2026-02-03T09:00"),  # Jan 31 is day 30 of the series
    ],
)
def test_daily_interval(interval: int, after: str, expected: str) -> None:
    r = rule("daily", utc("2026-01-01T09:00"), interval=interval)
    assert nxt(r, utc(after)) == utc(expected)


@pytest.mark.parametrize(
    ("start", "interval", "after", "expected"),
    [
        # Workdays from Friday 2026-01-09: the weekend is skipped.
        ("2026-01-09T09:00", 1, "2026-01-09T09:00", "2026-01-12T09:00"),
        # Every 2 days from Thursday Jan 1 (Jan 3, 5, 7, ...), workdays only.
        ("2026-01-01T09:00", 2, "2026-01-01T09:00", "2026-01-05T09:00"),  # Sat 3 skipped
        ("2026-01-01T09:00", 2, "2026-01-05T09:00", "2026-01-07T09:00"),
        ("2026-01-01T09:00", 2, "2026-01-09T09:00", "2026-01-13T09:00"),  # Sun 11 skipped
    ],
)
def test_daily_days_of_week_filters(start: str, interval: int, after: str, expected: str) -> None:
    r = rule("daily", utc(start), interval=interval, days_of_week=(1, 2, 3, 4, 5))
    assert nxt(r, utc(after)) == utc(expected)


@pytest.mark.parametrize(
    ("interval", "after", "expected"),
    [
        (1, "2026-02-01T00:00", "2026-12-01T09:00"),
        (1, "2026-12-31T09:00", "2027-12-01T09:00"),
        (2, "2026-02-01T00:00", "2026-12-01T09:00"),  # Dec 1 is day 334 of the series
        (3, "2026-02-01T00:00", "2026-12-03T09:00"),  # 334 % 3 == 1 -> day 336
    ],
)
def test_daily_months_of_year_filters(interval: int, after: str, expected: str) -> None:
    r = rule("daily", utc("2026-01-01T09:00"), interval=interval, months_of_year=(12,))
    assert nxt(r, utc(after)) == utc(expected)


# --- weekly -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        ("2026-01-05T09:59:59", "2026-01-05T10:00"),  # start_at, a Monday
        ("2026-01-05T10:00", "2026-01-07T10:00"),
        ("2026-01-07T10:00", "2026-01-09T10:00"),
        ("2026-01-09T10:00", "2026-01-19T10:00"),  # the week of Jan 11-17 is skipped
        ("2026-01-12T00:00", "2026-01-19T10:00"),
        ("2026-01-23T10:00", "2026-02-02T10:00"),
    ],
)
def test_weekly_days_of_week_every_other_week(after: str, expected: str) -> None:
    r = rule("weekly", utc("2026-01-05T10:00"), interval=2, days_of_week=(1, 3, 5))
    assert nxt(r, utc(after)) == utc(expected)


@pytest.mark.parametrize(
    ("start", "fields", "after", "expected"),
    [
        # No list: start_at's weekday (Wednesday).
        ("2026-01-07T10:00", {}, "2026-01-07T10:00", "2026-01-14T10:00"),
        ("2026-01-07T10:00", {"interval": 3}, "2026-01-07T10:00", "2026-01-28T10:00"),
        # Listed days before start_at in its own week do not occur; start_at (a
        # Wednesday) is not listed, so the series starts on Friday.
        (
            "2026-01-07T10:00",
            {"interval": 2, "days_of_week": (1, 5)},
            "2026-01-01T00:00",
            "2026-01-09T10:00",
        ),
        (
            "2026-01-07T10:00",
            {"interval": 2, "days_of_week": (1, 5)},
            "2026-01-09T10:00",
            "2026-01-19T10:00",
        ),
        # Weeks start on Sunday: from Saturday Jan 10, Sunday Jan 11 starts week 1
        # (inactive with interval 2); Sunday Jan 18 starts week 2.
        (
            "2026-01-10T10:00",
            {"interval": 2, "days_of_week": (0,)},
            "2026-01-10T10:00",
            "2026-01-18T10:00",
        ),
        # Mondays in March only.
        ("2026-01-05T10:00", {"months_of_year": (3,)}, "2026-01-05T10:00", "2026-03-02T10:00"),
        ("2026-01-05T10:00", {"months_of_year": (3,)}, "2026-03-30T10:00", "2027-03-01T10:00"),
    ],
)
def test_weekly(start: str, fields: dict[str, Any], after: str, expected: str) -> None:
    r = rule("weekly", utc(start), **fields)
    assert nxt(r, utc(after)) == utc(expected)


# --- monthly ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        ("2027-01-31T12:00", "2027-02-28T12:00"),  # common year
        ("2027-02-28T12:00", "2027-03-31T12:00"),
        ("2027-04-01T00:00", "2027-04-30T12:00"),  # 30-day month
        ("2027-04-30T12:00", "2027-05-31T12:00"),
        ("2028-02-01T00:00", "2028-02-29T12:00"),  # leap year
        ("2028-02-29T12:00", "2028-03-31T12:00"),
    ],
)
def test_monthly_last_day_of_month(after: str, expected: str) -> None:
    r = rule("monthly", utc("2027-01-31T12:00"), days_of_month=(-1,))
    assert nxt(r, utc(after)) == utc(expected)


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        ("2027-01-31T12:00", "2027-02-28T12:00"),
        ("2027-02-28T12:00", "2027-03-31T12:00"),  # back to the 31st, no drift
        ("2027-03-31T12:00", "2027-04-30T12:00"),
        ("2028-01-31T12:00", "2028-02-29T12:00"),
    ],
)
def test_monthly_without_list_clamps_to_the_last_day(after: str, expected: str) -> None:
    r = rule("monthly", utc("2027-01-31T12:00"))
    assert nxt(r, utc(after)) == utc(expected)


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        ("2026-01-31T12:00", "2026-03-31T12:00"),  # February skipped
        ("2026-03-31T12:00", "2026-05-31T12:00"),  # April skipped
        ("2026-07-31T12:00", "2026-08-31T12:00"),  # July and August both have 31
        ("2026-08-31T12:00", "2026-10-31T12:00"),  # September skipped
        ("2026-10-31T12:00", "2026-12-31T12:00"),  # November skipped
    ],
)
def test_monthly_day_31_skips_shorter_months(after: str, expected: str) -> None:
    r = rule("monthly", utc("2026-01-31T12:00"), days_of_month=(31,))
    assert nxt(r, utc(after)) == utc(expected)


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        ("2026-01-01T00:00", "2026-01-15T08:00"),  # Jan 1 is before start_at
        ("2026-01-15T08:00", "2026-04-01T08:00"),
        ("2026-04-01T08:00", "2026-04-15T08:00"),
        ("2026-04-15T08:00", "2026-07-01T08:00"),
    ],
)
def test_monthly_days_of_month_every_third_month(after: str, expected: str) -> None:
    r = rule("monthly", utc("2026-01-15T08:00"), interval=3, days_of_month=(1, 15))
    assert nxt(r, utc(after)) == utc(expected)


@pytest.mark.parametrize(
    ("start", "weeks", "after", "expected"),
    [
        # 2nd Tuesday, from Tuesday 2026-01-13 (itself the 2nd one).
        ("2026-01-13T18:00", (2,), "2026-01-13T17:00", "2026-01-13T18:00"),
        ("2026-01-13T18:00", (2,), "2026-01-13T18:00", "2026-02-10T18:00"),
        ("2026-01-13T18:00", (2,), "2026-02-10T18:00", "2026-03-10T18:00"),
        ("2026-01-13T18:00", (2,), "2026-03-10T18:00", "2026-04-14T18:00"),
        # Started on the 1st Tuesday: start_at does not match, the series begins later.
        ("2026-01-06T18:00", (2,), "2026-01-01T00:00", "2026-01-13T18:00"),
        # 1st and 3rd Tuesday.
        ("2026-01-06T18:00", (1, 3), "2026-01-06T18:00", "2026-01-20T18:00"),
        ("2026-01-06T18:00", (1, 3), "2026-01-20T18:00", "2026-02-03T18:00"),
        # Last Friday, from Friday 2026-01-30.
        ("2026-01-30T18:00", (-1,), "2026-01-30T18:00", "2026-02-27T18:00"),
        ("2026-01-30T18:00", (-1,), "2026-02-27T18:00", "2026-03-27T18:00"),
        ("2026-01-30T18:00", (-1,), "2026-03-27T18:00", "2026-04-24T18:00"),
        ("2026-01-30T18:00", (-1,), "2026-04-24T18:00", "2026-05-29T18:00"),
        # 5th Friday: Feb, Mar and Apr 2026 have only four.
        ("2026-01-30T18:00", (5,), "2026-01-30T18:00", "2026-05-29T18:00"),
    ],
)
def test_monthly_weeks_of_month(
    start: str, weeks: tuple[int, ...], after: str, expected: str
) -> None:
    r = rule("monthly", utc(start), weeks_of_month=weeks)
    assert nxt(r, utc(after)) == utc(expected)


@pytest.mark.parametrize(
    ("start", "fields", "after", "expected"),
    [
        # Months restricted: from Jan 31, clamped in Feb/Apr/Jun.
        ("2026-01-31T12:00", {"months_of_year": (2, 4, 6)}, "2026-01-31T12:00", "2026-02-28T12:00"),
        ("2026-01-31T12:00", {"months_of_year": (2, 4, 6)}, "2026-02-28T12:00", "2026-04-30T12:00"),
        ("2026-01-31T12:00", {"months_of_year": (2, 4, 6)}, "2026-04-30T12:00", "2026-06-30T12:00"),
        ("2026-01-31T12:00", {"months_of_year": (2, 4, 6)}, "2026-06-30T12:00", "2027-02-28T12:00"),
        # Sundays of every other month: Jan 4, 11, 18, 25, then March 1.
        (
            "2026-01-01T12:00",
            {"interval": 2, "days_of_week": (0,)},
            "2026-01-01T00:00",
            "2026-01-04T12:00",
        ),
        (
            "2026-01-01T12:00",
            {"interval": 2, "days_of_week": (0,)},
            "2026-01-25T12:00",
            "2026-03-01T12:00",
        ),
        # -1 and 31 on the same day occur once.
        ("2026-01-31T12:00", {"days_of_month": (31, -1)}, "2026-01-31T12:00", "2026-02-28T12:00"),
        ("2026-01-31T12:00", {"days_of_month": (31, -1)}, "2026-03-30T12:00", "2026-03-31T12:00"),
        ("2026-01-31T12:00", {"days_of_month": (31, -1)}, "2026-03-31T12:00", "2026-04-30T12:00"),
    ],
)
def test_monthly_other_lists(start: str, fields: dict[str, Any], after: str, expected: str) -> None:
    r = rule("monthly", utc(start), **fields)
    assert nxt(r, utc(after)) == utc(expected)


# --- yearly -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("interval", "after", "expected"),
    [
        (1, "2028-02-29T08:00", "2029-02-28T08:00"),
        (1, "2029-02-28T08:00", "2030-02-28T08:00"),
        (1, "2031-03-01T00:00", "2032-02-29T08:00"),
        (4, "2028-02-29T08:00", "2032-02-29T08:00"),
        (3, "2028-02-29T08:00", "2031-02-28T08:00"),
    ],
)
def test_yearly_from_february_29(interval: int, after: str, expected: str) -> None:
    r = rule("yearly", utc("2028-02-29T08:00"), interval=interval)
    assert nxt(r, utc(after)) == utc(expected)


@pytest.mark.parametrize(
    ("interval", "after", "expected"),
    [
        (1, "2026-01-10T09:00", "2026-07-10T09:00"),
        (1, "2026-07-10T09:00", "2027-01-10T09:00"),
        (2, "2026-07-10T09:00", "2028-01-10T09:00"),
    ],
)
def test_yearly_months_of_year(interval: int, after: str, expected: str) -> None:
    r = rule("yearly", utc("2026-01-10T09:00"), interval=interval, months_of_year=(1, 7))
    assert nxt(r, utc(after)) == utc(expected)


@pytest.mark.parametrize(
    ("start", "fields", "after", "expected"),
    [
        ("2026-07-04T09:00", {}, "2026-07-04T09:00", "2027-07-04T09:00"),
        # 4th Thursday of November (US Thanksgiving): 2026-11-26, 2027-11-25.
        ("2026-11-26T17:00", {"weeks_of_month": (4,)}, "2026-11-26T17:00", "2027-11-25T17:00"),
        # 5th Tuesday of February only exists when Feb 29 is a Tuesday: 2028.
        ("2026-02-03T09:00", {"weeks_of_month": (5,)}, "2026-02-03T09:00", "2028-02-29T09:00"),
        # ... and for Wednesday not before 2040 (2032: Sunday, 2036: Friday).
        ("2026-02-04T09:00", {"weeks_of_month": (5,)}, "2026-02-04T09:00", "2040-02-29T09:00"),
        # Day lists apply to start_at's month.
        ("2026-03-01T09:00", {"days_of_month": (1, 15)}, "2026-03-01T09:00", "2026-03-15T09:00"),
        ("2026-03-01T09:00", {"days_of_month": (1, 15)}, "2026-03-15T09:00", "2027-03-01T09:00"),
        # Saturdays of December: Dec 26 2026, then Dec 4 2027.
        ("2026-12-01T09:00", {"days_of_week": (6,)}, "2026-12-26T09:00", "2027-12-04T09:00"),
        # A large interval is one arithmetic step, not a thousand years of search.
        ("2026-05-01T09:00", {"interval": 1000}, "2026-05-01T09:00", "3026-05-01T09:00"),
    ],
)
def test_yearly(start: str, fields: dict[str, Any], after: str, expected: str) -> None:
    r = rule("yearly", utc(start), **fields)
    assert nxt(r, utc(after)) == utc(expected)


# --- start and end of the series --------------------------------------------------


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (local("2020-01-01T00:00", NY), "2026-05-04T11:15"),  # long before the start
        (local("2026-05-04T07:14:59.999999", NY), "2026-05-04T11:15"),
        (local("2026-05-04T07:15", NY), "2026-05-11T11:15"),  # strictly after start_at
    ],
)
def test_first_occurrence_is_start_at(after: datetime, expected: str) -> None:
    start = local("2026-05-04T07:15", NY)  # a Monday, 11:15Z
    r = rule("weekly", start)
    assert nxt(r, after, NY) == utc(expected)


@pytest.mark.parametrize(
    ("end", "after", "expected"),
    [
        ("2026-01-03T09:00", "2026-01-02T09:00", "2026-01-03T09:00"),  # end_at is inclusive
        ("2026-01-03T09:00", "2026-01-03T09:00", None),
        ("2026-01-03T09:00", "2027-06-01T00:00", None),
        ("2026-01-03T08:00", "2026-01-02T09:00", None),
    ],
)
def test_end_at(end: str, after: str, expected: str | None) -> None:
    r = rule("daily", utc("2026-01-01T09:00"), end_at=utc(end))
    assert nxt(r, utc(after)) == (utc(expected) if expected else None)


def test_end_at_between_monthly_occurrences() -> None:
    r = rule(
        "monthly", utc("2026-01-31T12:00"), days_of_month=(-1,), end_at=utc("2026-03-15T00:00")
    )
    assert nxt(r, utc("2026-01-31T12:00")) == utc("2026-02-28T12:00")
    assert nxt(r, utc("2026-02-28T12:00")) is None


# --- old series and hostile rules ---------------------------------------------------


@pytest.mark.parametrize(
    ("r", "tz", "after", "expected"),
    [
        # Five years of daily occurrences in Berlin; 09:00 CEST = 07:00Z.
        (
            rule("daily", local("2021-03-01T09:00", BERLIN)),
            BERLIN,
            "2026-06-15T12:00",
            "2026-06-16T07:00",
        ),
        # 2021-01-01 -> 2026-01-01 is 1826 days; 1826 % 3 == 2, so day 1827 is next.
        (
            rule("daily", utc("2021-01-01T09:00"), interval=3),
            "UTC",
            "2026-01-01T10:00",
            "2026-01-02T09:00",
        ),
        # 300 months after 2001-01 is 2026-01 (active); the next active month is 2026-06.
        (
            rule("monthly", utc("2001-01-15T09:00"), interval=5),
            "UTC",
            "2026-01-01T00:00",
            "2026-01-15T09:00",
        ),
        (
            rule("monthly", utc("2001-01-15T09:00"), interval=5),
            "UTC",
            "2026-01-20T00:00",
            "2026-06-15T09:00",
        ),
    ],
)
def test_old_series_jumps_to_the_right_period(r: Rule, tz: str, after: str, expected: str) -> None:
    assert nxt(r, utc(after), tz) == utc(expected)


@pytest.mark.parametrize(
    "r",
    [
        # Every 12 months from February: never a 31st.
        rule("monthly", utc("2026-02-10T09:00"), interval=12, days_of_month=(31,)),
        # Yearly in February (start_at's month): never a 30th.
        rule("yearly", utc("2026-02-10T09:00"), days_of_month=(30,)),
        # Every 12 months from January, only in July: never.
        rule("monthly", utc("2026-01-10T09:00"), interval=12, months_of_year=(7,)),
        # Every 7 days from a Monday, Tuesdays only: never.
        rule("daily", utc("2026-01-05T09:00"), interval=7, days_of_week=(2,)),
        # The next period lies past the supported calendar.
        rule("yearly", utc("9500-01-01T09:00"), interval=1000),
    ],
)
def test_rule_that_never_occurs_again_returns_none(r: Rule) -> None:
    assert nxt(r, r.start_at) is None


def test_after_at_the_end_of_the_datetime_range_returns_none() -> None:
    r = rule("daily", utc("2026-01-01T09:00"))
    assert nxt(r, datetime.max.replace(tzinfo=UTC), "Pacific/Kiritimati") is None


def test_two_lists_are_rejected_not_searched() -> None:
    r = rule("yearly", utc("2026-02-10T09:00"), days_of_month=(31,), months_of_year=(2,))
    assert validate_rule(r) == [
        ("months_of_year", "cannot be combined with days_of_month: give at most one list")
    ]
    with pytest.raises(ValueError, match="invalid recurrence rule"):
        next_occurrence(r, after=r.start_at, tz="UTC")


# --- validation ---------------------------------------------------------------------

START = utc("2026-01-05T09:00")


@pytest.mark.parametrize(
    "r",
    [
        rule("daily", START),
        rule("daily", START, interval=1000, end_at=START + timedelta(days=1)),
        rule("daily", START, days_of_week=(0, 6)),
        rule("daily", START, months_of_year=(12,)),
        rule("weekly", START, days_of_week=(0, 1, 2, 3, 4, 5, 6)),
        rule("weekly", START, months_of_year=(1, 12)),
        rule("monthly", START, days_of_month=(1, 31, -1)),
        rule("monthly", START, weeks_of_month=(1, 5, -1)),
        rule("monthly", START, months_of_year=(6,)),
        rule("monthly", START, days_of_week=(3,)),
        rule("yearly", START, weeks_of_month=(4,)),
        rule("yearly", START, days_of_month=(-1,)),
        rule("yearly", local("2026-01-05T09:00", BERLIN), end_at=local("2030-01-01T00:00", NY)),
    ],
)
def test_valid_rules(r: Rule) -> None:
    assert validate_rule(r) == []


@pytest.mark.parametrize(
    ("r", "field", "message"),
    [
        (rule("hourly", START), "type", "must be one of"),
        (rule("daily", START, interval=0), "interval", "from 1 to 1000"),
        (rule("daily", START, interval=-3), "interval", "from 1 to 1000"),
        (rule("daily", START, interval=1001), "interval", "from 1 to 1000"),
        (rule("daily", START, interval=True), "interval", "integer"),
        (
            rule("weekly", START, days_of_week=(1,), months_of_year=(1,)),
            "months_of_year",
            "at most one",
        ),
        (rule("weekly", START, days_of_week=()), "days_of_week", "must not be empty"),
        (rule("weekly", START, days_of_week=(7,)), "days_of_week", "0..6"),
        (rule("weekly", START, days_of_week=(-1,)), "days_of_week", "0..6"),
        (rule("weekly", START, days_of_week=(1, 3, 1)), "days_of_week", "duplicates"),
        (rule("monthly", START, days_of_month=(0,)), "days_of_month", "1..31 or -1"),
        (rule("monthly", START, days_of_month=(32,)), "days_of_month", "1..31 or -1"),
        (rule("monthly", START, days_of_month=(-2,)), "days_of_month", "1..31 or -1"),
        (rule("monthly", START, days_of_month=(-1, -1)), "days_of_month", "duplicates"),
        (rule("monthly", START, days_of_month=()), "days_of_month", "must not be empty"),
        (rule("monthly", START, weeks_of_month=(0,)), "weeks_of_month", "1..5 or -1"),
        (rule("monthly", START, weeks_of_month=(6,)), "weeks_of_month", "1..5 or -1"),
        (rule("monthly", START, weeks_of_month=(2, 2)), "weeks_of_month", "duplicates"),
        (rule("yearly", START, months_of_year=(0,)), "months_of_year", "1..12"),
        (rule("yearly", START, months_of_year=(13,)), "months_of_year", "1..12"),
        (rule("yearly", START, months_of_year=(True,)), "months_of_year", "1..12"),
        (rule("yearly", START, months_of_year=(1, 7, 1)), "months_of_year", "duplicates"),
        (rule("daily", START, days_of_month=(1,)), "days_of_month", "monthly or yearly"),
        (rule("weekly", START, days_of_month=(1,)), "days_of_month", "monthly or yearly"),
        (rule("daily", START, weeks_of_month=(1,)), "weeks_of_month", "monthly or yearly"),
        (rule("weekly", START, weeks_of_month=(1,)), "weeks_of_month", "monthly or yearly"),
        (rule("daily", datetime(2026, 1, 5, 9)), "start_at", "time zone"),
        (rule("daily", START, end_at=datetime(2026, 2, 1)), "end_at", "time zone"),
        (rule("daily", START, end_at=START), "end_at", "after start_at"),
        (rule("daily", START, end_at=START - timedelta(days=1)), "end_at", "after start_at"),
    ],
)
def test_invalid_rules(r: Rule, field: str, message: str) -> None:
    errors = validate_rule(r)
    assert [f for f, _ in errors] == [field]
    assert message in errors[0][1]


def test_validation_reports_every_problem() -> None:
    r = rule("daily", datetime(2026, 1, 5, 9), interval=0, days_of_month=(0,))
    assert sorted(f for f, _ in validate_rule(r)) == [
        "days_of_month",
        "days_of_month",
        "interval",
        "start_at",
    ]


@pytest.mark.parametrize(
    ("r", "after", "tz", "message"),
    [
        (rule("daily", START, interval=0), START, "UTC", "invalid recurrence rule: interval"),
        (rule("daily", START), datetime(2026, 1, 1), "UTC", "aware"),
        (rule("daily", START), START, "Mars/Olympus_Mons", "unknown time zone"),
        (rule("daily", START), START, "", "unknown time zone"),
        (rule("daily", START), START, "../etc/passwd", "unknown time zone"),
    ],
)
def test_next_occurrence_rejects_bad_input(r: Rule, after: datetime, tz: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        next_occurrence(r, after=after, tz=tz)


# --- completing: where a recurring todo goes next ----------------------------------------


@pytest.mark.parametrize(
    ("deadline", "now", "expected"),
    [
        # today's 09:00 finished at 08:00: tomorrow's 09:00, not today's again
        ("2030-03-04T09:00", "2030-03-04T08:00", "2030-03-05T09:00"),
        # finished after it was due, the same day: tomorrow
        ("2030-03-04T09:00", "2030-03-04T10:00", "2030-03-05T09:00"),
        # three days overdue: the missed occurrences are skipped
        ("2030-03-01T09:00", "2030-03-04T10:00", "2030-03-05T09:00"),
        ("2030-03-01T09:00", "2030-03-04T08:00", "2030-03-04T09:00"),
        # a deadline far ahead: the occurrence after it
        ("2030-04-01T09:00", "2030-03-04T08:00", "2030-04-02T09:00"),
    ],
)
def test_completing_moves_past_the_later_of_now_and_the_deadline(
    deadline: str, now: str, expected: str
) -> None:
    daily = rule("daily", utc("2030-01-01T09:00"))
    moved = next_schedule(
        daily,
        deadline=utc(deadline),
        remind_at=utc(deadline) - timedelta(minutes=30),
        tz="UTC",
        now=utc(now),
    )
    assert (moved.done, moved.deadline) == (False, utc(expected))
    assert moved.remind_at == utc(expected) - timedelta(minutes=30)


def test_completing_without_a_deadline_moves_past_now() -> None:
    daily = rule("daily", utc("2030-01-01T09:00"))
    moved = next_schedule(
        daily, deadline=None, remind_at=None, tz="UTC", now=utc("2030-03-04T08:00")
    )
    assert (moved.deadline, moved.remind_at) == (utc("2030-03-04T09:00"), None)
