"""Partitioned metric computation without Prefect: shards, staged inputs, units, merge.

The promise under test: the units' rows, merged, are what ``compute_metrics`` returns in one
process, to the bit and in the same order, however many shards.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from cxpipe import hookimpl, metric, partition
from cxpipe.config import parse_config
from cxpipe.metrics.aggregate import RESULT_SCHEMA, finish, period_start
from cxpipe.metrics.base import MetricContext, MetricSpec
from cxpipe.metrics.builtin import CORE_METRICS
from cxpipe.partition import (
    SCRATCH_FOLDER,
    StagedInputs,
    compute_metrics_partition,
    compute_metrics_partitioned,
    merge_partitions,
    plan_shards,
    plan_units,
    stage_inputs,
    staged_inputs,
)
from cxpipe.registry import Registry
from cxpipe.run import RunContext, compute_metrics, plan_metrics, start_run
from cxpipe.testing.fixtures import canonical_inputs
from tests.conftest import DemoConfigData

INPUTS = canonical_inputs()
FRAMES = {name: frame.lazy() for name, frame in INPUTS.items()}
CLIENTS = sorted(INPUTS["clients"].get_column("client_id").to_list())

BUSINESS_TIME = {
    "calendars": {
        "default": {
            "timezone": "Europe/Paris",
            "holidays": ["2025-12-24"],
            "hours": {day: ["09:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")},
        }
    }
}


@metric(
    name="test.ticket_share_pct",
    title="Share of all tickets",
    description="A client's tickets opened in the period as a share of every client's.",
    unit="%",
    polarity="neutral",
    inputs=("tickets",),
    client_separable=False,
)
def ticket_share(ctx: MetricContext, tickets: pl.LazyFrame) -> pl.LazyFrame:
    """Not client-separable: each client's value divides by every client's tickets."""
    keyed = tickets.with_columns(_period_start=period_start("opened_at", ctx.grain))
    everyone = keyed.group_by("_period_start").agg(_all=pl.len())
    shares = (
        keyed.group_by("_period_start", "client_id")
        .agg(_n=pl.len())
        .join(everyone, on="_period_start")
        .select(
            "_period_start",
            "client_id",
            _segment=pl.lit(None, pl.String),
            value=pl.col("_n") / pl.col("_all") * 100.0,
            numerator=pl.lit(None, pl.Float64),
            denominator=pl.lit(None, pl.Float64),
            sample_size=pl.col("_n"),
        )
    )
    return finish(shares, metric="test.ticket_share_pct", grain=ctx.grain)


class SharePlugin:
    @hookimpl
    def cxpipe_register_metrics(self, registry: Registry) -> None:
        registry.add_metric(ticket_share)


@pytest.fixture
def ctx(demo_config_data: DemoConfigData, tmp_path: Path) -> RunContext:
    """A run with business hours and the non-separable share metric, writing to tmp_path."""
    data = demo_config_data()
    data["business_time"] = BUSINESS_TIME
    config = parse_config(data, base_dir=tmp_path)
    return start_run(config, str(tmp_path / "out"), extra_plugins=[("share", SharePlugin())])


def _values(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.drop("run_id", "computed_at")


# -- shards -----------------------------------------------------------------------------------


def test_shards_are_sorted_ranges_covering_every_client_once() -> None:
    shards = plan_shards(FRAMES, 3)
    assert len(shards) == 3
    assert [client for shard in shards for client in shard] == CLIENTS
    assert all(shard and shard == sorted(shard) for shard in shards)


def test_shards_balance_rows_not_clients() -> None:
    rows = {"A": 1, "B": 1, "C": 1, "D": 1, "E": 8, "F": 1, "G": 1}
    tickets = pl.LazyFrame({"client_id": [c for c, n in rows.items() for _ in range(n)]})
    # 14 rows in 2 shards: A–D and E (4 + 8 rows… E's middle falls in the second half).
    assert plan_shards({"tickets": tickets}, 2) == [["A", "B", "C", "D"], ["E", "F", "G"]]
    heavy = pl.LazyFrame({"client_id": ["A"] * 100 + ["B", "C", "D"]})
    assert plan_shards({"tickets": heavy}, 3) == [["A"], ["B", "C", "D"]]  # never empty


def test_shards_do_not_depend_on_row_or_frame_order() -> None:
    shuffled = {
        name: frame.sample(fraction=1.0, shuffle=True, seed=3).lazy()
        for name, frame in reversed(list(INPUTS.items()))
    }
    assert plan_shards(shuffled, 4) == plan_shards(FRAMES, 4)


def test_shard_edge_cases() -> None:
    assert plan_shards(FRAMES, 1) == [CLIENTS]
    assert plan_shards(FRAMES, 50) == [[client] for client in CLIENTS]
    assert plan_shards({"followups": FRAMES["followups"]}, 3) == []
    with_nulls = {"tickets": pl.LazyFrame({"client_id": ["B", None, "A", None]})}
    assert plan_shards(with_nulls, 2) == [["A"], ["B"]]
    with pytest.raises(ValueError, match="at least 1"):
        plan_shards(FRAMES, 0)


# -- staged inputs ------------------------------------------------------------------------------


def _check_staged(inputs: StagedInputs) -> None:
    for name, frame in INPUTS.items():
        back = inputs.scan(name).collect()
        assert back.schema == frame.schema, name
        keyed = name in inputs.by_client
        staged = frame.sort("client_id", nulls_last=True, maintain_order=True) if keyed else frame
        assert back.equals(staged, null_equal=True), name
    some = CLIENTS[2:5]
    tickets = inputs.scan("tickets", some).collect()
    assert tickets.height > 0
    assert set(tickets.get_column("client_id")) == set(some)
    assert inputs.scan("followups", some).collect().height == INPUTS["followups"].height


def test_staged_inputs_round_trip_and_filter_by_client(tmp_path: Path) -> None:
    inputs = stage_inputs(FRAMES, str(tmp_path), "run-1", shards=3)
    assert inputs.location == str(tmp_path / SCRATCH_FOLDER / "run-1")
    assert set(inputs.by_client) == set(INPUTS) - {"followups"}
    assert sorted(p.name for p in Path(inputs.location).iterdir()) == sorted(
        f"{name}.parquet" for name in INPUTS
    )
    _check_staged(inputs)


def test_staged_inputs_under_a_url_root(tmp_path: Path) -> None:
    """A URL root is read through the sink's own filesystem (pyarrow), as on object stores."""
    inputs = stage_inputs(FRAMES, tmp_path.as_uri(), "run-1")
    assert inputs.location == f"{tmp_path.as_uri()}/{SCRATCH_FOLDER}/run-1"
    _check_staged(inputs)


