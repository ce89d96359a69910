"""The rules every core metric keeps, checked for each one at every grain.

Output shape, unique grain keys, determinism, empty input, laziness (no collect while the
plan is built), no NaN, catalog entries, and re-aggregation of numerators: the all-clients
row is the sum of the per-client rows, which is what lets BI tools re-aggregate.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from cxpipe.metrics.aggregate import RESULT_SCHEMA, period_end
from cxpipe.metrics.base import GRAINS, Grain, MetricContext, MetricSpec, Polarity
from cxpipe.metrics.builtin import CORE_METRICS
from cxpipe.registry import Registry
from cxpipe.schemas import ENTITIES

from .fixtures import random_frames

FRAMES = random_frames(7)
WINDOW = (date(2023, 1, 1), date(2024, 12, 31))
UNITS = {"count", "hours", "%", "0-100", "nps", "ratio", "1-5", "1-7", "points"}
EXPECTED_NAMES = {
    "ticket_volume",
    "mttr_critical_hours",
    "mttr_critical_hours_p50",
    "mttr_critical_hours_p90",
    "sla_resolution_compliance_pct",
    "csat_pct",
    "nps",
    "nps_moe",
    "client_experience_rating",
    "cx_timeliness",
    "cx_communication",
    "cx_responsiveness",
    "cx_cost_transparency",
    "cx_accessibility",
    "projects_on_time_pct",
    "client_retention_rate_pct",
    "first_response_hours_p50",
    "sla_response_compliance_pct",
    "reopen_rate_pct",
    "one_touch_resolution_pct",
    "reassignments_mean",
    "backlog_open",
    "projects_on_budget_pct",
    "commitment_kept_ratio",
    "success_criteria_rate_pct",
    "csat_mean",
    "ces_mean",
    "service_relevance",
    "survey_response_rate_pct",
    "horizon_satisfaction",
    "weakest_horizon_score",
    "horizon_coverage",
    "perception_gap",
    "lost_time_hours",
    "lost_time_hours_mean",
    "proxy_priority",
    "detractor_followup_rate_pct",
    "theme_mentions",
    "theme_share_pct",
}
SPECS = pytest.mark.parametrize("spec", CORE_METRICS, ids=lambda s: s.name)
ALL_GRAINS = pytest.mark.parametrize("grain", GRAINS)


def compute(
    spec: MetricSpec, frames: dict[str, pl.DataFrame], grain: Grain = "month"
) -> pl.LazyFrame:
    ctx = MetricContext(grain=grain, window=WINDOW)
    return spec.compute(ctx, {name: frame.lazy() for name, frame in frames.items()})


def test_catalog_names_are_the_contract_names() -> None:
    names = [name for spec in CORE_METRICS for name in spec.metric_names]
    assert len(names) == len(set(names))
    assert set(names) == EXPECTED_NAMES


def test_every_metric_registers() -> None:
    registry = Registry()
    for spec in CORE_METRICS:
        registry.add_metric(spec)
    assert set(registry.metrics) == {spec.name for spec in CORE_METRICS}


@SPECS
def test_catalog_entries_are_complete(spec: MetricSpec) -> None:
    assert set(spec.inputs) <= set(ENTITIES)
    for info in spec.emits:
        assert info.title
        assert info.description.endswith(".")
        assert info.unit in UNITS
        assert isinstance(info.polarity, Polarity)


@SPECS
@ALL_GRAINS
def test_output_shape_keys_and_values(spec: MetricSpec, grain: Grain) -> None:
    lazy = compute(spec, FRAMES, grain)
    assert isinstance(lazy, pl.LazyFrame)
    assert lazy.collect_schema() == RESULT_SCHEMA
    result = lazy.collect()
    assert result.schema == RESULT_SCHEMA
    assert result.height > 0
    keys = result.select("metric", "period_start", "client_id", "segment")
    assert keys.is_unique().all(), "grain keys must be unique"
    assert set(result["metric"].unique()) <= set(spec.metric_names)
    assert set(result["period_grain"].unique()) == {grain}
    assert result["value"].null_count() == 0
    assert not result["value"].is_nan().any()
    assert (result["sample_size"] > 0).all()
    # period_start is the period's first day, period_end its last.
    expected_end = result.select(period_end(pl.col("period_start"), grain))
    assert result["period_end"].to_list() == expected_end.to_series().to_list()
    first_of_period = result.select(pl.col("period_start").dt.truncate(_step(grain)))
    assert result["period_start"].to_list() == first_of_period.to_series().to_list()


def _step(grain: Grain) -> str:
    return {"week": "1w", "month": "1mo", "quarter": "1q", "year": "1y"}[grain]


@SPECS
def test_deterministic(spec: MetricSpec) -> None:
    order = ["metric", "period_start", "client_id", "segment"]
    first = compute(spec, FRAMES).collect().sort(order, nulls_last=True)
    second = compute(spec, FRAMES).collect().sort(order, nulls_last=True)
    # Same rows, same keys, same counts; floats equal to 1e-12 relative. The engine sums in
    # parallel, so a mean can differ in its last bit between runs: that is float noise,
    # not a change of result, and no reader can see it.
    assert_frame_equal(first, second, check_exact=False, rel_tol=1e-12, abs_tol=1e-12)


@SPECS
@pytest.mark.parametrize("window", [WINDOW, None])
def test_empty_input_gives_empty_result(spec: MetricSpec, window: Any) -> None:
    empty = {name: ENTITIES[name].empty().lazy() for name in spec.inputs}
    lazy = spec.compute(MetricContext(window=window), empty)
    result = lazy.collect()
    assert result.height == 0
    assert result.schema == RESULT_SCHEMA


@pytest.fixture
def collect_forbidden(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def refuse(*_args: Any, **_kwargs: Any) -> pl.DataFrame:
        raise AssertionError("a metric must not collect while building its plan")

    with monkeypatch.context() as patch:
        patch.setattr(pl.LazyFrame, "collect", refuse)
        yield


@SPECS
def test_lazy_no_collect(spec: MetricSpec, collect_forbidden: None) -> None:
    # Building the plan must not collect anything (collect is patched to fail here).
    lazy = compute(spec, FRAMES)
    assert isinstance(lazy, pl.LazyFrame)


@SPECS
def test_inputs_are_not_mutated(spec: MetricSpec) -> None:
    frames = {name: FRAMES[name].clone() for name in spec.inputs}
    compute(spec, frames).collect()
    for name, frame in frames.items():
        assert frame.equals(FRAMES[name])


@SPECS
@ALL_GRAINS
def test_all_clients_row_reaggregates_from_client_rows(spec: MetricSpec, grain: Grain) -> None:
    result = compute(spec, FRAMES, grain).collect()
    keys = ["metric", "period_start", "segment"]
    per_client = result.filter(pl.col("client_id").is_not_null())
    everyone = result.filter(pl.col("client_id").is_null())
    if per_client.height == 0:  # retention: the all-clients row only
        assert spec.name == "client_retention_rate_pct"
        return
    summed = per_client.group_by(keys).agg(
        pl.col("numerator").sum().alias("numerator_sum"),
        pl.col("denominator").sum().alias("denominator_sum"),
        pl.col("sample_size").sum().alias("sample_size_sum"),
        pl.col("numerator").is_null().all().alias("no_numerator"),
    )
    joined = everyone.join(summed, on=keys, how="full", nulls_equal=True, coalesce=True)
    assert joined["sample_size"].to_list() == joined["sample_size_sum"].to_list()
    with_num = joined.filter(~pl.col("no_numerator"))
    assert with_num["numerator"].to_list() == pytest.approx(with_num["numerator_sum"].to_list())
    assert with_num["denominator"].to_list() == with_num["denominator_sum"].to_list()


def test_only_clock_measured_durations_follow_the_clock_unit() -> None:
    """Resolution and response times are measured by the run's clock; lost time is the
    respondent's own estimate, so it stays in plain hours under a business calendar."""
    clocked = {info.name for spec in CORE_METRICS for info in spec.emits if info.clock_hours}
    assert clocked == {
        "mttr_critical_hours",
        "mttr_critical_hours_p50",
        "mttr_critical_hours_p90",
        "first_response_hours_p50",
    }
