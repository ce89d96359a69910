"""Business time: hand-computed cases, a slow pure-Python reference, and a metric run on it.

Times in the test names are local to the calendar; the instants passed in are UTC, so each
case also checks the time-zone conversion (Paris is UTC+1 in winter, UTC+2 in summer; New
York UTC−5 in winter, UTC−4 in summer).
"""

from __future__ import annotations

import random
import re
import time as timer
import tomllib
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import holidays
import polars as pl
import pytest
from pydantic import ValidationError

from cxpipe.calendars import (
    WEEKDAYS,
    BusinessClock,
    BusinessTimeSettings,
    CalendarSettings,
    build_clock,
)
from cxpipe.metrics.base import MetricContext
from cxpipe.metrics.builtin.tickets import mttr_critical_hours

WINDOW = (date(2025, 1, 1), date(2025, 12, 31))
WEEK = {day: ["09:00-17:00"] for day in WEEKDAYS[:5]}
LUNCH = {day: ["09:00-12:00", "13:00-17:00"] for day in WEEKDAYS[:5]}


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def clock(**calendar: Any) -> BusinessClock:
    """A clock with one calendar ``default`` built from ``calendar``'s settings."""
    settings = BusinessTimeSettings.model_validate({"calendars": {"default": calendar}})
    return build_clock(settings, WINDOW)


def hours(
    business: BusinessClock,
    pairs: Sequence[tuple[datetime | None, datetime | None]],
    **columns: Sequence[Any],
) -> list[float | None]:
    frame = pl.LazyFrame(
        {"a": [a for a, _ in pairs], "b": [b for _, b in pairs], **columns},
        schema_overrides={"a": pl.Datetime("us", "UTC"), "b": pl.Datetime("us", "UTC")},
    )
    result: list[float | None] = business.with_hours(frame, "a", "b", "h").collect()["h"].to_list()
    return result


def deadline(
    business: BusinessClock, starts: Sequence[datetime | None], hours_: float | pl.Expr
) -> list[datetime | None]:
    frame = pl.LazyFrame({"a": starts}, schema={"a": pl.Datetime("us", "UTC")})
    expr = hours_ if isinstance(hours_, pl.Expr) else pl.lit(hours_)
    result: list[datetime | None] = (
        business.with_deadline(frame, "a", expr, "d").collect()["d"].to_list()
    )
    return result


def deadline_days(
    business: BusinessClock, starts: Sequence[datetime | None], days: float
) -> list[datetime | None]:
    frame = pl.LazyFrame({"a": starts}, schema={"a": pl.Datetime("us", "UTC")})
    result: list[datetime | None] = (
        business.with_deadline_days(frame, "a", days, "d").collect()["d"].to_list()
    )
    return result


# -- durations ---------------------------------------------------------------------------


def test_within_one_day() -> None:
    assert hours(clock(), [(utc(2025, 6, 2, 10), utc(2025, 6, 2, 15, 30))]) == [5.5]


def test_across_a_weekend() -> None:
    # Fri 15:00 → Mon 11:00: 2 h on Friday, 2 h on Monday.
    assert hours(clock(), [(utc(2025, 6, 6, 15), utc(2025, 6, 9, 11))]) == [4.0]


def test_across_a_listed_holiday() -> None:
    # Mon 16:00 → Wed 10:00 with Tuesday closed: 1 h + 1 h.
    pair = [(utc(2025, 6, 9, 16), utc(2025, 6, 11, 10))]
    assert hours(clock(), pair) == [10.0]
    assert hours(clock(holidays=[date(2025, 6, 10)]), pair) == [2.0]


def test_across_public_holidays_from_the_package() -> None:
    # 1 May 2025 (Thu) in France: Wed 16:00 CEST → Fri 10:00 CEST = 1 h + 1 h.
    paris = clock(timezone="Europe/Paris", country="FR")
    assert hours(paris, [(utc(2025, 4, 30, 14), utc(2025, 5, 2, 8))]) == [2.0]
    # 4 July 2025 (Fri) in the US: Thu 16:00 EDT → Mon 10:00 EDT = 1 h + 1 h.
    new_york = clock(timezone="America/New_York", country="US")
    assert hours(new_york, [(utc(2025, 7, 3, 20), utc(2025, 7, 7, 14))]) == [2.0]