def test_scratch_is_removed_whatever_happens(tmp_path: Path) -> None:
    stale = tmp_path / SCRATCH_FOLDER / "killed-run"
    stale.mkdir(parents=True)
    (stale / "tickets.parquet").write_bytes(b"left by a killed run")
    with staged_inputs(FRAMES, str(tmp_path), "run-1") as inputs:
        assert not stale.exists()
        assert Path(inputs.location).is_dir()
    assert not (tmp_path / SCRATCH_FOLDER).exists()
    with pytest.raises(RuntimeError), staged_inputs(FRAMES, str(tmp_path), "run-2"):
        raise RuntimeError("a unit failed")
    assert not (tmp_path / SCRATCH_FOLDER).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_failed_removal_warns_and_the_next_run_sweeps_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable(_inputs: StagedInputs) -> None:
        raise OSError("store unreachable")

    with monkeypatch.context() as patched:
        patched.setattr(partition, "remove_inputs", unreachable)
        with (
            pytest.warns(RuntimeWarning, match="store unreachable"),
            staged_inputs(FRAMES, str(tmp_path), "run-1"),
        ):
            pass
    assert (tmp_path / SCRATCH_FOLDER / "run-1").is_dir()
    with staged_inputs(FRAMES, str(tmp_path), "run-2"):
        assert sorted(p.name for p in (tmp_path / SCRATCH_FOLDER).iterdir()) == ["run-2"]
    assert not (tmp_path / SCRATCH_FOLDER).exists()


def test_a_relative_root_is_made_absolute_for_the_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    inputs = stage_inputs({"followups": FRAMES["followups"]}, "out", "run-1")
    assert inputs.root == str(tmp_path / "out")


# -- units and the whole partitioned computation --------------------------------------------------


