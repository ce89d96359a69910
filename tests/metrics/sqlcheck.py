"""The machinery the SQL cross-checks share: running both sides and comparing them.

Each ``test_sql_crosscheck*.py`` file keeps its own SQL, written from METRICS.md as an
independent specification; this module only runs that SQL in DuckDB, runs the polars
metrics, and compares the two results row by row on the grain key. Nothing here knows
how a metric is defined.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import date, datetime
from typing import Any

import duckdb
import polars as pl
import pytest

from cxpipe.config import MetricSettings
from cxpipe.metrics.base import GRAINS, Grain, MetricContext, MetricSpec

REL = 1e-9
"""Relative tolerance between the two sides."""
ABS = 1e-12
"""Absolute tolerance, for values near zero (where ``REL`` alone asks for exact equality)."""

KEYS = ["metric", "period_start", "client_id", "segment"]
COMPARED = pl.Schema(
    {
        "metric": pl.String,
        "period_start": pl.Date,
        "client_id": pl.String,
        "segment": pl.String,
        "value": pl.Float64,
        "numerator": pl.Float64,
        "denominator": pl.Float64,
        "sample_size": pl.Int64,
    }
)
"""The columns compared; a SQL query yields them in this order (its names do not matter)."""

DEFAULT_SETTINGS: dict[str, Any] = MetricSettings().model_dump()
CUSTOM_PROXY_WEIGHTS: dict[str, float] = {
    "timeliness": 2.0,
    "communication": 1.5,
    "responsiveness": 1.0,
    "cost_transparency": 0.5,
    "accessibility": 0.0,
}
"""Non-default proxy weights for the custom settings: unequal, and one proxy weighs 0."""

Frames = dict[str, pl.DataFrame]
Check = Callable[[Frames, Grain, dict[str, Any]], None]
"""A file's comparison: ``check(frames, grain, settings)`` fails on any disagreement."""


@pytest.fixture(scope="module")
def demo_frames() -> Frames:
    """The seeded demo data with 20,000 tickets (a test file re-exports it)."""
    from cxpipe.demo.generator import generate

    return dict(generate(7, tickets=20_000).frames())


def agreement_tests(
    check: Check, custom_settings: dict[str, Any]
) -> tuple[Callable[..., None], Callable[..., None]]:
    """The two tests of a cross-check file, to bind under their names there: ``check``
    on the ``demo_frames`` and on the file's ``edge_frames`` fixture, at every grain, with
    the default settings and with ``custom_settings`` (ids ``default``/``custom``)."""
    grains = pytest.mark.parametrize("grain", GRAINS)
    settings_cases = pytest.mark.parametrize(
        "settings", [DEFAULT_SETTINGS, custom_settings], ids=["default", "custom"]
    )

    @grains
    @settings_cases
    def test_demo_data_agrees_with_sql(
        demo_frames: Frames, grain: Grain, settings: dict[str, Any]
    ) -> None:
        check(demo_frames, grain, settings)

    @grains
    @settings_cases
    def test_edge_case_data_agrees_with_sql(
        edge_frames: Frames, grain: Grain, settings: dict[str, Any]
    ) -> None:
        check(edge_frames, grain, settings)

    return test_demo_data_agrees_with_sql, test_edge_case_data_agrees_with_sql


def data_window(
    frames: Mapping[str, pl.DataFrame], columns: Iterable[tuple[str, str]]
) -> tuple[date, date]:
    """First and last day of the (table, column) instants or dates, as a run derives it."""
    days: list[date] = []
    for name, column in columns:
        series = frames[name][column].drop_nulls()
        for value in (series.min(), series.max()):
            if isinstance(value, datetime):
                days.append(value.date())
            elif isinstance(value, date):
                days.append(value)
    return min(days), max(days)


def polars_results(
    specs: Iterable[MetricSpec],
    frames: Mapping[str, pl.DataFrame],
    ctx: MetricContext,
    tables: Iterable[str] | None = None,
) -> pl.DataFrame:
    """Every row the ``specs`` compute from ``tables`` (all ``frames`` by default)."""
    names = frames if tables is None else tables
    lazy = {name: frames[name].lazy() for name in names}
    return pl.concat([spec.compute(ctx, lazy).select(COMPARED.names()) for spec in specs]).collect()


def sql_results(
    frames: Mapping[str, pl.DataFrame],
    query: str,
    grain: Grain,
    tables: Iterable[str] | None = None,
) -> pl.DataFrame:
    """The rows of ``query`` (with ``$grain`` bound) over ``tables`` (all ``frames`` by
    default), each registered under its name, in a UTC session."""
    names = frames if tables is None else tables
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        for name in names:
            con.register(name, frames[name].to_arrow())
        rows = con.execute(query, {"grain": grain}).fetchall()
    finally:
        con.close()
    return pl.DataFrame(rows, schema=COMPARED, orient="row")


def _close(ours: str, theirs: str) -> pl.Expr:
    """Both null, or both set and equal to ``REL`` relative (``ABS`` absolute near 0)."""
    a, b = pl.col(ours), pl.col(theirs)
    tolerance = pl.max_horizontal(REL * b.abs(), pl.lit(ABS))
    both_null = a.is_null() & b.is_null()
    return both_null | (a.is_not_null() & b.is_not_null() & ((a - b).abs() <= tolerance))


def assert_agree(ours: pl.DataFrame, theirs: pl.DataFrame, *, metrics: Collection[str]) -> None:
    """Same grain keys on both sides (nothing on one side only), and the same values,
    numerators and denominators (to ``REL``; a null on one side must be null on the other)
    and sample sizes (exactly); no NaN anywhere; and the metrics seen are ``metrics``.
    Vectorised, so tens of thousands of rows compare in milliseconds."""
    assert ours.schema == COMPARED, f"polars columns {ours.schema}"
    assert ours.select(KEYS).is_unique().all(), "polars produced a grain key twice"
    assert theirs.select(KEYS).is_unique().all(), "SQL produced a grain key twice"
    for side, frame in (("polars", ours), ("SQL", theirs)):
        nan = pl.any_horizontal(pl.col("value", "numerator", "denominator").is_nan().any())
        assert not frame.select(nan).item(), f"{side} produced a NaN"
    joined = ours.with_columns(_in_polars=pl.lit(True)).join(
        theirs.with_columns(_in_sql=pl.lit(True)),
        on=KEYS,
        how="full",
        nulls_equal=True,
        coalesce=True,
        suffix="_sql",
    )
    only_polars = joined.filter(pl.col("_in_sql").is_null()).select(KEYS).head(5).rows()
    only_sql = joined.filter(pl.col("_in_polars").is_null()).select(KEYS).head(5).rows()
    assert not only_polars, f"only polars: {only_polars}"
    assert not only_sql, f"only SQL: {only_sql}"
    agree = (
        _close("value", "value_sql")
        & _close("numerator", "numerator_sql")
        & _close("denominator", "denominator_sql")
        & (pl.col("sample_size") == pl.col("sample_size_sql")).fill_null(False)
    )
    wrong = joined.filter(~agree)
    assert wrong.height == 0, f"{wrong.height} rows disagree, e.g. {wrong.head(5).rows()}"
    seen, expected = set(ours["metric"]), set(metrics)
    assert seen == expected, f"not produced: {expected - seen}; unexpected: {seen - expected}"
