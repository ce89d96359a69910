"""The planted effects of the demo data show up in the signals (docs/demo-data.md).

The demo is computed through the core metrics at month grain, as a run would, then every
core signal runs on the metric values.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import polars as pl
import pytest

from cxpipe.analysis import AnalysisContext
from cxpipe.demo import DEMO_END, DEMO_START, generate
from cxpipe.metrics.base import MetricContext
from cxpipe.metrics.builtin import CORE_METRICS
from cxpipe.signals.anomaly import anomaly
from cxpipe.signals.builtin import CORE_SIGNALS
from cxpipe.signals.process import process_signal
from tests.signals import compute

SPIKE = date(2025, 9, 1)


@pytest.fixture(scope="module")
def demo() -> AnalysisContext:
    frames = {name: frame.lazy() for name, frame in generate(7, tickets=20_000).frames().items()}
    metric_ctx = MetricContext(grain="month", window=(DEMO_START, DEMO_END))
    plans = [
        spec.compute(metric_ctx, frames)
        for spec in CORE_METRICS
        if all(name in frames for name in spec.inputs)
    ]
    metric_values = pl.concat(pl.collect_all(plans))
    return AnalysisContext(
        metric=metric_ctx,
        frames=frames,
        metric_values=metric_values.lazy(),
        catalog={info.name: info for spec in CORE_METRICS for info in spec.emits},
    )


@pytest.fixture(scope="module")
def signals(demo: AnalysisContext) -> dict[str, pl.DataFrame]:
    return {spec.name: compute(spec, demo) for spec in CORE_SIGNALS}


def test_every_signal_has_rows_on_the_demo(signals: dict[str, pl.DataFrame]) -> None:
    for name, frame in signals.items():
        assert frame.height > 0, name
        assert frame.get_column("flagged").any(), name


def test_good_delivery_poor_perception_flags_c07(signals: dict[str, pl.DataFrame]) -> None:
    gap = signals["expectation_gap"]
    lags = pl.col("direction") == "negative"  # flagged, perception below delivery
    per_client = gap.group_by("client_id").agg(
        periods=pl.len(),
        flagged=pl.col("flagged").sum(),
        lags=lags.sum(),
        negative=(pl.col("change") < 0).sum(),
    )
    c07 = per_client.filter(pl.col("client_id") == "C07").row(0, named=True)
    assert c07["flagged"] >= 0.75 * c07["periods"]
    assert c07["lags"] == c07["flagged"]
    assert c07["periods"] >= 20
    assert c07["negative"] == c07["periods"]  # perception always below delivery
    others = per_client.filter(pl.col("client_id") != "C07")
    worst = others.select((pl.col("lags") / pl.col("periods")).max()).item()
    assert worst < 0.3  # nobody else lags for long


def test_critical_spike_shows_in_the_critical_ticket_count(demo: AnalysisContext) -> None:
    """The spike raises how many critical tickets there are, not how long they take.

    Critical volume is not a metric of its own; it is ``mttr_critical_hours``'s
    ``sample_size`` (critical tickets resolved in the month), so the anomaly and XmR signals
    are run on that series.
    """
    critical = demo.metric_values.filter(pl.col("metric") == "mttr_critical_hours").with_columns(
        metric=pl.lit("critical_tickets_resolved"), value=pl.col("sample_size").cast(pl.Float64)
    )
    ctx = replace(demo, metric_values=critical)
    everyone = pl.col("client_id").is_null()
    flagged = compute(anomaly, ctx).filter("flagged")
    assert flagged.filter(everyone)["period_start"].to_list().count(SPIKE) == 1
    by_month = flagged.group_by("period_start").len().sort("len", descending=True)
    assert by_month["period_start"][0] == SPIKE  # the month with the most anomalies
    charted = compute(process_signal, ctx)
    outside = charted.filter(pl.col("detail").str.contains("outside the limits"))
    assert outside.filter(everyone)["period_start"].to_list() == [SPIKE]
    assert outside.filter(pl.col("period_start") == SPIKE).height >= 5  # most big clients


def test_critical_spike_in_resolution_times_per_client(signals: dict[str, pl.DataFrame]) -> None:
    """Per client, the month's extra critical tickets also stretch resolution times."""
    mttr = signals["anomaly"].filter(
        pl.col("metric").str.starts_with("mttr_critical_hours")
        & (pl.col("period_start") == SPIKE)
        & pl.col("flagged")
    )
    assert mttr["client_id"].n_unique() >= 3
    assert set(mttr["direction"]) == {"negative"}


def test_hotspots_and_benchmarks_cover_the_catalog(signals: dict[str, pl.DataFrame]) -> None:
    hot = signals["hotspot"]
    assert set(hot["metric"]) == {"csat_pct", "nps", "client_experience_rating"}
    attributes = set(hot["segment"].str.split("=").list.first())
    assert attributes == {"assignment_group", "category", "channel", "priority", "request_type"}
    bench = signals["benchmark"]
    assert set(bench["metric"]) == {
        "nps",
        "one_touch_resolution_pct",
        "success_criteria_rate_pct",
        "projects_on_budget_pct",
    }


def test_every_signal_is_repeatable_to_the_bit(
    demo: AnalysisContext, signals: dict[str, pl.DataFrame]
) -> None:
    """Computed again on the same values, every signal gives the same rows, exactly: a
    float sum added in thread order (or a tie ranked by it) would differ between runs,
    and then between a run and its partitioned twin (docs/distributed.md)."""
    for _ in range(3):
        for spec in CORE_SIGNALS:
            again = compute(spec, demo)
            key = [c for c in again.columns if again.schema[c] != pl.Float64]
            assert again.sort(key).equals(signals[spec.name].sort(key)), spec.name