def test_subdivision_holidays() -> None:
    # Epiphany (Mon 6 Jan 2025) is a holiday in Bavaria, not in Berlin.
    day = [(utc(2025, 1, 6, 8), utc(2025, 1, 6, 16))]  # 09:00–17:00 CET
    bavaria = clock(timezone="Europe/Berlin", country="DE", subdivision="BY")
    berlin = clock(timezone="Europe/Berlin", country="DE", subdivision="BE")
    assert hours(bavaria, day) == [0.0]
    assert hours(berlin, day) == [8.0]


def test_instants_outside_working_hours_count_from_the_next_working_moment() -> None:
    assert hours(
        clock(),
        [
            (utc(2025, 6, 2, 7), utc(2025, 6, 2, 10)),  # before opening → 09:00
            (utc(2025, 6, 2, 10), utc(2025, 6, 2, 20)),  # after closing → 17:00
            (utc(2025, 6, 1, 12), utc(2025, 6, 2, 10)),  # from a Sunday
            (utc(2025, 6, 7, 10), utc(2025, 6, 8, 15)),  # Saturday to Sunday
            (utc(2025, 6, 2, 18), utc(2025, 6, 3, 8)),  # overnight
        ],
    ) == [1.0, 7.0, 1.0, 0.0, 0.0]


def test_spans_with_a_lunch_break() -> None:
    assert hours(
        clock(hours=LUNCH),
        [
            (utc(2025, 6, 2, 11), utc(2025, 6, 2, 14)),
            (utc(2025, 6, 2, 12, 15), utc(2025, 6, 2, 12, 45)),
            (utc(2025, 6, 2, 12, 30), utc(2025, 6, 2, 13, 30)),
            (utc(2025, 6, 2, 8), utc(2025, 6, 3, 8)),
        ],
    ) == [2.0, 0.0, 0.5, 7.0]


def test_daylight_saving_in_paris() -> None:
    paris = clock(timezone="Europe/Paris")
    assert hours(
        paris,
        [
            # Fri 28 Mar 16:00 CET → Mon 31 Mar 10:00 CEST (clocks forward on the 30th)
            (utc(2025, 3, 28, 15), utc(2025, 3, 31, 8)),
            # Fri 24 Oct 16:00 CEST → Mon 27 Oct 10:00 CET (clocks back on the 26th)
            (utc(2025, 10, 24, 14), utc(2025, 10, 27, 9)),
        ],
    ) == [2.0, 2.0]


def test_daylight_saving_nights_are_23_and_25_hours_long() -> None:
    always = clock(timezone="Europe/Paris", hours={day: ["00:00-24:00"] for day in WEEKDAYS})
    # Local midnight to midnight: 23 h on 30 March, 25 h on 26 October.
    assert hours(
        always,
        [
            (utc(2025, 3, 29, 23), utc(2025, 3, 30, 22)),
            (utc(2025, 10, 25, 22), utc(2025, 10, 26, 23)),
            (utc(2025, 3, 29, 12), utc(2025, 3, 31, 12)),  # equals elapsed time
        ],
    ) == [23.0, 25.0, 48.0]
    # A night shift 01:00–04:00 on Sundays spans the change itself.
    night = clock(timezone="Europe/Paris", hours={"sun": ["01:00-04:00"]})
    assert hours(
        night,
        [
            (utc(2025, 3, 29, 12), utc(2025, 3, 30, 12)),  # 01:00 CET → 04:00 CEST
            (utc(2025, 10, 25, 12), utc(2025, 10, 26, 12)),  # 01:00 CEST → 04:00 CET
            (utc(2025, 4, 5, 12), utc(2025, 4, 6, 12)),  # an ordinary Sunday
        ],
    ) == [2.0, 4.0, 3.0]


