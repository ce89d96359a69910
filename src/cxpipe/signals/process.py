"""``process_signal``: an XmR (process-behaviour) chart per series, with its signals."""

from __future__ import annotations

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

LIMIT_FACTOR: Final = 2.66
"""Natural process limits: mean ± 2.66 × mean moving range (3 / d2, d2 = 1.128)."""
D2: Final = 1.128
"""Bias constant of the moving range of two points: σ ≈ mean moving range / 1.128."""


@signal(
    name="process_signal",
    description=(
        "XmR chart per series with at least [signals].process_min_periods periods: centre "
        "line = mean, natural process limits = mean ± 2.66 × mean moving range; a signal "
        "for a point outside the limits or in a run of process_run_length or more points "
        "on one side of the centre line. Every point is emitted with the limits."
    ),
    column_docs={
        "value": "The metric's value in the period.",
        "reference": "Centre line: the mean of the series over all its periods.",
        "change": "value − centre line.",
        "score": "(value − centre) / (mean moving range / 1.128): distance in sigma units; "
        "the limits sit at ±3. Null when the mean moving range is 0.",
        "lower": "Lower natural process limit: centre − 2.66 × mean moving range.",
        "upper": "Upper natural process limit: centre + 2.66 × mean moving range.",
        "direction": "For a flagged point, positive / negative by polarity; else neutral.",
        "flagged": "True for a point outside the limits or in a long run on one side.",
        "detail": "Which rule(s) fired: outside the limits, and/or the run and its length.",
    },
)
def process_signal(ctx: AnalysisContext) -> pl.LazyFrame:
    """Limits from the whole series (its observed points in period order); vectorised with
    window expressions over the series key, no loop over series or rows."""
    settings = signal_settings(ctx)
    keys = list(SERIES_KEYS)
    value = pl.col("value")
    moving_range = (value - value.shift(1)).abs().over(keys, order_by="_p")
    charted = (
        series_points(ctx)
        .with_columns(_n=pl.len().over(keys), _mr=moving_range)
        .filter(pl.col("_n") >= settings.process_min_periods)
        .with_columns(
            # exact means: limits must not depend on the order threads add the values in
            reference=exact_mean(value).over(keys),
            _mmr=exact_mean(pl.col("_mr")).over(keys),
        )
        .with_columns(
            change=value - pl.col("reference"),
            lower=pl.col("reference") - LIMIT_FACTOR * pl.col("_mmr"),
            upper=pl.col("reference") + LIMIT_FACTOR * pl.col("_mmr"),
        )
        .with_columns(_side=pl.col("change").sign())
        .with_columns(_run=pl.col("_side").rle_id().over(keys, order_by="_p"))
        .with_columns(_run_length=pl.len().over([*keys, "_run"]))
    )
    outside = (value > pl.col("upper")) | (value < pl.col("lower"))
    in_run = (pl.col("_side") != 0) & (pl.col("_run_length") >= settings.process_run_length)
    side = pl.when(pl.col("_side") > 0).then(pl.lit("above")).otherwise(pl.lit("below"))
    rules = pl.concat_str(
        pl.when(outside).then(pl.format("outside the limits ({} centre)", side)),
        pl.when(in_run).then(pl.format("run of {} {} centre", pl.col("_run_length"), side)),
        separator="; ",
        ignore_nulls=True,
    )
    return charted.with_columns(flagged=outside | in_run).select(
        pl.lit("process_signal").alias("signal"),
        *SERIES_KEYS,
        "period_start",
        "period_end",
        "value",
        "reference",
        "change",
        score=pl.when(pl.col("_mmr") > 0).then(pl.col("change") / (pl.col("_mmr") / D2)),
        lower="lower",
        upper="upper",
        direction=pl.when("flagged")
        .then(judged(pl.col("change"), polarity(ctx)))
        .otherwise(pl.lit(NEUTRAL)),
        flagged="flagged",
        detail=pl.when("flagged").then(rules),
    )
