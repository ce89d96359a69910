"""Helpers for the signal tests: metric values in the run's shape, a context, a runner.

Every signal is run through :func:`compute`, which also checks the plugin's raw output:
only columns of the signals schema, in types that cast losslessly, and the required
columns never null.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from cxpipe.analysis import SIGNAL_RESULT, AnalysisContext, SignalSpec, conform_to
from cxpipe.metrics.base import Grain, MetricContext, MetricInfo, Polarity
from cxpipe.schemas import METRIC_VALUES, SIGNALS


def _schema_of(table: Any) -> pl.Schema:
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame.schema


MV_SCHEMA: pl.Schema = _schema_of(METRIC_VALUES.empty_table())
REQUIRED = [f.name for f in SIGNALS if not f.nullable and f.name in SIGNAL_RESULT]


def info(name: str, unit: str = "count", polarity: str = "higher_is_better") -> MetricInfo:
    return MetricInfo(name, name, name, unit, Polarity(polarity))


def catalog(*infos: MetricInfo) -> dict[str, MetricInfo]:
    return {i.name: i for i in infos}


def month(index: int, first: date = date(2025, 1, 1)) -> date:
    """The first day of the month ``index`` months after ``first``."""
    months = first.year * 12 + first.month - 1 + index
    return date(months // 12, months % 12 + 1, 1)


def values(rows: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    """Metric values in the ``metric_values`` schema; rows name only what matters.

    Defaults: grain month, period_end = period_start (the signals do not read it), no
    client or segment, sample_size 1, unit "", run columns filled.
    """
    filled = [
        {
            "period_grain": "month",
            "client_id": None,
            "segment": None,
            "numerator": None,
            "denominator": None,
            "sample_size": 1,
            "unit": "",
            "run_id": "test",
            "computed_at": None,
            **row,
            "period_end": row.get("period_end", row["period_start"]),
        }
        for row in rows
    ]
    if not filled:
        return pl.DataFrame(schema=MV_SCHEMA)
    return pl.DataFrame(filled, schema=MV_SCHEMA)


def series(
    metric: str,
    points: Sequence[float | None],
    *,
    client_id: str | None = None,
    segment: str | None = None,
    first: date = date(2025, 1, 1),
) -> list[dict[str, Any]]:
    """Monthly rows of one series from ``first``; a None point is a month with no row."""
    return [
        {
            "metric": metric,
            "period_start": month(i, first),
            "client_id": client_id,
            "segment": segment,
            "value": v,
        }
        for i, v in enumerate(points)
        if v is not None
    ]


def context(
    metric_values: pl.DataFrame,
    *,
    metrics: Mapping[str, MetricInfo] | None = None,
    signals: Mapping[str, Any] | None = None,
    frames: Mapping[str, pl.DataFrame] | None = None,
    base_dir: Path | None = None,
    grain: Grain = "month",
    metric_settings: Mapping[str, Any] | None = None,
) -> AnalysisContext:
    settings: dict[str, Any] = {"signals": dict(signals or {})}
    if base_dir is not None:
        settings["base_dir"] = str(base_dir)
    return AnalysisContext(
        metric=MetricContext(grain=grain, settings=dict(metric_settings or {})),
        frames={name: frame.lazy() for name, frame in (frames or {}).items()},
        metric_values=metric_values.lazy(),
        catalog=dict(metrics or {}),
        settings=settings,
    )


def compute(spec: SignalSpec, ctx: AnalysisContext) -> pl.DataFrame:
    """Run a signal as the runner does and check its raw output against the schema."""
    raw = spec.function(ctx)
    names = raw.collect_schema().names()
    unknown = set(names) - set(SIGNAL_RESULT.names())
    assert not unknown, f"{spec.name} returns columns outside the signals schema: {unknown}"
    out = conform_to(raw, SIGNAL_RESULT).collect()
    assert out.schema == SIGNAL_RESULT
    assert set(out.get_column("signal").unique().to_list()) <= {spec.name}
    for column in REQUIRED:
        assert out.get_column(column).null_count() == 0, f"{spec.name}: null {column}"
    for column in ("value", "reference", "change", "score", "lower", "upper"):
        assert not out.get_column(column).is_nan().any(), f"{spec.name}: NaN in {column}"
    return out


def one(frame: pl.DataFrame, **where: Any) -> dict[str, Any]:
    """The single row of ``frame`` matching ``where`` (None matches null)."""
    condition = pl.lit(True)
    for column, wanted in where.items():
        condition &= (
            pl.col(column).is_null() if wanted is None else (pl.col(column) == pl.lit(wanted))
        )
    rows = frame.filter(condition)
    assert rows.height == 1, f"{rows.height} rows match {where}"
    return rows.row(0, named=True)
