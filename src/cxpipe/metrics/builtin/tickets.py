"""Service-delivery metrics computed from the ``tickets`` entity (METRICS.md, "tickets").

Volume and first response are assigned to the period a ticket was opened in, resolution
metrics to the period it was resolved in (response compliance to the period of the first
response), because that is when the client felt the outcome. The backlog is a state, not
an event: it is counted at the end of every period of the run's window.

Durations and due times go through ``ctx.clock``: elapsed (wall-clock) hours between the
UTC timestamps by default, business hours when the config has business calendars. A
metric never needs to know which.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

import polars as pl

from cxpipe.config import MetricSettings
from cxpipe.metrics.aggregate import (
    concat_results,
    count_rows,
    mean,
    period_range,
    period_start,
    quantile,
    ratio,
    shift_period,
)
from cxpipe.metrics.base import (
    Clock,
    MetricContext,
    MetricInfo,
    MetricSpec,
    Polarity,
    metric,
)

_DEFAULT_SLA_TARGETS: Final[dict[str, Any]] = MetricSettings().model_dump()["sla_targets"]
_MICROSECONDS_PER_HOUR: Final = 3_600_000_000
_SEGMENT: Final = "request_type"
"""The column the segmented variants of the resolution metrics are split by."""


def _with_request_type_segments(
    build: Callable[[str | None], pl.LazyFrame],
) -> pl.LazyFrame:
    """``build(None)`` (unsegmented) stacked on ``build("request_type")`` (one row per
    request type), the segmented variants of METRICS.md."""
    return concat_results([build(None), build(_SEGMENT)])


@metric(
    name="ticket_volume",
    title="Ticket volume",
    description=(
        "Tickets opened in the period, in total, per request type (how much of the service "
        "portfolio clients use) and per priority (so a surge of critical tickets shows)."
    ),
    unit="count",
    polarity=Polarity.NEUTRAL,
    inputs=("tickets",),
)
def ticket_volume(ctx: MetricContext, tickets: pl.LazyFrame) -> pl.LazyFrame:
    """Count tickets by ``opened_at``: one unsegmented row, one per ``request_type`` and
    one per ``priority``.

    Volume is neither good nor bad in itself (more tickets may mean more use, or more
    trouble), so its polarity is neutral. The priority split is what lets the signals see
    a surge of critical tickets, which the resolution-time metrics do not.
    """
    return concat_results(
        [
            count_rows(
                tickets, metric="ticket_volume", at="opened_at", grain=ctx.grain, segment_by=by
            )
            for by in (None, _SEGMENT, "priority")
        ]
    )


@metric(
    name="mttr_critical_hours",
    title="Mean time to resolve critical tickets",
    description=(
        "Mean hours (elapsed, or business hours with a business calendar) from opening to "
        "resolution of the critical tickets resolved in the period."
    ),
    unit="hours",
    clock_hours=True,
    polarity=Polarity.LOWER_IS_BETTER,
    inputs=("tickets",),
    also_emits=(
        MetricInfo(
            name="mttr_critical_hours_p50",
            title="Median time to resolve critical tickets",
            description=(
                "Median hours from opening to resolution of the critical tickets resolved "
                "in the period, robust to a few very long outliers."
            ),
            unit="hours",
            polarity=Polarity.LOWER_IS_BETTER,
            clock_hours=True,
        ),
        MetricInfo(
            name="mttr_critical_hours_p90",
            title="90th percentile time to resolve critical tickets",
            description=(
                "Hours within which 90 % of the critical tickets resolved in the period "
                "were resolved: the tail clients remember."
            ),
            unit="hours",
            polarity=Polarity.LOWER_IS_BETTER,
            clock_hours=True,
        ),
    ),
)
def mttr_critical_hours(ctx: MetricContext, tickets: pl.LazyFrame) -> pl.LazyFrame:
    """Mean, median and p90 of resolution hours of critical tickets, by ``resolved_at``.

    The hours are measured by ``ctx.clock``. The mean carries Σhours and n so it
    re-aggregates; the quantiles (linear interpolation) carry no numerator because
    percentiles do not add up.
    """
    resolved = ctx.clock.with_hours(
        tickets.filter((pl.col("priority") == "critical") & pl.col("resolved_at").is_not_null()),
        "opened_at",
        "resolved_at",
        "_hours",
    )
    hours = pl.col("_hours")
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


@metric(
    name="first_response_hours_p50",
    title="Median time to first response",
    description=(
        "Median hours (elapsed, or business hours with a business calendar) from opening "
        "to the first response, over the tickets opened in the period that have one."
    ),
    unit="hours",
    clock_hours=True,
    polarity=Polarity.LOWER_IS_BETTER,
    inputs=("tickets",),
)
def first_response_hours_p50(ctx: MetricContext, tickets: pl.LazyFrame) -> pl.LazyFrame:
    """Median of ``first_response_at − opened_at`` on ``ctx.clock``, by ``opened_at``.

    Tickets without a first response are left out (not yet answered: no duration). A
    median does not re-aggregate, so the rows carry no numerator or denominator.
    """
    responded = ctx.clock.with_hours(
        tickets.filter(pl.col("first_response_at").is_not_null()),
        "opened_at",
        "first_response_at",
        "_hours",
    )
    return quantile(
        responded,
        metric="first_response_hours_p50",
        at="opened_at",
        grain=ctx.grain,
        x=pl.col("_hours"),
        q=0.5,
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


def _target_hours(hours: Mapping[str, float]) -> pl.Expr:
    """The ticket's target in hours: one vectorised lookup of its priority (null if none)."""
    return pl.col("priority").replace_strict(dict(hours), default=None, return_dtype=pl.Float64)