@pytest.mark.parametrize("partitions", [1, 2, 3, 5, 13])
def test_partitioned_values_equal_one_process_to_the_bit(ctx: RunContext, partitions: int) -> None:
    whole, skipped = compute_metrics(ctx, FRAMES)
    parts, parts_skipped = compute_metrics_partitioned(ctx, FRAMES, partitions)
    assert parts_skipped == skipped
    assert whole.height > 0
    assert {"test.ticket_share_pct", "mttr_critical_hours"} <= set(whole["metric"])
    # Same rows, values and order: no tolerance, no re-sorting.
    assert _values(parts).equals(_values(whole), null_equal=True)
    assert not (Path(ctx.output_root) / SCRATCH_FOLDER).exists()
    assert "metrics:stage_inputs" in ctx.timings


def test_each_unit_emits_only_its_own_rows(ctx: RunContext) -> None:
    plan = plan_metrics(ctx, FRAMES)
    shards = plan_shards(FRAMES, 3)
    units = plan_units(plan, shards, 2)
    assert [u.label for u in units] == [
        "shard-1-of-3",
        "shard-2-of-3",
        "shard-3-of-3",
        "all-clients-1-of-2",
        "all-clients-2-of-2",
    ]
    separable = {spec.name for spec in plan.specs if spec.client_separable}
    assert "test.ticket_share_pct" not in separable
    assert all(set(u.metrics) == separable for u in units if u.kind == "shard")
    whole_units = [u for u in units if u.kind == "whole"]
    assert sorted(m for u in whole_units for m in u.metrics) == sorted(s.name for s in plan.specs)
    inputs_of = {spec.name: spec.inputs for spec in plan.specs}
    read = [{inputs_of[m] for m in u.metrics} for u in whole_units]
    assert sum(("tickets",) in entities for entities in read) == 1  # ticket metrics together
    with staged_inputs(FRAMES, ctx.output_root, ctx.run_id, shards=3) as inputs:
        shard = compute_metrics_partition(plan, inputs, shards[1])
        everyone = compute_metrics_partition(plan, inputs, None)
    assert set(shard["client_id"]) == set(shards[1])
    assert "test.ticket_share_pct" not in set(shard["metric"])
    per_client = everyone.filter(pl.col("client_id").is_not_null())
    assert set(per_client["metric"]) == {"test.ticket_share_pct"}
    assert everyone.filter(pl.col("client_id").is_null()).height > 0


def test_merging_nothing_gives_the_result_schema() -> None:
    assert merge_partitions([]).schema == RESULT_SCHEMA


@pytest.mark.parametrize("spec", CORE_METRICS, ids=lambda s: s.name)
def test_core_metrics_are_exactly_client_separable(spec: MetricSpec) -> None:
    """What the kit's rule checks within 1e-12, exactly: each shard's rows, computed on its
    own clients' rows, are the bits computed on everybody's."""
    assert spec.client_separable
    context = MetricContext(grain="month", window=(_day(INPUTS, "min"), _day(INPUTS, "max")))
    whole = spec.compute(context, FRAMES).collect()
    for shard in plan_shards(FRAMES, 3):
        alone_inputs = {
            name: frame.filter(pl.col("client_id").is_in(shard))
            if "client_id" in frame.collect_schema()
            else frame
            for name, frame in FRAMES.items()
        }
        order = ["metric", "period_start", "client_id", "segment"]
        mine = pl.col("client_id").is_in(shard)
        alone = spec.compute(context, alone_inputs).filter(mine).collect().sort(order)
        assert_frame_equal(alone, whole.filter(mine).sort(order), check_exact=True)


def _day(frames: dict[str, pl.DataFrame], how: str) -> Any:
    opened = frames["tickets"].get_column("opened_at")
    return (opened.min() if how == "min" else opened.max()).date()  # type: ignore[union-attr]


def test_shuffled_inputs_give_the_same_bits(ctx: RunContext) -> None:
    """Row order does not reach the values: the engine may read rows in any order."""
    first, _ = compute_metrics(ctx, FRAMES)
    rng = random.Random(5)
    shuffled = {
        name: frame.sample(fraction=1.0, shuffle=True, seed=rng.randrange(1000)).lazy()
        for name, frame in INPUTS.items()
    }
    again, _ = compute_metrics(ctx, shuffled)
    assert _values(again).equals(_values(first), null_equal=True)
