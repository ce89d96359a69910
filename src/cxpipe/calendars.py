"""Business calendars: durations and deadlines in working hours.

A calendar has a time zone, working hours per weekday and holidays (listed, or from a
country/region through the ``holidays`` package). Several named calendars may exist; a
configured ticket column chooses one per ticket.

How it is computed (docs/business-time.md has the rules): when the clock is built, each
calendar is laid out once as a small table of working spans over the run's days (padded by
:data:`PAD_BEFORE` and :data:`PAD_AFTER`), each span as UTC instants converted from local
time with the calendar's zone (so daylight-saving changes are exact), with the working
time accumulated before it. The working time up to an instant, ``B(t)``, is then a binary
search of the instants in that table; business time between two instants is
``B(end) − B(start)``, and a deadline is the same search on the accumulated column. Every
step is a polars expression over the whole frame: no Python code runs per ticket.
"""

from __future__ import annotations

import math
import re
from datetime import date, timedelta
from itertools import pairwise
from typing import Final, Literal

import polars as pl
from pydantic import Field, field_validator, model_validator

from cxpipe.metrics.base import HOURS_PER_MICROSECOND
from cxpipe.models import StrictModel, check_timezone

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPAN = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


class CalendarSettings(StrictModel):
    timezone: str = "UTC"
    hours: dict[Weekday, list[str]] = Field(
        default_factory=lambda: {day: ["09:00-17:00"] for day in WEEKDAYS[:5]}
    )
    """Working spans per weekday (``"09:00-12:30"``); a day not listed is closed."""
    holidays: list[date] = Field(default_factory=list)
    country: str | None = None
    """ISO country code for public holidays from the ``holidays`` package (``FR``, ``US``)."""
    subdivision: str | None = None
    """Region within the country (``CA`` for California, ``BY`` for Bavaria)."""

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        return check_timezone(value)

    @field_validator("hours")
    @classmethod
    def _valid_spans(cls, value: dict[Weekday, list[str]]) -> dict[Weekday, list[str]]:
        for day, spans in value.items():
            for span in spans:
                match = _SPAN.match(span)
                if match is None or span[:5] >= span[6:]:
                    raise ValueError(f"{day}: {span!r} is not a span like '09:00-17:00'")
            # Overlapping spans would count the shared time twice.
            ordered = sorted(spans)
            for before, after in pairwise(ordered):
                if after[:5] < before[6:]:
                    raise ValueError(f"{day}: spans {before!r} and {after!r} overlap")
        if not any(value.values()):
            raise ValueError("a calendar needs at least one working span")
        return value

    @model_validator(mode="after")
    def _known_region(self) -> CalendarSettings:
        """Check the country and region at config time rather than mid-run."""
        if self.subdivision is not None and self.country is None:
            raise ValueError("subdivision needs a country")
        if self.country is None:
            return self
        import holidays

        supported = holidays.list_supported_countries()
        if self.country not in supported:
            raise ValueError(f"the holidays package does not know country {self.country!r}")
        if self.subdivision is not None and self.subdivision not in supported[self.country]:
            known = ", ".join(supported[self.country])
            raise ValueError(
                f"{self.country} has no subdivision {self.subdivision!r} (known: {known})"
            )
        return self


class BusinessTimeSettings(StrictModel):
    """The ``[business_time]`` table: when present, durations are in business hours."""

    calendars: dict[str, CalendarSettings] = Field(
        default_factory=lambda: {"default": CalendarSettings()}
    )
    default: str = "default"
    """The calendar of tickets that ``column``/``assign`` does not place elsewhere."""
    column: str | None = None
    """A ticket column that chooses the calendar (``assignment_group``, ``client_id``)."""
    assign: dict[str, str] = Field(default_factory=dict)
    """Value of ``column`` → calendar name."""

    @model_validator(mode="after")
    def _calendars_exist(self) -> BusinessTimeSettings:
        for name in (self.default, *self.assign.values()):
            if name not in self.calendars:
                known = ", ".join(self.calendars)
                raise ValueError(f"calendar {name!r} is not defined (defined: {known})")
        return self


PAD_BEFORE: Final = timedelta(days=366)
"""How far before the run's first day the calendars are laid out."""
PAD_AFTER: Final = timedelta(days=731)
"""How far after the run's last day: room for deadlines past the data (30 working days
need about 45 calendar days; two years leaves room for any realistic target)."""