def test_span_edges_the_clocks_skip() -> None:
    # 02:30 does not exist on 30 March in Paris; like zoneinfo's fold=0 it reads as 02:30
    # CET (01:30 UTC), so 02:30–04:00 is half an hour (04:00 CEST is 02:00 UTC).
    skipped = clock(timezone="Europe/Paris", hours={"sun": ["02:30-04:00"]})
    assert hours(skipped, [(utc(2025, 3, 29, 12), utc(2025, 3, 30, 12))]) == [0.5]
    # 01:00–02:30 (00:00–01:30 UTC) would overlap 03:00–05:00 (01:00–03:00 UTC): the
    # overlap is counted once, 01:00–02:00 CET plus 03:00–05:00 CEST.
    split = clock(timezone="Europe/Paris", hours={"sun": ["01:00-02:30", "03:00-05:00"]})
    assert hours(split, [(utc(2025, 3, 29, 12), utc(2025, 3, 30, 12))]) == [3.0]


def test_daylight_saving_in_new_york() -> None:
    new_york = clock(timezone="America/New_York")
    assert hours(
        new_york,
        [
            # Fri 7 Mar 16:00 EST → Mon 10 Mar 10:00 EDT (clocks forward on the 9th)
            (utc(2025, 3, 7, 21), utc(2025, 3, 10, 14)),
            # Fri 31 Oct 16:00 EDT → Mon 3 Nov 10:00 EST (clocks back on 2 Nov)
            (utc(2025, 10, 31, 20), utc(2025, 11, 3, 15)),
        ],
    ) == [2.0, 2.0]


def test_a_column_chooses_the_calendar_per_row() -> None:
    settings = BusinessTimeSettings.model_validate(
        {
            "calendars": {
                "default": {},
                "paris": {"timezone": "Europe/Paris", "hours": LUNCH},
                "ny": {"timezone": "America/New_York"},
            },
            "column": "assignment_group",
            "assign": {"Service desk FR": "paris", "Service desk US": "ny"},
        }
    )
    business = build_clock(settings, WINDOW)
    # Mon 2 Jun 14:00–18:00 UTC: Paris 16:00–20:00 (1 h), New York 10:00–14:00 (4 h),
    # UTC 14:00–18:00 (3 h); null and unassigned groups use the default calendar.
    pair = (utc(2025, 6, 2, 14), utc(2025, 6, 2, 18))
    groups = ["Service desk FR", "Service desk US", "Network", None]
    assert hours(business, [pair] * 4, assignment_group=groups) == [1.0, 4.0, 3.0, 3.0]
    # A frame without the column (survey responses) uses the default calendar.
    assert hours(business, [pair]) == [3.0]


def test_nulls_and_reversed_instants() -> None:
    business = clock()
    a, b = utc(2025, 6, 6, 15), utc(2025, 6, 9, 11)
    assert hours(business, [(None, b), (a, None), (None, None), (b, a)]) == [
        None,
        None,
        None,
        -4.0,
    ]


def test_instants_outside_the_laid_out_days_are_null() -> None:
    business = clock()
    first, last = business.covers
    assert first == WINDOW[0] - timedelta(days=366)
    assert last == WINDOW[1] + timedelta(days=731)
    too_early = datetime.combine(first - timedelta(days=1), time(10), tzinfo=UTC)
    too_late = datetime.combine(last + timedelta(days=2), time(10), tzinfo=UTC)
    inside = utc(2025, 6, 2, 10)
    assert hours(business, [(too_early, inside), (inside, too_late)]) == [None, None]
    assert deadline(business, [too_late], 1.0) == [None]


