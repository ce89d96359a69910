"""What a metric is, as a plugin author declares it.

A metric is a pure function from canonical LazyFrames to a LazyFrame in the long
result shape (:data:`cxpipe.schemas.METRIC_RESULT_COLUMNS`). It does no I/O and never
collects, so the runner can plan every metric together and a test can call it directly.
One function may emit several related metrics (``nps`` also emits ``nps_moe``); each
emitted name has its own catalog entry.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any, Literal, Protocol

import polars as pl

Grain = Literal["week", "month", "quarter", "year"]
GRAINS: tuple[Grain, ...] = ("week", "month", "quarter", "year")


class Polarity(StrEnum):
    """Whether a rising value is good news; trends and action rules read it."""

    HIGHER_IS_BETTER = "higher_is_better"
    LOWER_IS_BETTER = "lower_is_better"
    NEUTRAL = "neutral"


@dataclass(frozen=True)
class MetricInfo:
    """The catalog entry of one emitted metric (a row of ``dim_metric``)."""

    name: str
    title: str
    description: str
    unit: str
    polarity: Polarity
    clock_hours: bool = False
    """The value is a duration measured by the run's clock, so its unit becomes
    ``business hours`` when business calendars are configured (self-reported hours are not)."""


class Clock(Protocol):
    """How durations and deadlines are measured: elapsed time, or business hours.

    Both are frame operations, not expressions, because business time joins each row to
    its calendar; a metric never needs to know which clock it runs with.
    """

    unit: str
    """``"hours"`` or ``"business hours"``: what duration metrics report."""

    def with_hours(self, frame: pl.LazyFrame, start: str, end: str, name: str) -> pl.LazyFrame:
        """Add column ``name``: hours from ``start`` to ``end`` (null when either is null)."""
        ...

    def with_deadline(
        self, frame: pl.LazyFrame, start: str, hours: pl.Expr, name: str
    ) -> pl.LazyFrame:
        """Add column ``name``: the instant ``hours`` after ``start`` on this clock."""
        ...

    def with_deadline_days(
        self, frame: pl.LazyFrame, start: str, days: float, name: str
    ) -> pl.LazyFrame:
        """Add column ``name``: ``days`` days after ``start`` (business days on a business
        clock: the same local time that many working days later)."""
        ...


HOURS_PER_MICROSECOND: float = 1 / 3_600_000_000
"""Multiply by it rather than divide by 3 600 000 000: polars divides a column by a number as
a multiplication by its reciprocal, except in a one-row batch, where it divides exactly, so
``x / c`` can differ in its last bit with the size of the batch the row happens to be in.
``x * (1 / c)`` is the same in every batch (docs/distributed.md, "Identical values")."""


class ElapsedClock:
    """Wall-clock hours: the default when no business calendar is configured."""

    unit = "hours"

    def with_hours(self, frame: pl.LazyFrame, start: str, end: str, name: str) -> pl.LazyFrame:
        elapsed = (pl.col(end) - pl.col(start)).dt.total_microseconds().cast(pl.Float64)
        return frame.with_columns((elapsed * HOURS_PER_MICROSECOND).alias(name))

    def with_deadline(
        self, frame: pl.LazyFrame, start: str, hours: pl.Expr, name: str
    ) -> pl.LazyFrame:
        micros = (hours * 3_600_000_000).round(0).cast(pl.Int64)
        return frame.with_columns((pl.col(start) + pl.duration(microseconds=micros)).alias(name))

    def with_deadline_days(
        self, frame: pl.LazyFrame, start: str, days: float, name: str
    ) -> pl.LazyFrame:
        return self.with_deadline(frame, start, pl.lit(days * 24.0), name)


@dataclass(frozen=True)
class MetricContext:
    """What a metric may know about the run besides its input frames."""

    grain: Grain = "month"
    settings: Mapping[str, Any] = field(default_factory=dict)
    """The ``[metrics]`` table of the config: SLA targets, proxy weights, grace days, …"""
    window: tuple[date, date] | None = None
    """First and last day the run's data covers (from tickets, surveys and projects), for
    metrics that must emit a row per period even without events in it (retention)."""
    clock: Clock = field(default_factory=ElapsedClock)
    """Measures durations and deadlines: elapsed hours, or business hours when the config
    has a ``[business_time]`` table."""

    def setting(self, key: str, default: Any) -> Any:
        return self.settings.get(key, default)


MetricFunction = Callable[..., pl.LazyFrame]


@dataclass(frozen=True)
class MetricSpec:
    """A registered metric computation: its inputs, its function and what it emits."""

    name: str
    inputs: tuple[str, ...]
    function: MetricFunction
    emits: tuple[MetricInfo, ...]
    optional_inputs: tuple[str, ...] = ()
    """Entities the metric uses when present; the metric is skipped when a required input is
    missing, but runs without an optional one."""
    client_separable: bool = True
    """Each client's rows depend only on that client's input rows (and the run's context),
    so a partitioned run may compute clients in separate shards (docs/distributed.md).
    False for a metric that compares a client with the others (a rank, a share of the
    total): a partitioned run then computes its per-client rows on the whole data."""

    def compute(self, ctx: MetricContext, frames: Mapping[str, pl.LazyFrame]) -> pl.LazyFrame:
        kwargs = {name: frames[name] for name in self.inputs}
        kwargs.update({name: frames[name] for name in self.optional_inputs if name in frames})
        return self.function(ctx, **kwargs)

    @property
    def metric_names(self) -> tuple[str, ...]:
        return tuple(info.name for info in self.emits)


def metric(
    *,
    name: str,
    title: str,
    description: str,
    unit: str,
    polarity: Polarity | str,
    inputs: tuple[str, ...],
    optional_inputs: tuple[str, ...] = (),
    also_emits: tuple[MetricInfo, ...] = (),
    clock_hours: bool = False,
    client_separable: bool = True,
) -> Callable[[MetricFunction], MetricSpec]:
    """Declare a metric. The decorated function is called as ``fn(ctx, **frames)``.

    The function's parameters after ``ctx`` must be named like its ``inputs``, so a wrong
    name fails at import time rather than mid-run. Declare ``client_separable=False`` when
    a client's rows depend on other clients' rows (see :attr:`MetricSpec.client_separable`);
    the contract kit's ``client_separable`` rule checks the default holds.
    """

    def decorate(function: MetricFunction) -> MetricSpec:
        params = list(inspect.signature(function).parameters)
        expected = {*inputs, *optional_inputs}
        if not params or not expected.issubset(params[1:]):
            raise TypeError(
                f"metric {name!r}: {function.__qualname__} must take (ctx, "
                f"{', '.join(sorted(expected))}) but takes ({', '.join(params)})"
            )
        main = MetricInfo(name, title, description, unit, Polarity(polarity), clock_hours)
        return MetricSpec(
            name=name,
            inputs=inputs,
            optional_inputs=optional_inputs,
            function=function,
            emits=(main, *also_emits),
            client_separable=client_separable,
        )

    return decorate
