"""Relationship metrics (METRICS.md, "Relationship"): retention and detractor follow-up.

Retention is a state over time rather than a count of events, so it needs a row per
period even when no client event falls in it: the periods come from the run's window
(``ctx.window``), or from the clients' own relationship dates when there is none.
Detractor follow-up is a count of survey responses, assigned to the period they were
submitted in.
"""

from __future__ import annotations

from typing import Final

import polars as pl

from cxpipe.config import MetricSettings
from cxpipe.metrics.aggregate import period_end, period_range, ratio
from cxpipe.metrics.base import MetricContext, MetricSpec, Polarity, metric
from cxpipe.metrics.builtin.surveys import client_responses

_DEFAULT_FOLLOWUP_DAYS: Final[float] = MetricSettings().followup_window_business_days


def periods(ctx: MetricContext, clients: pl.LazyFrame) -> pl.LazyFrame:
    """One row (``period``, ``period_last``) per period of ``ctx.grain`` the window touches.

    Without a window, the span runs from the earliest ``relationship_start`` to the latest
    of any ``relationship_start`` or ``relationship_end``. Built lazily with
    :func:`period_range` on a one-row frame, so nothing is collected.
    """
    if ctx.window is not None:
        first, last = ctx.window
        bounds = pl.LazyFrame(
            {"_lo": [first], "_hi": [last]}, schema={"_lo": pl.Date, "_hi": pl.Date}
        )
    else:
        bounds = clients.select(
            _lo=pl.col("relationship_start").min(),
            _hi=pl.max_horizontal(
                pl.col("relationship_start").max(), pl.col("relationship_end").max()
            ),
        )
    return (
        bounds.select(period=period_range("_lo", "_hi", ctx.grain))
        .explode("period")
        .filter(pl.col("period").is_not_null())
        .with_columns(period_last=period_end(pl.col("period"), ctx.grain))
    )


@metric(
    name="client_retention_rate_pct",
    title="Client retention rate",
    description=(
        "Share of the clients active at the start of the period that are still active at its end."
    ),
    unit="%",
    polarity=Polarity.HIGHER_IS_BETTER,
    inputs=("clients",),
)
def client_retention_rate_pct(ctx: MetricContext, clients: pl.LazyFrame) -> pl.LazyFrame:
    """Retained ÷ active at start × 100, all-clients row only.

    Dates are read as the start of their day. Active at the period's start: the
    relationship started before the period's first day and did not end before it. Still
    active at its end: the relationship has not ended by the end of the period's last day,
    i.e. ``relationship_end`` is null or after ``period_end`` — so a period's retained
    clients are exactly those of its starters that are active at the next period's start.
    A per-client retention would be 0 or 100 and say nothing, hence only the all-clients
    row.
    """
    start, last = pl.col("period"), pl.col("period_last")
    end = pl.col("relationship_end")
    at_start = clients.join(periods(ctx, clients), how="cross").filter(
        (pl.col("relationship_start") < start) & (end.is_null() | (end >= start))
    )
    return ratio(
        at_start,
        metric="client_retention_rate_pct",
        at="period",
        grain=ctx.grain,
        hit=end.is_null() | (end > last),
        per_client=False,
    )


def detractors(survey_responses: pl.LazyFrame) -> pl.LazyFrame:
    """Client responses with ``nps_score ≤ 6`` or ``csat ≤ 2`` (either is enough; a missing
    score is not a detractor score)."""
    unhappy = (pl.col("nps_score") <= 6).fill_null(False) | (pl.col("csat") <= 2).fill_null(False)
    return client_responses(survey_responses).filter(unhappy)


@metric(
    name="detractor_followup_rate_pct",
    title="Detractor follow-up rate",
    description=(
        "Share of detractor client responses (NPS 0–6 or CSAT 1–2) that were followed up "
        "within the configured window of business days after they were submitted."
    ),
    unit="%",
    polarity=Polarity.HIGHER_IS_BETTER,
    inputs=("survey_responses", "followups"),
)
def detractor_followup_rate_pct(
    ctx: MetricContext, survey_responses: pl.LazyFrame, followups: pl.LazyFrame
) -> pl.LazyFrame:
    """Detractors followed up by ``due_by`` ÷ detractors × 100, by ``submitted_at``.

    ``due_by`` is ``followup_window_business_days`` after ``submitted_at`` on the run's
    clock (business days with a business calendar, days × 24 h without). A detractor is
    followed up in time when its earliest follow-up record is at or before ``due_by``; one
    followed up later, or never, is a miss. ``followups`` is a required input: without that
    entity the runner skips the metric instead of reporting every detractor as missed.
    """
    days = float(ctx.setting("followup_window_business_days", _DEFAULT_FOLLOWUP_DAYS))
    due = ctx.clock.with_deadline_days(detractors(survey_responses), "submitted_at", days, "due_by")
    first = followups.group_by("response_id").agg(_first_followup=pl.col("followed_up_at").min())
    return ratio(
        due.join(first, on="response_id", how="left"),
        metric="detractor_followup_rate_pct",
        at="submitted_at",
        grain=ctx.grain,
        hit=(pl.col("_first_followup") <= pl.col("due_by")).fill_null(False),
    )


CLIENT_METRICS: tuple[MetricSpec, ...] = (client_retention_rate_pct, detractor_followup_rate_pct)
"""This module's metrics, in catalog order (composed into ``CORE_METRICS``)."""