def due_at(column: str, settings: Mapping[str, Any], kind: str) -> pl.Expr:
    """The elapsed-time due time: ``column`` from the source, else ``opened_at`` + target.

    The fallback is one vectorised lookup of the ticket's priority in the (tiny) table of
    targets, so no Python code runs per ticket. The target is converted to whole
    microseconds, the resolution of the canonical timestamps. Null when neither exists.
    Metrics use :func:`with_due_at`, which measures the target on the run's clock; this
    expression is its wall-clock equivalent.
    """
    hours = target_hours_by_priority(settings, kind)
    if not hours:
        return pl.col(column)
    offset = pl.duration(
        microseconds=(_target_hours(hours) * _MICROSECONDS_PER_HOUR).round().cast(pl.Int64),
        time_unit="us",
    )
    return pl.coalesce(pl.col(column), pl.col("opened_at") + offset)


def with_due_at(
    frame: pl.LazyFrame,
    clock: Clock,
    *,
    column: str,
    settings: Mapping[str, Any],
    kind: str,
    name: str,
) -> pl.LazyFrame:
    """Add column ``name``: ``column`` from the source, else ``opened_at`` + the target.

    The target (``<kind>_hours`` of the ticket's priority) is laid out on ``clock``, so with
    a business calendar a 4-hour target means 4 working hours. Null when neither a source
    due time nor a target exists. A source due time always wins.
    """
    hours = target_hours_by_priority(settings, kind)
    if not hours:
        return frame.with_columns(pl.col(column).alias(name))
    fallback = f"{name}_fallback"
    return (
        clock.with_deadline(frame, "opened_at", _target_hours(hours), fallback)
        .with_columns(pl.coalesce(pl.col(column), pl.col(fallback)).alias(name))
        .drop(fallback)
    )


