"""``benchmark``: metric values placed against published figures.

The table ships as ``benchmarks.csv`` next to this module, every row with its source, year,
the publisher's definition and a caveat saying how it differs from cxpipe's metric. A user
table (``[signals].benchmarks``) replaces it entirely; it is validated on load.
"""

from __future__ import annotations

import io
from importlib import resources
from pathlib import Path
from typing import Final

import polars as pl

from cxpipe.analysis import AnalysisContext, signal
from cxpipe.errors import ConfigError
from cxpipe.signals.trend import NEGATIVE, judged, polarity, signal_settings

BENCHMARK_COLUMNS: Final[dict[str, type[pl.DataType]]] = {
    "benchmark": pl.String,
    "metric": pl.String,
    "segment": pl.String,
    "value": pl.Float64,
    "p25": pl.Float64,
    "p50": pl.Float64,
    "p75": pl.Float64,
    "unit": pl.String,
    "year": pl.Int64,
    "source": pl.String,
    "url": pl.String,
    "definition": pl.String,
    "caveat": pl.String,
}
"""Every column a benchmark table may have, with its type."""
REQUIRED_COLUMNS: Final = ("benchmark", "metric", "value", "source")
"""Columns a benchmark table must have; the others may be left out."""
NON_EMPTY: Final = ("benchmark", "value", "source")
"""Columns no row may leave empty (an empty ``metric`` means: shown, not compared)."""
SHIPPED: Final = "benchmarks.csv"


def _fail(name: str, message: str) -> ConfigError:
    return ConfigError(f"benchmark table {name}: {message}")


def _blank_to_null(text: pl.Expr) -> pl.Expr:
    return pl.when(text.str.len_chars() > 0).then(text)


def validate_benchmarks(raw: pl.DataFrame, name: str) -> pl.DataFrame:
    """Check and type a benchmark table read as text; errors name the file, column and line.

    Returns every column of :data:`BENCHMARK_COLUMNS` (the missing optional ones null).
    """
    columns = [c.strip() for c in raw.columns]
    raw = raw.rename(dict(zip(raw.columns, columns, strict=True)))
    expected = ", ".join(BENCHMARK_COLUMNS)
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise _fail(name, f"missing column(s) {', '.join(missing)}; the columns are: {expected}")
    unknown = [c for c in columns if c not in BENCHMARK_COLUMNS]
    if unknown:
        raise _fail(name, f"unknown column(s) {', '.join(unknown)}; the columns are: {expected}")
    text = raw.select(
        (
            _blank_to_null(pl.col(c).cast(pl.String).str.strip_chars())
            if c in columns
            else pl.lit(None, dtype=pl.String)
        ).alias(c)
        for c in BENCHMARK_COLUMNS
    ).with_row_index("_line", offset=2)
    for column in NON_EMPTY:
        empty = text.filter(pl.col(column).is_null())
        if empty.height:
            raise _fail(name, f"column {column!r} is empty on line {empty['_line'][0]}")
    for column, dtype in BENCHMARK_COLUMNS.items():
        if dtype == pl.String:
            continue
        parsed = pl.col(column).cast(dtype, strict=False)
        bad = text.filter(pl.col(column).is_not_null() & (parsed.is_null() | parsed.is_nan()))
        if bad.height:
            kind = "a whole number" if dtype == pl.Int64 else "a number"
            raise _fail(
                name,
                f"column {column!r} on line {bad['_line'][0]}: {bad[column][0]!r} is not {kind}",
            )
    typed = text.with_columns(
        pl.col(c).cast(dtype) for c, dtype in BENCHMARK_COLUMNS.items() if dtype != pl.String
    )
    doubled = (
        typed.filter(pl.col("metric").is_not_null())
        .group_by("metric", "segment")
        .agg(pl.col("_line").sort())
        .filter(pl.col("_line").list.len() > 1)
    )
    if doubled.height:
        row = doubled.row(0, named=True)
        segment = f" (segment {row['segment']})" if row["segment"] else ""
        lines = ", ".join(str(n) for n in row["_line"])
        raise _fail(
            name,
            f"column 'metric': {row['metric']}{segment} has more than one benchmark "
            f"(lines {lines}); keep one per metric and segment",
        )
    return typed.drop("_line")


