"""``trend``: each metric series' change against the previous period, judged with polarity.

This module also holds what every series signal shares (the series key, the period index,
the settings and the polarity of a metric), because a trend is the simplest of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from statistics import NormalDist
from typing import Final

import polars as pl

from cxpipe.analysis import AnalysisContext, signal
from cxpipe.metrics.base import MetricInfo, Polarity
from cxpipe.signals.settings import SignalSettings

SERIES_KEYS: Final = ("metric", "period_grain", "client_id", "segment")
"""What makes a series: one metric, for one client (or all, null) and one segment (or none)."""

NEUTRAL: Final = "neutral"
POSITIVE: Final = "positive"
NEGATIVE: Final = "negative"


def signal_settings(ctx: AnalysisContext) -> SignalSettings:
    """The ``[signals]`` settings, validated, with the defaults for anything not set."""
    return SignalSettings.model_validate(dict(ctx.section("signals")))


def catalog_lookup(catalog: Mapping[str, MetricInfo], attribute: str, default: str) -> pl.Expr:
    """A per-row lookup of a catalog attribute (``unit``, ``polarity``) by ``metric``.

    A metric missing from the catalog gets ``default``.
    """
    mapping = {name: str(getattr(info, attribute)) for name, info in catalog.items()}
    if not mapping:
        return pl.lit(default, dtype=pl.String)
    return pl.col("metric").replace_strict(mapping, default=default, return_dtype=pl.String)


def polarity(ctx: AnalysisContext) -> pl.Expr:
    """Each row's metric polarity; a metric unknown to the catalog is neutral."""
    return catalog_lookup(ctx.catalog, "polarity", str(Polarity.NEUTRAL))


def judged(movement: pl.Expr, polarity_of: pl.Expr) -> pl.Expr:
    """``positive`` / ``negative`` / ``neutral`` for a signed movement, given the polarity.

    A rise is positive for a higher-is-better metric and negative for a lower-is-better one;
    no movement, or a metric of neutral polarity, is neutral.
    """
    good = (
        pl.when(polarity_of == str(Polarity.HIGHER_IS_BETTER))
        .then(movement.sign())
        .when(polarity_of == str(Polarity.LOWER_IS_BETTER))
        .then(-movement.sign())
        .otherwise(0.0)
    )
    return (
        pl.when(good > 0)
        .then(pl.lit(POSITIVE))
        .when(good < 0)
        .then(pl.lit(NEGATIVE))
        .otherwise(pl.lit(NEUTRAL))
    )