def test_rows_keep_their_order_columns_and_types() -> None:
    frame = pl.LazyFrame(
        {
            "id": [3, 1, 2],
            "a": [utc(2025, 6, 3, 9), utc(2025, 6, 2, 9), None],
            "b": [utc(2025, 6, 3, 10), utc(2025, 6, 2, 12), None],
        },
        schema_overrides={"a": pl.Datetime("us", "UTC"), "b": pl.Datetime("us", "UTC")},
    )
    business = clock()
    out = business.with_hours(frame, "a", "b", "h").collect()
    assert out.columns == ["id", "a", "b", "h"]
    assert out["id"].to_list() == [3, 1, 2]
    assert out["h"].to_list() == [1.0, 3.0, None]
    due = business.with_deadline(frame, "a", pl.lit(1.0), "due").collect()
    assert due.schema["due"] == pl.Datetime("us", "UTC")
    assert due.columns == ["id", "a", "b", "due"]


# -- deadlines ---------------------------------------------------------------------------


def test_deadline_in_hours() -> None:
    business = clock()
    assert deadline(
        business,
        [
            utc(2025, 6, 6, 15),  # Fri 15:00 + 4 h → Mon 11:00
            utc(2025, 6, 7, 12),  # Sat → counts from Mon 09:00
            utc(2025, 6, 2, 13),  # Mon 13:00 + 4 h → Mon 17:00, the closing time
        ],
        4.0,
    ) == [utc(2025, 6, 9, 11), utc(2025, 6, 9, 13), utc(2025, 6, 2, 17)]


def test_deadline_zero_negative_null_and_per_row_hours() -> None:
    business = clock()
    saturday = utc(2025, 6, 7, 12)
    assert deadline(business, [saturday, None], 0.0) == [saturday, None]
    assert deadline(business, [utc(2025, 6, 9, 10)], -2.0) == [utc(2025, 6, 6, 16)]
    frame = pl.LazyFrame(
        {"a": [utc(2025, 6, 2, 9)] * 3, "priority": ["critical", "low", "unknown"]},
        schema_overrides={"a": pl.Datetime("us", "UTC")},
    )
    target = pl.col("priority").replace_strict(
        {"critical": 4.0, "low": 16.0}, default=None, return_dtype=pl.Float64
    )
    due = business.with_deadline(frame, "a", target, "due").collect()["due"].to_list()
    assert due == [utc(2025, 6, 2, 13), utc(2025, 6, 3, 17), None]


def test_deadline_across_holidays_and_daylight_saving() -> None:
    paris = clock(timezone="Europe/Paris", country="FR")
    # Wed 30 Apr 16:00 CEST + 2 h: 1 h on Wed, 1 May closed, Fri 2 May 10:00 CEST.
    assert deadline(paris, [utc(2025, 4, 30, 14)], 2.0) == [utc(2025, 5, 2, 8)]
    # Fri 28 Mar 16:00 CET + 2 h → Mon 31 Mar 10:00 CEST.
    assert deadline(paris, [utc(2025, 3, 28, 15)], 2.0) == [utc(2025, 3, 31, 8)]
    new_york = clock(timezone="America/New_York", country="US")
    # Fri 31 Oct 15:00 EDT + 3 h: 2 h on Friday, then Mon 3 Nov 09:00–10:00 EST.
    assert deadline(new_york, [utc(2025, 10, 31, 19)], 3.0) == [utc(2025, 11, 3, 15)]


def test_deadline_in_working_days() -> None:
    business = clock()
    # Thu 10:00 + 2 working days → Mon 10:00, the same time of day.
    assert deadline_days(business, [utc(2025, 6, 5, 10), None], 2) == [utc(2025, 6, 9, 10), None]
    # Sat → Mon 09:00 first, + 1 → Tue 09:00.
    assert deadline_days(business, [utc(2025, 6, 7, 12)], 1) == [utc(2025, 6, 10, 9)]
    # Fri after closing → Mon 09:00 first, + 2 → Wed 09:00.
    assert deadline_days(business, [utc(2025, 6, 6, 18)], 2) == [utc(2025, 6, 11, 9)]