def load_benchmarks(path: Path | None = None) -> pl.DataFrame:
    """The user's table at ``path``, or the shipped one; validated and typed."""
    if path is None:
        data = resources.files("cxpipe.signals").joinpath(SHIPPED).read_bytes()
        return validate_benchmarks(pl.read_csv(io.BytesIO(data), infer_schema=False), SHIPPED)
    if not path.is_file():
        raise ConfigError(
            f"benchmark table {path} does not exist (set by [signals].benchmarks, relative "
            f"to the config file's folder)"
        )
    try:
        raw = pl.read_csv(path, infer_schema=False)
    except (pl.exceptions.PolarsError, UnicodeDecodeError) as exc:
        raise _fail(str(path), f"cannot be read as UTF-8 CSV with a header row ({exc})") from exc
    return validate_benchmarks(raw, str(path))


def benchmark_path(ctx: AnalysisContext) -> Path | None:
    """The configured user table, resolved against the config's folder; None for the shipped."""
    configured = signal_settings(ctx).benchmarks
    if configured is None:
        return None
    path = Path(configured).expanduser()
    if not path.is_absolute():
        path = Path(str(ctx.settings.get("base_dir", "."))) / path
    return path


@signal(
    name="benchmark",
    description=(
        "Each metric value that has an entry in the benchmark table (shipped with cited "
        "sources, or the user's [signals].benchmarks) against the benchmark's value: per "
        "client and period, and for all clients."
    ),
    column_docs={
        "value": "The metric's value in the period.",
        "reference": "The benchmark's value.",
        "change": "value − reference, in the metric's unit.",
        "score": (
            "Where the benchmark has p25, p50 and p75: the quartile the value falls in "
            "(1 below p25 … 4 at or above p75, by value, not polarity); else null."
        ),
        "lower": "The benchmark's 25th percentile, where published.",
        "upper": "The benchmark's 75th percentile, where published.",
        "direction": "Better (positive) or worse (negative) than the benchmark by polarity.",
        "flagged": "True when the value is worse than the benchmark.",
        "detail": "The benchmark's source and year.",
    },
)
def benchmark(ctx: AnalysisContext) -> pl.LazyFrame:
    """Join the metric values to the benchmark rows on metric and segment (null to null)."""
    table = load_benchmarks(benchmark_path(ctx)).filter(pl.col("metric").is_not_null())
    quartile = (
        pl.when(pl.col("p25").is_null() | pl.col("p50").is_null() | pl.col("p75").is_null())
        .then(None)
        .when(pl.col("value") < pl.col("p25"))
        .then(1.0)
        .when(pl.col("value") < pl.col("p50"))
        .then(2.0)
        .when(pl.col("value") < pl.col("p75"))
        .then(3.0)
        .otherwise(4.0)
    )
    source = (
        pl.when(pl.col("year").is_null())
        .then(pl.col("source"))
        .otherwise(pl.format("{} ({})", "source", "year"))
    )
    references = table.lazy().select(
        "metric",
        "segment",
        "p25",
        "p50",
        "p75",
        reference="value",
        detail=source,
    )
    return (
        ctx.metric_values.select(
            "metric",
            "period_grain",
            "period_start",
            "period_end",
            "client_id",
            "segment",
            "value",
        )
        .filter(pl.col("value").is_not_null() & pl.col("value").is_not_nan())
        .join(references, on=["metric", "segment"], how="inner", nulls_equal=True)
        .with_columns(change=pl.col("value") - pl.col("reference"))
        .with_columns(direction=judged(pl.col("change"), polarity(ctx)))
        .select(
            signal=pl.lit("benchmark"),
            metric="metric",
            period_grain="period_grain",
            period_start="period_start",
            period_end="period_end",
            client_id="client_id",
            segment="segment",
            value="value",
            reference="reference",
            change="change",
            score=quartile,
            lower="p25",
            upper="p75",
            direction="direction",
            flagged=pl.col("direction") == NEGATIVE,
            detail="detail",
        )
    )
