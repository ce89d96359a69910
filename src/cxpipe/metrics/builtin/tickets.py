"""Service-delivery metrics computed from the ``tickets`` entity (METRICS.md, "tickets").

Volume is assigned to the period a ticket was opened in, resolution metrics to the period
it was resolved in, because that is when the client felt the outcome. Durations are
elapsed (wall-clock) hours between the UTC timestamps.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import polars as pl

from cxpipe.config import MetricSettings
from cxpipe.metrics.aggregate import (
    concat_results,
    count_rows,
    hours_between,
    mean,
    quantile,
    ratio,
)
from cxpipe.metrics.base import MetricContext, MetricInfo, Polarity, metric

_DEFAULT_SLA_TARGETS: Final[dict[str, Any]] = MetricSettings().model_dump()["sla_targets"]
_MICROSECONDS_PER_HOUR: Final = 3_600_000_000


@metric(
    name="ticket_volume",
    title="Ticket volume",
    description=(
        "Tickets opened in the period, in total and per request type, showing how much of "
        "the service portfolio clients actually use."
    ),
    unit="count",
    polarity=Polarity.NEUTRAL,
    inputs=("tickets",),
)
def ticket_volume(ctx: MetricContext, tickets: pl.LazyFrame) -> pl.LazyFrame:
    """Count tickets by ``opened_at``: one unsegmented row plus one per ``request_type``.

    Volume is neither good nor bad in itself (more tickets may mean more use, or more
    trouble), so its polarity is neutral.
    """
    return concat_results(
        [
            count_rows(tickets, metric="ticket_volume", at="opened_at", grain=ctx.grain),
            count_rows(
                tickets,
                metric="ticket_volume",
                at="opened_at",
                grain=ctx.grain,
                segment_by="request_type",
            ),
        ]
    )


@metric(
    name="mttr_critical_hours",
    title="Mean time to resolve critical tickets",
    description=(
        "Mean elapsed hours from opening to resolution of the critical tickets resolved in "
        "the period."
    ),
    unit="hours",
    polarity=Polarity.LOWER_IS_BETTER,
    inputs=("tickets",),
    also_emits=(
        MetricInfo(
            name="mttr_critical_hours_p50",
            title="Median time to resolve critical tickets",
            description=(
                "Median elapsed hours from opening to resolution of the critical tickets "
                "resolved in the period, robust to a few very long outliers."
            ),
            unit="hours",
            polarity=Polarity.LOWER_IS_BETTER,
        ),
        MetricInfo(
            name="mttr_critical_hours_p90",
            title="90th percentile time to resolve critical tickets",
            description=(
                "Elapsed hours within which 90 % of the critical tickets resolved in the "
                "period were resolved: the tail clients remember."
            ),
            unit="hours",
            polarity=Polarity.LOWER_IS_BETTER,
        ),
    ),
)
def mttr_critical_hours(ctx: MetricContext, tickets: pl.LazyFrame) -> pl.LazyFrame:
    """Mean, median and p90 of resolution hours of critical tickets, by ``resolved_at``.

    The mean carries Σhours and n so it re-aggregates; the quantiles (linear interpolation)
    carry no numerator because percentiles do not add up.
    """
    resolved = tickets.filter(
        (pl.col("priority") == "critical") & pl.col("resolved_at").is_not_null()
    )
    hours = hours_between("opened_at", "resolved_at")
    at, grain = "resolved_at", ctx.grain
    return concat_results(
        [
            mean(resolved, metric="mttr_critical_hours", at=at, grain=grain, x=hours),
            quantile(
                resolved, metric="mttr_critical_hours_p50", at=at, grain=grain, x=hours, q=0.5
            ),
            quantile(
                resolved, metric="mttr_critical_hours_p90", at=at, grain=grain, x=hours, q=0.9
            ),
        ]
    )


def target_hours_by_priority(settings: Mapping[str, Any], kind: str) -> dict[str, float]:
    """The configured ``<kind>_hours`` target per priority (priorities without one left out).

    ``settings`` is the ``[metrics]`` table as a plain dict; when it has no ``sla_targets``
    the defaults of :class:`cxpipe.config.MetricSettings` apply, so a metric run without a
    config file behaves like one with the default config.
    """
    targets: Mapping[str, Any] = settings.get("sla_targets", _DEFAULT_SLA_TARGETS)
    hours: dict[str, float] = {}
    for priority, target in targets.items():
        field = f"{kind}_hours"
        # A plain dict normally; a SlaTarget model is read the same way rather than ignored.
        value = target.get(field) if isinstance(target, Mapping) else getattr(target, field, None)
        if value is not None:
            hours[str(priority)] = float(value)
    return hours


def due_at(column: str, settings: Mapping[str, Any], kind: str) -> pl.Expr:
    """The due time of each ticket: ``column`` from the source, else ``opened_at`` + target.

    The fallback is one vectorised lookup of the ticket's priority in the (tiny) table of
    targets, so no Python code runs per ticket. The target is converted to whole
    microseconds, the resolution of the canonical timestamps. Null when neither exists.
    """
    hours = target_hours_by_priority(settings, kind)
    if not hours:
        return pl.col(column)
    target = pl.col("priority").replace_strict(hours, default=None, return_dtype=pl.Float64)
    offset = pl.duration(
        microseconds=(target * _MICROSECONDS_PER_HOUR).round().cast(pl.Int64),
        time_unit="us",
    )
    return pl.coalesce(pl.col(column), pl.col("opened_at") + offset)


@metric(
    name="sla_resolution_compliance_pct",
    title="SLA resolution compliance",
    description=(
        "Share of the tickets resolved in the period that were resolved by their due time "
        "(from the source, or opened time plus the configured target for their priority)."
    ),
    unit="%",
    polarity=Polarity.HIGHER_IS_BETTER,
    inputs=("tickets",),
)
def sla_resolution_compliance_pct(ctx: MetricContext, tickets: pl.LazyFrame) -> pl.LazyFrame:
    """Resolved-on-time ÷ resolved-with-a-due-time × 100, by ``resolved_at``.

    A ticket with neither a source due time nor a configured target for its priority has
    no promise to keep, so it is left out of both numerator and denominator rather than
    counted as a miss.
    """
    eligible = (
        tickets.filter(pl.col("resolved_at").is_not_null())
        .with_columns(_due=due_at("resolve_due_at", ctx.settings, "resolve"))
        .filter(pl.col("_due").is_not_null())
    )
    return ratio(
        eligible,
        metric="sla_resolution_compliance_pct",
        at="resolved_at",
        grain=ctx.grain,
        hit=pl.col("resolved_at") <= pl.col("_due"),
    )