def test_deadline_days_across_holidays_and_daylight_saving() -> None:
    paris = clock(timezone="Europe/Paris", country="FR")
    # Wed 30 Apr 10:00 CEST + 1 working day: 1 May is closed → Fri 2 May 10:00 CEST.
    assert deadline_days(paris, [utc(2025, 4, 30, 8)], 1) == [utc(2025, 5, 2, 8)]
    # Fri 28 Mar 10:00 CET + 1 → Mon 31 Mar 10:00 CEST: the same local time.
    assert deadline_days(paris, [utc(2025, 3, 28, 9)], 1) == [utc(2025, 3, 31, 8)]
    new_york = clock(timezone="America/New_York")
    # Fri 31 Oct 10:00 EDT + 1 → Mon 3 Nov 10:00 EST.
    assert deadline_days(new_york, [utc(2025, 10, 31, 14)], 1) == [utc(2025, 11, 3, 15)]


def test_deadline_days_zero_fraction_and_short_days() -> None:
    lunch = clock(hours=LUNCH)
    # 0 days: the next working moment (12:30 is in the lunch break).
    assert deadline_days(lunch, [utc(2025, 6, 2, 12, 30)], 0) == [utc(2025, 6, 2, 13)]
    # Half a day of a 7-hour day is 3.5 working hours: Mon 10:00 + 1 day → Tue 10:00,
    # + 3.5 h → Tue 14:30 (the lunch hour does not count).
    assert deadline_days(lunch, [utc(2025, 6, 2, 10)], 1.5) == [utc(2025, 6, 3, 14, 30)]
    # Friday closes at 13:00: Thu 15:00 + 1 day lands outside Friday's hours → Mon 09:00.
    short_friday = clock(hours={**WEEK, "fri": ["09:00-13:00"]})
    assert deadline_days(short_friday, [utc(2025, 6, 5, 15)], 1) == [utc(2025, 6, 9, 9)]
    with pytest.raises(ValueError, match="days"):
        lunch.with_deadline_days(pl.LazyFrame({"a": []}), "a", -1, "d")


