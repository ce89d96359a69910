"""Relationship metrics computed from the ``clients`` entity (METRICS.md, "Relationship").

Retention is a state over time rather than a count of events, so it needs a row per
period even when no client event falls in it: the periods come from the run's window
(``ctx.window``), or from the clients' own relationship dates when there is none.
"""

from __future__ import annotations

import polars as pl

from cxpipe.metrics.aggregate import period_end, period_range, ratio
from cxpipe.metrics.base import MetricContext, Polarity, metric


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
