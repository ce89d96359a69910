"""``expectation_gap``: clients whose perception and delivery record disagree."""

from __future__ import annotations

from typing import Final

import polars as pl

from cxpipe.analysis import AnalysisContext, signal
from cxpipe.metrics.aggregate import exact_mean
from cxpipe.signals.trend import NEGATIVE, NEUTRAL, POSITIVE, signal_settings

SATISFACTION: Final = "client_experience_rating"
DELIVERY: Final = (
    "projects_on_time_pct",
    "sla_resolution_compliance_pct",
    "commitment_kept_ratio",
)
MIN_CLIENTS: Final = 3
"""A metric is standardised in a period only when at least this many clients have a value."""


def standardised(metric_values: pl.LazyFrame, metrics: tuple[str, ...]) -> pl.LazyFrame:
    """Per-client values of ``metrics`` (all-segments rows) with ``_z``, the z-score across
    the clients that have the metric in the same period (population standard deviation).

    ``_z`` is null when fewer than :data:`MIN_CLIENTS` clients have a value or they all have
    the same one.
    """
    group = ["metric", "period_grain", "period_start"]
    value = pl.col("value")
    # exact means (population standard deviation in two passes): a z-score must not depend
    # on the order threads add the values in
    deviation = value - pl.col("_mean")
    return (
        metric_values.filter(
            pl.col("client_id").is_not_null()
            & pl.col("segment").is_null()
            & pl.col("metric").is_in(metrics)
            & value.is_not_null()
            & value.is_not_nan()
        )
        .select("metric", "period_grain", "period_start", "period_end", "client_id", "value")
        .with_columns(_mean=exact_mean(value).over(group))
        .with_columns(_spread=exact_mean(deviation * deviation).over(group).sqrt())
        .with_columns(
            _z=pl.when((pl.len().over(group) >= MIN_CLIENTS) & (pl.col("_spread") > 0)).then(
                deviation / pl.col("_spread")
            )
        )
        .drop("_mean", "_spread")
    )


@signal(
    name="expectation_gap",
    description=(
        "Per client and period: standardised satisfaction (client_experience_rating) minus "
        "standardised delivery (the mean of the standardised projects_on_time_pct, "
        "sla_resolution_compliance_pct and commitment_kept_ratio the client has), each "
        "standardised across clients in the period; flagged when |gap| > "
        "[signals].expectation_gap_threshold."
    ),
    column_docs={
        "metric": "Always client_experience_rating (the satisfaction side of the gap).",
        "value": "Standardised satisfaction: z of the client's client_experience_rating.",
        "reference": "Standardised delivery: mean z of the delivery measures it has.",
        "change": "The gap: value − reference (perception minus delivery, in z units).",
        "score": "The gap again (what the threshold is compared with).",
        "lower": "−expectation_gap_threshold.",
        "upper": "+expectation_gap_threshold.",
        "direction": (
            "negative when perception lags delivery beyond the threshold, positive when it "
            "runs ahead of it, neutral within the threshold."
        ),
        "flagged": "True when |gap| > expectation_gap_threshold.",
        "detail": "The delivery measures used and how many clients were standardised.",
    },
)
def expectation_gap(ctx: AnalysisContext) -> pl.LazyFrame:
    """One row per client and period with both a standardised satisfaction and at least one
    standardised delivery measure."""
    threshold = signal_settings(ctx).expectation_gap_threshold
    z = standardised(ctx.metric_values, (SATISFACTION, *DELIVERY)).filter(
        pl.col("_z").is_not_null()
    )
    is_delivery = pl.col("metric").is_in(DELIVERY)
    sat = pl.col("metric") == SATISFACTION
    clients = pl.len().over("metric", "period_grain", "period_start")
    gaps = (
        z.with_columns(_clients=clients)
        .group_by("period_grain", "period_start", "client_id")
        .agg(
            period_end=pl.col("period_end").first(),
            value=pl.col("_z").filter(sat).first(),
            reference=exact_mean(pl.col("_z").filter(is_delivery)),
            _measures=pl.col("metric").filter(is_delivery).sort().str.join(", "),
            _clients=pl.col("_clients").filter(sat).first(),
        )
        .filter(pl.col("value").is_not_null() & pl.col("reference").is_not_null())
        .with_columns(change=pl.col("value") - pl.col("reference"))
    )
    gap = pl.col("change")
    return gaps.select(
        signal=pl.lit("expectation_gap"),
        metric=pl.lit(SATISFACTION),
        period_grain="period_grain",
        period_start="period_start",
        period_end="period_end",
        client_id="client_id",
        segment=pl.lit(None, dtype=pl.String),
        value="value",
        reference="reference",
        change=gap,
        score=gap,
        lower=pl.lit(-threshold),
        upper=pl.lit(threshold),
        direction=pl.when(gap < -threshold)
        .then(pl.lit(NEGATIVE))
        .when(gap > threshold)
        .then(pl.lit(POSITIVE))
        .otherwise(pl.lit(NEUTRAL)),
        flagged=gap.abs() > threshold,
        detail=pl.format(
            "delivery: {}; {} clients standardised", pl.col("_measures"), pl.col("_clients")
        ),
    )