_US_PER_HOUR: Final = 3_600_000_000
# Working columns, prefixed so they cannot collide with a caller's columns.
_CAL, _I, _J, _T0, _T1 = "__cx_cal", "__cx_i", "__cx_j", "__cx_t0", "__cx_t1"
_B, _C, _H = "__cx_b", "__cx_c", "__cx_h"
_DAY, _DATE, _TOD = "__cx_day", "__cx_date", "__cx_tod"
_START, _END, _CUM = "start", "end", "cum"
_TEMPORARY: Final = [_CAL, _I, _J, _T0, _T1, _B, _C, _H, _DAY, _DATE, _TOD]


def _minutes(clock_time: str) -> int:
    return int(clock_time[:2]) * 60 + int(clock_time[3:])


def local_to_utc(naive: pl.Expr, timezone: str) -> pl.Expr:
    """Microseconds since the epoch (UTC) of a naive local datetime in ``timezone``.

    Follows Python's ``zoneinfo`` with ``fold=0``: a repeated wall time (clocks going back)
    is its first occurrence; a wall time the clocks skip (going forward) is read with the
    offset in force before the jump, so "02:30" on a spring-forward night in Paris is
    01:30 UTC.
    """
    aware = naive.dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null")
    # Only skipped wall times come out null; the offset three hours earlier is the one
    # before the jump (no zone changes its offset twice within three hours).
    probe = (naive - pl.duration(hours=3)).dt.replace_time_zone(
        timezone, ambiguous="earliest", non_existent="null"
    )
    utc = probe.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    offset = probe.dt.replace_time_zone(None) - utc
    return pl.coalesce(aware.dt.epoch("us"), (naive - offset).dt.epoch("us"))


def closed_days(calendar: CalendarSettings, first: date, last: date) -> list[date]:
    """The listed holidays plus the country's public holidays, between first and last."""
    days = set(calendar.holidays)
    if calendar.country is not None:
        import holidays

        public = holidays.country_holidays(
            calendar.country,
            subdiv=calendar.subdivision,
            years=range(first.year, last.year + 1),
        )
        days.update(public.keys())
    return sorted(day for day in days if first <= day <= last)


def span_table(calendar: CalendarSettings, index: int, first: date, last: date) -> pl.DataFrame:
    """The calendar's working spans on the local days first…last, in UTC microseconds.

    One row per span: calendar index, ``start``/``end`` (UTC µs), ``cum`` (working µs
    before the span, from ``first``), ``day`` (working-day number, 0 for the first) and the
    local ``date``. Spans are sorted, non-overlapping and non-empty, which the lookups rely
    on; a span that a daylight-saving jump makes empty or overlapping is trimmed.
    """
    pattern = pl.DataFrame(
        [
            (WEEKDAYS.index(day) + 1, _minutes(span[:5]), _minutes(span[6:]))
            for day, spans in calendar.hours.items()
            for span in spans
        ],
        schema={"weekday": pl.Int8, "open": pl.Int64, "close": pl.Int64},
        orient="row",
    )
    closed = pl.Series(closed_days(calendar, first, last), dtype=pl.Date)
    midnight = pl.col("date").cast(pl.Datetime("us"))
    length = pl.col(_END) - pl.col(_START)
    return (
        pl.DataFrame({"date": pl.date_range(first, last, "1d", eager=True)})
        .filter(~pl.col("date").is_in(closed.implode()))
        .with_columns(weekday=pl.col("date").dt.weekday().cast(pl.Int8))
        .join(pattern, on="weekday")
        .select(
            pl.lit(index, pl.UInt32).alias("cal"),
            local_to_utc(midnight + pl.duration(minutes="open"), calendar.timezone).alias(_START),
            local_to_utc(midnight + pl.duration(minutes="close"), calendar.timezone).alias(_END),
            "date",
        )
        .sort(_START, _END)
        .with_columns(pl.max_horizontal(_START, pl.col(_END).cum_max().shift(1)).alias(_START))
        .filter(length > 0)
        .with_columns(
            (length.cum_sum() - length).alias(_CUM),
            (pl.col("date").rank("dense").cast(pl.Int64) - 1).alias("day"),
        )
        .select("cal", _START, _END, _CUM, "day", "date")
    )


def _average_day_us(calendar: CalendarSettings) -> int:
    """Working µs per open weekday: what a fraction of a working day is a fraction of."""
    spans = [s for day_spans in calendar.hours.values() for s in day_spans]
    total = sum(_minutes(s[6:]) - _minutes(s[:5]) for s in spans)
    open_days = sum(1 for day_spans in calendar.hours.values() if day_spans)
    return round(total / open_days * 60_000_000)


