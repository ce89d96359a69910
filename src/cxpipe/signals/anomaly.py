"""``anomaly``: a value far from its series' recent past, by a robust (median/MAD) z-score."""

from __future__ import annotations

import math
from typing import Final

import polars as pl

from cxpipe.analysis import AnalysisContext, signal
from cxpipe.metrics.aggregate import exact_mean
from cxpipe.signals.trend import (
    NEUTRAL,
    SERIES_KEYS,
    judged,
    polarity,
    series_points,
    signal_settings,
)

MAD_FACTOR: Final = 0.6745
"""z = 0.6745·(x − median)/MAD: the MAD of a normal distribution is 0.6745 σ."""
MEAN_AD_FACTOR: Final = 1.253314
"""√(π/2): σ over the mean absolute deviation of a normal distribution (the MAD = 0 fallback)."""


def min_history(window: int) -> int:
    """Trailing observations a point needs to be scored: half the window, at least 3."""
    return max(3, math.ceil(window / 2))


def trailing_stats(points: pl.LazyFrame, window: int) -> pl.LazyFrame:
    """Per series point (keys, ``_p``): median, MAD and mean absolute deviation of the values
    in the ``window`` periods before it (index ``_p − window`` … ``_p − 1``), and how many.

    A rolling group-by over the period index: each window is aggregated on its own, so the
    absolute deviations are taken from that window's own median, and a gap in the series
    simply leaves fewer observations in the window.
    """
    value = pl.col("value")
    deviation = (value - value.median()).abs()
    return (
        points.sort(*SERIES_KEYS, "_p")
        .rolling("_p", period=f"{window}i", offset=f"-{window + 1}i", group_by=SERIES_KEYS)
        .agg(
            _n=pl.len().cast(pl.Int64),
            _median=value.median(),
            _mad=deviation.median(),
            _mean_ad=exact_mean(deviation),
        )
    )


@signal(
    name="anomaly",
    description=(
        "A value whose robust z-score, 0.6745·(x − median)/MAD against the series' trailing "
        "[signals].anomaly_window periods (the current one excluded), exceeds "
        "anomaly_threshold in absolute value."
    ),
    column_docs={
        "value": "The metric's value in the period.",
        "reference": "Median of the series over the trailing window (current period excluded).",
        "change": "value − reference.",
        "score": (
            "Robust z-score 0.6745·(value − median)/MAD; when the MAD is 0, "
            "(value − median)/(1.253314·mean absolute deviation); null when the window is "
            "constant."
        ),
        "lower": "Lowest value that is not an anomaly (median − threshold·MAD/0.6745).",
        "upper": "Highest value that is not an anomaly (median + threshold·MAD/0.6745).",
        "direction": "For a flagged point, positive / negative by polarity; else neutral.",
        "flagged": "True when |score| > anomaly_threshold (or the value leaves a constant window).",
        "detail": "How many trailing periods the score used, and any fallback taken.",
    },
)
def anomaly(ctx: AnalysisContext) -> pl.LazyFrame:
    """Score every point with at least :func:`min_history` observations in its window."""
    settings = signal_settings(ctx)
    window, threshold = settings.anomaly_window, settings.anomaly_threshold
    points = series_points(ctx)
    scored = points.join(
        trailing_stats(points, window), on=[*SERIES_KEYS, "_p"], how="inner", nulls_equal=True
    ).filter(pl.col("_n") >= min_history(window))
    scale = (
        pl.when(pl.col("_mad") > 0)
        .then(pl.col("_mad") / MAD_FACTOR)
        .when(pl.col("_mean_ad") > 0)
        .then(pl.col("_mean_ad") * MEAN_AD_FACTOR)
    )
    scored = scored.with_columns(_scale=scale, change=pl.col("value") - pl.col("_median"))
    flagged = (
        pl.when(pl.col("_scale").is_null())
        .then(pl.col("change") != 0)
        .otherwise(pl.col("score").abs() > threshold)
    )
    fallback = (
        pl.when(pl.col("_mad") > 0)
        .then(pl.lit(""))
        .when(pl.col("_mean_ad") > 0)
        .then(pl.lit("; MAD is 0, mean absolute deviation used"))
        .otherwise(pl.lit("; constant window, any change is an anomaly"))
    )
    band = threshold * pl.col("_scale").fill_null(0.0)
    return (
        scored.with_columns(score=pl.col("change") / pl.col("_scale"))
        .with_columns(flagged=flagged)
        .select(
            pl.lit("anomaly").alias("signal"),
            *SERIES_KEYS,
            "period_start",
            "period_end",
            "value",
            reference="_median",
            change="change",
            score="score",
            lower=pl.col("_median") - band,
            upper=pl.col("_median") + band,
            direction=pl.when("flagged")
            .then(judged(pl.col("change"), polarity(ctx)))
            .otherwise(pl.lit(NEUTRAL)),
            flagged="flagged",
            detail=pl.format("{} trailing periods{}", pl.col("_n"), fallback),
        )
    )