def period_index(grain: pl.Expr | None = None, start: pl.Expr | None = None) -> pl.Expr:
    """A consecutive integer per period of the grain, so "previous period" is index − 1.

    Months count ``year·12 + month``, quarters ``year·4 + quarter``, years the year, weeks
    (starting on Monday) the days since 1970-01-01 divided by 7.
    """
    grain = pl.col("period_grain") if grain is None else grain
    start = pl.col("period_start") if start is None else start
    year = start.dt.year().cast(pl.Int64)
    month0 = start.dt.month().cast(pl.Int64) - 1
    return (
        pl.when(grain == "month")
        .then(year * 12 + month0)
        .when(grain == "quarter")
        .then(year * 4 + month0 // 3)
        .when(grain == "year")
        .then(year)
        .when(grain == "week")
        .then(start.cast(pl.Int64) // 7)
        .cast(pl.Int64)
    )


def series_points(ctx: AnalysisContext) -> pl.LazyFrame:
    """The metric values as series points: keys, period, value and the period index ``_p``.

    Rows without a value, or of a grain the period index does not know, are left out.
    """
    return ctx.metric_values.select(
        *SERIES_KEYS,
        "period_start",
        "period_end",
        "value",
        "numerator",
        "denominator",
        _p=period_index(),
    ).filter(
        pl.col("value").is_not_null() & pl.col("value").is_not_nan() & pl.col("_p").is_not_null()
    )


def _is_proportion(unit: pl.Expr, numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
    """A "%" value with counts behind it: 0 ≤ numerator ≤ denominator, denominator > 0."""
    return (
        (unit == "%")
        & (denominator > 0)
        & (numerator >= 0)
        & (numerator <= denominator)
        & numerator.is_not_null()
    )


def two_proportion_z(n1: pl.Expr, d1: pl.Expr, n2: pl.Expr, d2: pl.Expr) -> pl.Expr:
    """Pooled two-proportion z of ``n2/d2`` against ``n1/d1``; null when the pooled share is
    0 or 1 (no variance: both shares are equal, nothing to test)."""
    pooled = (n1 + n2) / (d1 + d2)
    se = (pooled * (1.0 - pooled) * (1.0 / d1 + 1.0 / d2)).sqrt()
    return pl.when(se > 0).then((n2 / d2 - n1 / d1) / se)


@signal(
    name="trend",
    description=(
        "Each metric series' change against the immediately preceding period, with a "
        "direction judged by the metric's polarity; neutral when the change is within "
        "[signals].trend_band or, for proportions, not significant by a pooled "
        "two-proportion z-test at 1 − trend_alpha."
    ),
    column_docs={
        "value": "The metric's value in the period.",
        "reference": "The same series' value in the immediately preceding period.",
        "change": "value − reference, in the metric's unit (percentage points for %).",
        "score": (
            "For proportions (unit %, with numerator and denominator in both periods): the "
            "pooled two-proportion z statistic; null otherwise."
        ),
        "direction": (
            "positive / negative by the metric's polarity; neutral when the change is "
            "within the band, not significant, zero, or the metric has neutral polarity."
        ),
        "flagged": "True for a negative trend.",
        "detail": "Why a trend is neutral (band, not significant, neutral polarity); else null.",
    },
)
def trend(ctx: AnalysisContext) -> pl.LazyFrame:
    """Change vs the previous period per series; a gap in the series yields no row."""
    settings = signal_settings(ctx)
    z_critical = NormalDist().inv_cdf(1.0 - settings.trend_alpha / 2.0)
    confidence = round((1.0 - settings.trend_alpha) * 100.0, 4)
    keys = list(SERIES_KEYS)
    previous = {
        f"_prev_{c}": pl.col(c).shift(1).over(keys, order_by="_p")
        for c in ("_p", "value", "numerator", "denominator")
    }
    rows = (
        series_points(ctx)
        .with_columns(**previous)
        .filter(pl.col("_prev__p") == pl.col("_p") - 1)
        .with_columns(
            _polarity=polarity(ctx),
            _unit=catalog_lookup(ctx.catalog, "unit", ""),
            reference=pl.col("_prev_value"),
            change=pl.col("value") - pl.col("_prev_value"),
        )
    )
    tested = _is_proportion(pl.col("_unit"), pl.col("numerator"), pl.col("denominator")) & (
        _is_proportion(pl.col("_unit"), pl.col("_prev_numerator"), pl.col("_prev_denominator"))
    )
    z = pl.when(tested).then(
        two_proportion_z(
            pl.col("_prev_numerator"),
            pl.col("_prev_denominator"),
            pl.col("numerator"),
            pl.col("denominator"),
        )
    )
    rows = rows.with_columns(score=z, _tested=tested)
    reason = (
        pl.when(pl.col("_polarity") == str(Polarity.NEUTRAL))
        .then(pl.lit("metric has neutral polarity"))
        .when(pl.col("change").abs() <= settings.trend_band)
        .then(pl.lit(f"change within trend_band ±{settings.trend_band:g}"))
        .when(pl.col("_tested") & ~(pl.col("score").abs() > z_critical).fill_null(False))
        .then(pl.lit(f"not significant at {confidence:g} % (two-proportion z-test)"))
    )
    return (
        rows.with_columns(detail=reason)
        .with_columns(
            direction=pl.when(pl.col("detail").is_null())
            .then(judged(pl.col("change"), pl.col("_polarity")))
            .otherwise(pl.lit(NEUTRAL))
        )
        .select(
            pl.lit("trend").alias("signal"),
            *SERIES_KEYS,
            "period_start",
            "period_end",
            "value",
            "reference",
            "change",
            "score",
            "direction",
            flagged=pl.col("direction") == NEGATIVE,
            detail="detail",
        )
    )