# -- settings ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("calendar", "message"),
    [
        ({"country": "XX"}, "does not know country"),
        ({"country": "US", "subdivision": "ZZ"}, "no subdivision"),
        ({"subdivision": "CA"}, "needs a country"),
        ({"hours": {"mon": ["09:00-12:00", "11:00-14:00"]}}, "overlap"),
        ({"hours": {}}, "at least one working span"),
    ],
)
def test_settings_errors(calendar: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        CalendarSettings.model_validate(calendar)


def test_the_documented_examples_are_valid_settings() -> None:
    text = (Path(__file__).resolve().parents[1] / "docs" / "business-time.md").read_text("utf-8")
    blocks = re.findall(r"```toml\n(.*?)```", text, flags=re.DOTALL)
    assert len(blocks) == 2
    for block in blocks:
        settings = BusinessTimeSettings.model_validate(tomllib.loads(block)["business_time"])
        build_clock(settings, WINDOW)


def test_build_clock_without_a_window_covers_today() -> None:
    business = build_clock(BusinessTimeSettings(), None)
    first, last = business.covers
    assert first < date.today() < last
    assert business.unit == "business hours"


# -- against a slow reference ------------------------------------------------------------


Span = tuple[int, int, date]
"""A working span as UTC µs since the epoch, and the local day it belongs to."""


def reference_spans(calendar: CalendarSettings, first: date, last: date) -> list[Span]:
    """Working spans as UTC µs, one local day at a time with ``zoneinfo`` (fold=0)."""
    zone = ZoneInfo(calendar.timezone)
    closed = set(calendar.holidays)
    if calendar.country:
        years = range(first.year, last.year + 1)
        closed |= set(holidays.country_holidays(calendar.country, years=years))
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    spans = []
    day = first
    while day <= last:
        if day not in closed:
            for span in calendar.hours.get(WEEKDAYS[day.weekday()], []):
                edges = []
                for text in (span[:5], span[6:]):
                    minutes = int(text[:2]) * 60 + int(text[3:])
                    local = datetime.combine(day, time(), tzinfo=zone) + timedelta(minutes=minutes)
                    edges.append((local.astimezone(UTC) - epoch) // timedelta(microseconds=1))
                spans.append((edges[0], edges[1], day))
        day += timedelta(days=1)
    return spans


def reference_hours(spans: list[Span], a: int, b: int) -> float:
    lo, hi = min(a, b), max(a, b)
    worked = sum(max(0, min(hi, end) - max(lo, start)) for start, end, _ in spans)
    return (worked if b >= a else -worked) / 3_600_000_000


def reference_deadline(spans: list[Span], a: int, micros: int) -> int:
    if micros == 0:
        return a
    for start, end, _ in spans:
        if end <= a:
            continue
        begin = max(start, a)
        if micros <= end - begin:
            return begin + micros
        micros -= end - begin
    raise AssertionError("past the reference's days")


def reference_next_working(spans: list[Span], a: int) -> tuple[int, date]:
    start, _, day = next(span for span in spans if span[1] > a)
    return max(a, start), day


def reference_deadline_days(spans: list[Span], zone: ZoneInfo, a: int, days: float) -> int:
    moment, day = reference_next_working(spans, a)
    local = (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=moment)).astimezone(zone)
    time_of_day = local.replace(tzinfo=None) - datetime.combine(day, time())
    working_days = sorted({span_day for _, _, span_day in spans})
    target = working_days[working_days.index(day) + int(days)]
    landed = (datetime.combine(target, time()) + time_of_day).replace(tzinfo=zone)
    moment, _ = reference_next_working(spans, to_micros(landed.astimezone(UTC)))
    return moment


def to_micros(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def test_matches_a_pure_python_reference_on_random_instants() -> None:
    settings = BusinessTimeSettings.model_validate(
        {
            "calendars": {
                "default": {"timezone": "Europe/Paris", "hours": LUNCH, "country": "FR"},
                "ny": {
                    "timezone": "America/New_York",
                    "hours": {**WEEK, "fri": ["08:00-13:00"], "sat": ["10:00-14:00"]},
                    "holidays": [date(2025, 12, 24)],
                    "country": "US",
                },
            },
            "column": "team",
            "assign": {"us": "ny"},
        }
    )
    business = build_clock(settings, WINDOW)
    first, last = WINDOW[0] - timedelta(days=10), WINDOW[1] + timedelta(days=60)
    spans = {name: reference_spans(cal, first, last) for name, cal in settings.calendars.items()}
    rng = random.Random(20250330)
    start_of_year = to_micros(utc(2025, 1, 1))
    year = 365 * 24 * 3_600_000_000
    n = 300
    a = [start_of_year + rng.randrange(year) for _ in range(n)]
    b = [x + rng.randrange(-3, 30 * 24) * 3_600_000_000 + rng.randrange(3_600_000_000) for x in a]
    team = [rng.choice(["us", "fr", None]) for _ in range(n)]
    step = [rng.randrange(0, 80 * 60) for _ in range(n)]  # deadline targets in minutes
    frame = pl.LazyFrame(
        {"a": a, "b": b, "team": team, "minutes": step},
        schema_overrides={"a": pl.Int64, "b": pl.Int64},
    ).with_columns(pl.from_epoch(c, "us").dt.replace_time_zone("UTC") for c in ("a", "b"))
    plan = business.with_hours(frame, "a", "b", "h")
    plan = business.with_deadline(plan, "a", pl.col("minutes") / 60, "due")
    got = business.with_deadline_days(plan, "a", 3, "due_days").collect()
    for i in range(n):
        name = "ny" if team[i] == "us" else "default"
        cal_spans, zone = spans[name], ZoneInfo(settings.calendars[name].timezone)
        assert got["h"][i] == pytest.approx(reference_hours(cal_spans, a[i], b[i]), abs=1e-9)
        expected_due = reference_deadline(cal_spans, a[i], step[i] * 60_000_000)
        assert to_micros(got["due"][i]) == expected_due
        expected_days = reference_deadline_days(cal_spans, zone, a[i], 3)
        assert to_micros(got["due_days"][i]) == expected_days


# -- a metric on the business clock -------------------------------------------------------


def test_mttr_critical_hours_on_the_business_clock() -> None:
    settings = BusinessTimeSettings.model_validate(
        {
            "calendars": {"default": {}, "paris": {"timezone": "Europe/Paris", "country": "FR"}},
            "column": "assignment_group",
            "assign": {"FR": "paris"},
        }
    )
    tickets = pl.LazyFrame(
        {
            "ticket_id": ["T1", "T2", "T3", "T4"],
            "client_id": ["C1", "C1", "C2", "C2"],
            "priority": ["critical", "critical", "critical", "low"],
            "assignment_group": ["GLOBAL", "FR", "FR", "FR"],
            "opened_at": [
                utc(2025, 6, 6, 15),  # Fri 15:00 UTC → Mon 11:00 UTC: 4 h (UTC calendar)
                utc(2025, 4, 30, 14),  # Wed 16:00 CEST → Fri 10:00 CEST over 1 May: 2 h
                utc(2025, 6, 2, 7),  # Mon 09:00 CEST → Mon 15:00 CEST: 6 h
                utc(2025, 6, 2, 7),  # not critical
            ],
            "resolved_at": [
                utc(2025, 6, 9, 11),
                utc(2025, 5, 2, 8),
                utc(2025, 6, 2, 13),
                utc(2025, 6, 2, 13),
            ],
        },
        schema_overrides={
            "opened_at": pl.Datetime("us", "UTC"),
            "resolved_at": pl.Datetime("us", "UTC"),
        },
    )
    ctx = MetricContext(grain="month", clock=build_clock(settings, WINDOW))
    rows = mttr_critical_hours.compute(ctx, {"tickets": tickets}).collect()
    mean = rows.filter(pl.col("metric") == "mttr_critical_hours")
    overall = mean.filter(pl.col("client_id").is_null()).sort("period_start")
    # May: T2 alone (2 h); June: T1 and T3, (4 + 6) / 2.
    assert overall["value"].to_list() == [2.0, 5.0]
    assert overall["numerator"].to_list() == [2.0, 10.0]
    june_c2 = mean.filter((pl.col("client_id") == "C2") & (pl.col("value").is_not_null()))
    assert june_c2["value"].to_list() == [6.0]


# -- speed -------------------------------------------------------------------------------


@pytest.mark.slow
def test_one_million_durations_are_fast() -> None:
    settings = BusinessTimeSettings.model_validate(
        {
            "calendars": {
                "default": {"timezone": "Europe/Paris", "hours": LUNCH, "country": "FR"},
                "ny": {"timezone": "America/New_York", "country": "US"},
            },
            "column": "group",
            "assign": {"us": "ny"},
        }
    )
    started = timer.perf_counter()
    business = build_clock(settings, (date(2024, 1, 1), date(2025, 12, 31)))
    built = timer.perf_counter() - started
    n = 1_000_000
    frame = (
        pl.DataFrame({"i": pl.int_range(n, eager=True)})
        .select(
            pl.datetime(2024, 1, 1, time_zone="UTC")
            + pl.duration(seconds=(pl.col("i") * 7919 * 3_600) % (700 * 86_400)),
            pl.duration(seconds=(pl.col("i") * 104_729) % (20 * 86_400)).alias("span"),
            pl.when(pl.col("i") % 2 == 0).then(pl.lit("us")).otherwise(pl.lit("fr")).alias("group"),
        )
        .rename({"literal": "a"})
        .with_columns(b=pl.col("a") + pl.col("span"))
        .lazy()
    )
    timings = {}
    for label, plan in {
        "with_hours": business.with_hours(frame, "a", "b", "h"),
        "with_deadline": business.with_deadline(frame, "a", pl.lit(12.5), "d"),
        "with_deadline_days": business.with_deadline_days(frame, "a", 2, "d"),
    }.items():
        started = timer.perf_counter()
        out = plan.collect()
        timings[label] = timer.perf_counter() - started
        assert out.height == n
    print(f"\nbuild_clock: {built:.3f} s; 1 000 000 rows:", end=" ")
    print(", ".join(f"{label} {seconds:.3f} s" for label, seconds in timings.items()))