def _instant(micros: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """UTC µs back to a datetime of ``dtype`` (the start column's type)."""
    utc = pl.from_epoch(micros, time_unit="us").dt.replace_time_zone("UTC")
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            return utc.dt.replace_time_zone(None).cast(dtype)
        return utc.dt.convert_time_zone(dtype.time_zone).cast(dtype)
    return utc


def _micros(column: str) -> pl.Expr:
    """An instant column as UTC µs since the epoch (naive datetimes are taken as UTC)."""
    return pl.col(column).dt.epoch("us")


class BusinessClock:
    """Durations and deadlines in working time of per-ticket business calendars.

    Satisfies :class:`cxpipe.metrics.base.Clock`. All calendars' spans sit in one table
    ordered by calendar then time; an instant is looked up with a binary search
    (``search_sorted``) on a key that puts each calendar in its own block, so a lookup is
    one vectorised expression per frame: no join, no sort, rows keep their order.
    Instants outside the laid-out days (:attr:`covers`) give null, not a wrong number.
    """

    unit = "business hours"

    def __init__(self, settings: BusinessTimeSettings, first: date, last: date) -> None:
        self.settings = settings
        self.covers = (first, last)
        """The local days the calendars are laid out on (the run's days, padded)."""
        self._index = {name: i for i, name in enumerate(settings.calendars)}
        calendars = list(settings.calendars.values())
        spans = pl.concat(
            [span_table(cal, i, first, last) for i, cal in enumerate(calendars)], how="vertical"
        )
        present = set(spans["cal"].unique().to_list())
        for name, i in self._index.items():
            if i not in present:
                raise ValueError(f"calendar {name!r} has no working time from {first} to {last}")
        edges = pl.DataFrame({"d": [first, last + timedelta(days=1)]}).select(
            pl.col("d").cast(pl.Datetime("us"))
        )
        bounds: list[list[int]] = [
            edges.select(local_to_utc(pl.col("d"), c.timezone))["d"].to_list() for c in calendars
        ]
        self._lo = pl.Series([lo for lo, _ in bounds], dtype=pl.Int64)
        self._hi = pl.Series([hi for _, hi in bounds], dtype=pl.Int64)
        self._origin: int = min(lo for lo, _ in bounds)
        self._stride: int = max(hi for _, hi in bounds) - self._origin + 1
        totals = spans.group_by("cal").agg((pl.col(_END) - pl.col(_START)).sum())
        self._cum_stride = int(totals.select(pl.col(_END).max()).item()) + 1
        cal = pl.col("cal").cast(pl.Int64)
        table = spans.sort("cal", _START).with_columns(
            (pl.col(_START) - self._origin + cal * self._stride).alias("start_key"),
            (pl.col(_END) - self._origin + cal * self._stride).alias("end_key"),
            (pl.col(_CUM) + cal * self._cum_stride).alias("cum_key"),
        )
        self._spans = {name: table[name] for name in table.columns}
        self._size = table.height
        days = table.select("cal", "day", "date").unique(maintain_order=True)
        per_cal = days.group_by("cal", maintain_order=True).len().sort("cal")
        self._day_count = per_cal["len"].cast(pl.Int64)
        self._day_offset = (self._day_count.cum_sum() - self._day_count).cast(pl.Int64)
        self._day_date = days["date"]
        self._day_us = pl.Series([_average_day_us(c) for c in calendars], dtype=pl.Int64)
        self._zones: dict[str, list[int]] = {}
        for i, c in enumerate(calendars):
            self._zones.setdefault(c.timezone, []).append(i)

    # -- the Clock protocol ------------------------------------------------------------

    def with_hours(self, frame: pl.LazyFrame, start: str, end: str, name: str) -> pl.LazyFrame:
        """Working hours from ``start`` to ``end``: ``B(end) − B(start)``, negative when
        ``end`` is before ``start``; null when either is null or outside :attr:`covers`."""
        return (
            self._with_calendar(frame)
            .with_columns(_micros(start).alias(_T0), _micros(end).alias(_T1))
            .with_columns(self._index_before(_T0).alias(_I), self._index_before(_T1).alias(_J))
            .with_columns(self._worked(_T0, _I).alias(_B), self._worked(_T1, _J).alias(_C))
            # × the reciprocal, not ÷: the same bits in any batch (HOURS_PER_MICROSECOND)
            .with_columns(
                ((pl.col(_C) - pl.col(_B)).cast(pl.Float64) * HOURS_PER_MICROSECOND).alias(name)
            )
            .drop(_TEMPORARY, strict=False)
        )

    def with_deadline(
        self, frame: pl.LazyFrame, start: str, hours: pl.Expr, name: str
    ) -> pl.LazyFrame:
        """The earliest instant by which ``hours`` of working time have passed since
        ``start`` (a deadline reached at a closing time is that closing time, not the next
        opening). Zero hours is ``start`` itself; negative hours count backwards."""
        dtype = frame.collect_schema()[start]
        micros = (hours * _US_PER_HOUR).round(0).cast(pl.Int64, strict=False)
        steps = self._with_calendar(frame).with_columns(_micros(start).alias(_T0), micros.alias(_H))
        return (
            self._after(steps, _T0, _H, _T1)
            .with_columns(_instant(pl.col(_T1), dtype).alias(name))
            .drop(_TEMPORARY, strict=False)
        )

    def with_deadline_days(
        self, frame: pl.LazyFrame, start: str, days: float, name: str
    ) -> pl.LazyFrame:
        """The same local time ``days`` working days later.

        A start outside working hours first moves to the next working moment, and so does
        a target time outside the target day's hours. A fraction of a day is that fraction
        of the calendar's average working day, added as working time after the whole days.
        ``days`` must be finite and not negative.
        """
        if not math.isfinite(days) or days < 0:
            raise ValueError(f"days must be a finite number ≥ 0, not {days!r}")
        whole = math.floor(days)
        fraction = days - whole
        dtype = frame.collect_schema()[start]
        day = pl.col(_DAY)
        target_date = pl.when(day < self._per_calendar(self._day_count)).then(
            self._gather(self._day_date, self._per_calendar(self._day_offset) + day)
        )
        steps = (
            self._with_calendar(frame)
            .with_columns(_micros(start).alias(_T0))
            # 1. the next working moment, its working day and its local time of day
            .with_columns(self._index_after(_T0).alias(_I))
            .with_columns(
                self._next_working(_T0, _I).alias(_T1),
                (self._span(_I, "day") + whole).alias(_DAY),
                self._span(_I, "date").cast(pl.Datetime("us")).alias(_DATE),
            )
            .with_columns((self._to_local(pl.col(_T1)) - pl.col(_DATE)).alias(_TOD))
            # 2. the same local time on the working day ``whole`` days later
            .with_columns(target_date.cast(pl.Datetime("us")).alias(_DATE))
            .with_columns(self._to_utc(pl.col(_DATE) + pl.col(_TOD)).alias(_T0))
            # 3. outside that day's hours: the next working moment
            .with_columns(self._index_after(_T0).alias(_I))
            .with_columns(self._next_working(_T0, _I).alias(_T1))
        )
        if fraction > 0:
            share = (self._day_us.cast(pl.Float64) * fraction).round(0).cast(pl.Int64)
            steps = self._after(
                steps.with_columns(self._per_calendar(share).alias(_H)), _T1, _H, _T0
            ).with_columns(pl.col(_T0).alias(_T1))
        return steps.with_columns(_instant(pl.col(_T1), dtype).alias(name)).drop(
            _TEMPORARY, strict=False
        )

    # -- building blocks -----------------------------------------------------------------

    def calendar_of(self, schema: pl.Schema) -> pl.Expr:
        """Each row's calendar number: ``column`` through ``assign``, else the default.

        A frame without the configured column (survey responses, say) uses the default
        calendar, as do null and unassigned values.
        """
        default = self._index[self.settings.default]
        column = self.settings.column
        if column is None or column not in schema or not self.settings.assign:
            return pl.lit(default, pl.UInt32)
        mapping = {value: self._index[cal] for value, cal in self.settings.assign.items()}
        return (
            pl.col(column)
            .cast(pl.String)
            .replace_strict(mapping, default=default, return_dtype=pl.UInt32)
            .fill_null(default)
        )

    def _with_calendar(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        return frame.with_columns(self.calendar_of(frame.collect_schema()).alias(_CAL))

    def _per_calendar(self, values: pl.Series) -> pl.Expr:
        """The value of each row's calendar (``values`` indexed by calendar number)."""
        return pl.lit(values).gather(pl.col(_CAL))

    @staticmethod
    def _gather(values: pl.Series, index: pl.Expr) -> pl.Expr:
        return pl.lit(values).gather(index.clip(0, len(values) - 1))

    def _span(self, index: str, field: str) -> pl.Expr:
        """``field`` of the span at position ``index`` (clipped into the table)."""
        return self._gather(self._spans[field], pl.col(index))

    def _found(self, index: str) -> pl.Expr:
        """Whether ``index`` points at a span of the row's own calendar."""
        inside = pl.col(index).is_between(0, self._size - 1)
        return inside & (self._span(index, "cal") == pl.col(_CAL))

    def _in_range(self, t: str) -> pl.Expr:
        lo, hi = self._per_calendar(self._lo), self._per_calendar(self._hi)
        return pl.col(t).is_between(lo, hi)

    def _key(self, t: str) -> pl.Expr:
        cal = pl.col(_CAL).cast(pl.Int64)
        return (pl.col(t) - self._origin + cal * self._stride).fill_null(0)

    def _index_before(self, t: str) -> pl.Expr:
        """Position of the last span starting at or before ``t`` (its calendar's)."""
        found = pl.lit(self._spans["start_key"]).search_sorted(self._key(t), side="right")
        return found.cast(pl.Int64) - 1

    def _index_after(self, t: str) -> pl.Expr:
        """Position of the first span ending after ``t``."""
        found = pl.lit(self._spans["end_key"]).search_sorted(self._key(t), side="right")
        return found.cast(pl.Int64)

    def _worked(self, t: str, index: str) -> pl.Expr:
        """B(t): working µs from the start of :attr:`covers` to ``t``."""
        start, end = self._span(index, _START), self._span(index, _END)
        into = (pl.col(t) - start).clip(0, end - start)
        within = pl.when(self._found(index)).then(self._span(index, _CUM) + into).otherwise(0)
        return pl.when(self._in_range(t)).then(within)

    def _next_working(self, t: str, index: str) -> pl.Expr:
        """``t`` when it is working time, else the next opening (``index``: after ``t``)."""
        found = self._in_range(t) & self._found(index)
        return pl.when(found).then(pl.max_horizontal(t, self._span(index, _START)))

    def _after(self, frame: pl.LazyFrame, t: str, hours: str, out: str) -> pl.LazyFrame:
        """Add ``out``: the earliest instant where B reaches B(t) + ``hours`` (µs)."""
        # Clipped so the sum cannot overflow; a target past the table is null anyway.
        step = pl.col(hours).clip(-self._cum_stride, self._cum_stride)
        cal = pl.col(_CAL).cast(pl.Int64)
        # The last span whose accumulated start is strictly below the target: a target
        # equal to a span's accumulated start is reached at the previous span's end.
        index = (
            pl.lit(self._spans["cum_key"])
            .search_sorted((pl.col(_C) + cal * self._cum_stride).fill_null(0), side="left")
            .cast(pl.Int64)
            - 1
        )
        start, end, cum = (self._span(_I, f) for f in (_START, _END, _CUM))
        reached = pl.when(self._found(_I) & (pl.col(_C) <= cum + end - start)).then(
            start + pl.col(_C) - cum
        )
        return (
            frame.with_columns(self._index_before(t).alias(_I))
            .with_columns((self._worked(t, _I) + step).alias(_C))
            .with_columns(index.alias(_I))
            .with_columns(pl.when(pl.col(hours) == 0).then(pl.col(t)).otherwise(reached).alias(out))
        )

    def _to_local(self, micros: pl.Expr) -> pl.Expr:
        """UTC µs → naive local wall time in each row's calendar zone."""
        utc = pl.from_epoch(micros, time_unit="us").dt.replace_time_zone("UTC")
        local = {z: utc.dt.convert_time_zone(z).dt.replace_time_zone(None) for z in self._zones}
        return self._by_zone(local)

    def _to_utc(self, naive: pl.Expr) -> pl.Expr:
        """Naive local wall time in each row's calendar zone → UTC µs."""
        return self._by_zone({zone: local_to_utc(naive, zone) for zone in self._zones})

    def _by_zone(self, branches: dict[str, pl.Expr]) -> pl.Expr:
        """Each row's branch by its calendar's zone (one branch per distinct zone)."""
        zones = list(branches)
        chosen = branches[zones[-1]]
        for zone in zones[:-1]:
            in_zone = pl.col(_CAL).is_in(self._zones[zone])
            chosen = pl.when(in_zone).then(branches[zone]).otherwise(chosen)
        return chosen


def build_clock(settings: BusinessTimeSettings, window: tuple[date, date] | None) -> BusinessClock:
    """The business clock of a run whose data spans ``window`` (today when unknown)."""
    first, last = window if window is not None else (date.today(), date.today())
    return BusinessClock(settings, first - PAD_BEFORE, last + PAD_AFTER)