def _compliance(
    ctx: MetricContext,
    tickets: pl.LazyFrame,
    *,
    metric_name: str,
    done: str,
    due_column: str,
    kind: str,
) -> pl.LazyFrame:
    """Done-by-due ÷ done-with-a-due-time × 100, by ``done``, overall and per request type.

    A ticket with neither a source due time nor a configured target for its priority has
    no promise to keep, so it is left out of numerator and denominator rather than
    counted as a miss.
    """
    eligible = with_due_at(
        tickets.filter(pl.col(done).is_not_null()),
        ctx.clock,
        column=due_column,
        settings=ctx.settings,
        kind=kind,
        name="_due",
    ).filter(pl.col("_due").is_not_null())
    return _with_request_type_segments(
        lambda segment: ratio(
            eligible,
            metric=metric_name,
            at=done,
            grain=ctx.grain,
            hit=pl.col(done) <= pl.col("_due"),
            segment_by=segment,
        )
    )


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

    Emitted unsegmented and per ``request_type``.
    """
    return _compliance(
        ctx,
        tickets,
        metric_name="sla_resolution_compliance_pct",
        done="resolved_at",
        due_column="resolve_due_at",
        kind="resolve",
    )


@metric(
    name="sla_response_compliance_pct",
    title="SLA response compliance",
    description=(
        "Share of the tickets first responded to in the period that got that response by "
        "their response due time (from the source, or opened time plus the configured "
        "target for their priority)."
    ),
    unit="%",
    polarity=Polarity.HIGHER_IS_BETTER,
    inputs=("tickets",),
)
def sla_response_compliance_pct(ctx: MetricContext, tickets: pl.LazyFrame) -> pl.LazyFrame:
    """Responded-on-time ÷ responded-with-a-due-time × 100, by ``first_response_at``.

    The resolution metric with ``first_response_at`` and ``respond_due_at``: a ticket
    counts in the period of its first response. Emitted unsegmented and per
    ``request_type``.
    """
    return _compliance(
        ctx,
        tickets,
        metric_name="sla_response_compliance_pct",
        done="first_response_at",
        due_column="respond_due_at",
        kind="respond",
    )


def _resolved(tickets: pl.LazyFrame) -> pl.LazyFrame:
    return tickets.filter(pl.col("resolved_at").is_not_null())


@metric(
    name="reopen_rate_pct",
    title="Reopen rate",
    description=("Share of the tickets resolved in the period that were reopened at least once."),
    unit="%",
    polarity=Polarity.LOWER_IS_BETTER,
    inputs=("tickets",),
)
def reopen_rate_pct(ctx: MetricContext, tickets: pl.LazyFrame) -> pl.LazyFrame:
    """Resolved with ``reopen_count > 0`` ÷ resolved × 100, by ``resolved_at``.

    Emitted unsegmented and per ``request_type``.
    """
    resolved = _resolved(tickets)
    return _with_request_type_segments(
        lambda segment: ratio(
            resolved,
            metric="reopen_rate_pct",
            at="resolved_at",
            grain=ctx.grain,
            hit=pl.col("reopen_count") > 0,
            segment_by=segment,
        )
    )


@metric(
    name="one_touch_resolution_pct",
    title="One-touch resolution",
    description=(
        "Share of the tickets resolved in the period that the first team resolved without "
        "a hand-off and that stayed resolved (never reassigned, never reopened)."
    ),
    unit="%",
    polarity=Polarity.HIGHER_IS_BETTER,
    inputs=("tickets",),
)
def one_touch_resolution_pct(ctx: MetricContext, tickets: pl.LazyFrame) -> pl.LazyFrame:
    """Resolved with no reassignment and no reopen ÷ resolved × 100, by ``resolved_at``.

    Emitted unsegmented and per ``request_type``.
    """
    resolved = _resolved(tickets)
    return _with_request_type_segments(
        lambda segment: ratio(
            resolved,
            metric="one_touch_resolution_pct",
            at="resolved_at",
            grain=ctx.grain,
            hit=(pl.col("reassignment_count") == 0) & (pl.col("reopen_count") == 0),
            segment_by=segment,
        )
    )


@metric(
    name="reassignments_mean",
    title="Mean reassignments",
    description=(
        "Mean number of hand-offs between teams of the tickets resolved in the period: the "
        "ping-pong clients feel."
    ),
    unit="count",
    polarity=Polarity.LOWER_IS_BETTER,
    inputs=("tickets",),
)
def reassignments_mean(ctx: MetricContext, tickets: pl.LazyFrame) -> pl.LazyFrame:
    """Mean ``reassignment_count`` over resolved tickets, by ``resolved_at``.

    numerator Σ reassignments, denominator resolved tickets, so it re-aggregates.
    """
    return mean(
        _resolved(tickets),
        metric="reassignments_mean",
        at="resolved_at",
        grain=ctx.grain,
        x=pl.col("reassignment_count"),
    )


def _open_at_period_ends(ctx: MetricContext, tickets: pl.LazyFrame) -> pl.LazyFrame:
    """Per client and period: ``_open``, how many tickets are open at the period's end
    (column ``_period``); only periods where some are (``_open`` > 0).

    A period ends at the first instant of the next one (UTC). A ticket is open at that
    instant when it was opened before it and not resolved before it, i.e. at the end of
    every period from the one it was opened in up to the one before the period it was
    resolved in (to the last period of the span when unresolved); a ticket resolved in or
    before the period it was opened in is never open at a period's end.

    The span is clipped to the periods of ``ctx.window``; without a window it runs from
    the first ticket's period to the period of the latest opening or resolution.

    Built from group-bys only, nothing per ticket and period: the tickets are counted per
    client, opening period and resolution period; each such cell adds its count at the
    first period it is open at the end of and takes it off after the last one; a running
    sum of those changes per client gives the count open at every period's end, which
    holds until the client's next change.
    """
    grain = ctx.grain
    cells = tickets.group_by(
        "client_id",
        _opened=period_start("opened_at", grain),
        _resolved=period_start("resolved_at", grain),
    ).agg(_n=pl.len().cast(pl.Int64))
    if ctx.window is not None:
        first_day, last_day = ctx.window
        lo = period_start(pl.lit(first_day, dtype=pl.Date), grain)
        hi = period_start(pl.lit(last_day, dtype=pl.Date), grain)
    else:  # period starts keep the order of instants: the span of the cells is the tickets'
        lo = pl.col("_opened").min()
        hi = pl.max_horizontal(pl.col("_opened").max(), pl.col("_resolved").max())
    before_resolved = shift_period(pl.col("_resolved"), grain, -1)
    last_open = (
        pl.when(pl.col("_resolved").is_null()).then(pl.col("_hi")).otherwise(before_resolved)
    )
    spans = (
        cells.with_columns(_lo=lo, _hi=hi)
        .with_columns(
            _first=pl.max_horizontal(pl.col("_opened"), pl.col("_lo")),
            _last=pl.min_horizontal(last_open, pl.col("_hi")),
        )
        .filter(pl.col("_first") <= pl.col("_last"))
        .cache()  # read twice: for the openings and for the resolutions
    )
    opens = spans.select("client_id", "_hi", _period=pl.col("_first"), _change=pl.col("_n"))
    closes = spans.filter(pl.col("_last") < pl.col("_hi")).select(
        "client_id",
        "_hi",
        _period=shift_period(pl.col("_last"), grain, 1),
        _change=-pl.col("_n"),
    )
    return (
        pl.concat([opens, closes], how="vertical")
        .group_by("client_id", "_period")
        .agg(pl.col("_change").sum(), pl.col("_hi").first())
        .with_columns(
            _open=pl.col("_change").cum_sum().over("client_id", order_by="_period"),
            _until=pl.coalesce(
                shift_period(
                    pl.col("_period").shift(-1).over("client_id", order_by="_period"), grain, -1
                ),
                pl.col("_hi"),
            ),
        )
        .filter(pl.col("_open") > 0)
        .select(
            "client_id", "_open", _period=period_range(pl.col("_period"), pl.col("_until"), grain)
        )
        .explode("_period")
    )


@metric(
    name="backlog_open",
    title="Open backlog",
    description=(
        "Tickets still open at the end of the period: opened before it ended and not "
        "resolved by then."
    ),
    unit="count",
    polarity=Polarity.LOWER_IS_BETTER,
    inputs=("tickets",),
)
def backlog_open(ctx: MetricContext, tickets: pl.LazyFrame) -> pl.LazyFrame:
    """Tickets open at each period's end, for every period of the window.

    A state metric: a ticket opened in January and resolved in April is in the backlog
    of January, February and March. Periods or clients with nothing open emit no row.
    """
    from cxpipe.metrics.aggregate import summarise_additive

    n = pl.col("_n")
    return summarise_additive(
        _open_at_period_ends(ctx, tickets),
        metric="backlog_open",
        at="_period",
        grain=ctx.grain,
        sums={"_n": pl.col("_open").sum()},
        value=n,
        sample_size=n,
    )


TICKET_METRICS: tuple[MetricSpec, ...] = (
    ticket_volume,
    mttr_critical_hours,
    first_response_hours_p50,
    sla_resolution_compliance_pct,
    sla_response_compliance_pct,
    reopen_rate_pct,
    one_touch_resolution_pct,
    reassignments_mean,
    backlog_open,
)
"""This module's metrics, in catalog order (composed into ``CORE_METRICS``)."""
