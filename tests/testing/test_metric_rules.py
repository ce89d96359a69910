"""Each metric rule catches the mistake it is about, and only on a broken metric."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from typing import Any

import polars as pl
import pytest

from cxpipe import MetricContext, metric
from cxpipe.metrics.aggregate import count_rows, empty_result, finish, period_start
from cxpipe.metrics.base import Grain, MetricSpec
from cxpipe.testing import METRIC_RULES, ContractWarning, MetricCase, make_tickets

TICKETS = make_tickets(60)
MetricFn = Callable[[MetricContext, pl.LazyFrame], pl.LazyFrame]


def declare(function: MetricFn, name: str = "test.volume", **kw: Any) -> MetricSpec:
    options: dict[str, Any] = {
        "title": "Volume",
        "description": "Tickets opened in the period.",
        "unit": "count",
        "polarity": "neutral",
        "inputs": ("tickets",),
        **kw,
    }
    return metric(name=name, **options)(function)


def volume(ctx: MetricContext, tickets: pl.LazyFrame) -> pl.LazyFrame:
    return count_rows(tickets, metric="test.volume", at="opened_at", grain=ctx.grain)


def case(spec: MetricSpec, grains: tuple[Grain, ...] = ("month", "week")) -> MetricCase:
    return MetricCase(spec, {"tickets": TICKETS}, grains=grains)


def broken(rule: str, match: str, function: MetricFn, **kw: Any) -> None:
    with pytest.raises(AssertionError, match=match):
        METRIC_RULES[rule](case(declare(function, **kw)))


@pytest.mark.parametrize("rule", METRIC_RULES)
def test_a_good_metric_keeps_every_rule(rule: str) -> None:
    METRIC_RULES[rule](case(declare(volume)))


def test_missing_inputs_are_named() -> None:
    with pytest.raises(ValueError, match="reads tickets"):
        MetricCase(declare(volume), {})


def test_catalog() -> None:
    broken("declares_catalog", "ending in '.'", volume, description="no full stop")
    broken("declares_catalog", "empty title", volume, title=" ")

    def with_weather(
        ctx: MetricContext, tickets: pl.LazyFrame, weather: pl.LazyFrame | None = None
    ) -> pl.LazyFrame:
        return volume(ctx, tickets)

    broken("declares_catalog", "not canonical", with_weather, optional_inputs=("weather",))
    with pytest.raises(AssertionError, match="not a MetricSpec"):
        METRIC_RULES["declares_catalog"](MetricCase(volume, {"tickets": TICKETS}))  # type: ignore[arg-type]


def test_core_names_are_taken_and_prefixes_recommended() -> None:
    def nps(ctx: MetricContext, tickets: pl.LazyFrame) -> pl.LazyFrame:
        return count_rows(tickets, metric="nps", at="opened_at", grain=ctx.grain)

    broken("no_core_collision", "'nps' is emitted by both", nps, name="nps")
    with pytest.warns(ContractWarning, match="no plugin prefix"):
        METRIC_RULES["no_core_collision"](case(declare(volume, name="volume")))


def test_output_schema() -> None:
    def int_values(ctx: MetricContext, tickets: pl.LazyFrame) -> pl.LazyFrame:
        return volume(ctx, tickets).with_columns(pl.col("value").cast(pl.Int64))

    def no_segment(ctx: MetricContext, tickets: pl.LazyFrame) -> pl.LazyFrame:
        return volume(ctx, tickets).drop("segment")

    def eager(ctx: MetricContext, tickets: pl.LazyFrame) -> pl.LazyFrame:
        return volume(ctx, tickets).collect()  # type: ignore[return-value]

    broken("output_schema", "value is Int64, not Float64", int_values)
    broken("output_schema", "missing segment", no_segment)
    broken("output_schema", "returned DataFrame, not a LazyFrame", eager)


def test_rows_names_and_periods() -> None:
    def nothing(ctx: MetricContext, tickets: pl.LazyFrame) -> pl.LazyFrame:
        return empty_result()

    def undeclared(ctx: MetricContext, tickets: pl.LazyFrame) -> pl.LazyFrame:
        return volume(ctx, tickets).with_columns(metric=pl.lit("test.other"))

    def mid_month(ctx: MetricContext, tickets: pl.LazyFrame) -> pl.LazyFrame:
        return volume(ctx, tickets).with_columns(pl.col("period_start").dt.offset_by("3d"))

    broken("emits_rows", "gives no rows at grain 'month'", nothing)
    broken("names_and_periods", "does not declare", undeclared)
    broken("names_and_periods", "first and last day", mid_month)


def test_grain_keys_and_values() -> None:
    def twice(ctx: MetricContext, tickets: pl.LazyFrame) -> pl.LazyFrame:
        return pl.concat([volume(ctx, tickets), volume(ctx, tickets)])

    def nan(ctx: MetricContext, tickets: pl.LazyFrame) -> pl.LazyFrame:
        return volume(ctx, tickets).with_columns(value=pl.lit(float("nan")))

    def infinite_ratio(ctx: MetricContext, tickets: pl.LazyFrame) -> pl.LazyFrame:
        return volume(ctx, tickets).with_columns(numerator=pl.lit(float("inf")))

    broken("grain_keys_unique", "rows share a grain key", twice)
    broken("values_finite", "null, NaN or infinite", nan)
    broken("values_finite", "numerator is NaN or infinite", infinite_ratio)


def test_determinism() -> None:
    calls = itertools.count()

    def drifting(ctx: MetricContext, tickets: pl.LazyFrame) -> pl.LazyFrame:
        return volume(ctx, tickets).with_columns(value=pl.col("value") + next(calls))

    broken("deterministic", "two computations on the same inputs differ", drifting)


def share_of_all(ctx: MetricContext, tickets: pl.LazyFrame) -> pl.LazyFrame:
    """A client's tickets as a share of every client's: its rows depend on other clients."""
    keyed = tickets.with_columns(_period_start=period_start("opened_at", ctx.grain))
    everyone = keyed.group_by("_period_start").agg(_all=pl.len())
    per_client = keyed.group_by("_period_start", "client_id").agg(_n=pl.len())
    shares = per_client.join(everyone, on="_period_start").select(
        "_period_start",
        "client_id",
        _segment=pl.lit(None, pl.String),
        value=pl.col("_n") / pl.col("_all") * 100.0,
        numerator=pl.lit(None, pl.Float64),
        denominator=pl.lit(None, pl.Float64),
        sample_size=pl.col("_n"),
    )
    return finish(shares, metric="test.volume", grain=ctx.grain)


def test_client_separable() -> None:
    assert TICKETS.get_column("client_id").n_unique() >= 2
    broken("client_separable", "client_separable=False", share_of_all)
    # Declared, the rule accepts it; every other rule holds for it too.
    for rule in METRIC_RULES.values():
        rule(case(declare(share_of_all, client_separable=False)))
    with pytest.warns(ContractWarning, match="drop the flag"):
        METRIC_RULES["client_separable"](case(declare(volume, client_separable=False)))
    one_client = {"tickets": TICKETS.with_columns(client_id=pl.lit("C01"))}
    METRIC_RULES["client_separable"](MetricCase(declare(share_of_all), one_client))


def test_empty_inputs() -> None:
    def always_a_row(ctx: MetricContext, tickets: pl.LazyFrame) -> pl.LazyFrame:
        one = volume(ctx, make_tickets(1).lazy())
        return pl.concat([volume(ctx, tickets), one]).unique(
            ["metric", "period_start", "client_id"]
        )

    broken("empty_inputs", "empty inputs gave 2 rows", always_a_row)


def test_mutated_inputs() -> None:
    class Mutating(MetricCase):
        def plan(self, grain: Grain, frames: Mapping[str, pl.DataFrame] | None = None) -> Any:
            if frames is not None:  # as if a metric got (and changed) the frames themselves
                frames["tickets"].drop_in_place("channel")
            return super().plan(grain, frames)

    with pytest.raises(AssertionError, match="changed its input 'tickets'"):
        METRIC_RULES["inputs_not_mutated"](Mutating(declare(volume), {"tickets": TICKETS}))


def test_collect_while_planning() -> None:
    def peeks(ctx: MetricContext, tickets: pl.LazyFrame) -> pl.LazyFrame:
        clients = tickets.select("client_id").unique().collect()["client_id"].to_list()
        return volume(ctx, tickets.filter(pl.col("client_id").is_in(clients)))

    def collects_all(ctx: MetricContext, tickets: pl.LazyFrame) -> pl.LazyFrame:
        (frame,) = pl.collect_all([tickets])
        return volume(ctx, frame.lazy())

    broken("lazy_planning", "collected while building its plan", peeks)
    broken("lazy_planning", "collected while building its plan", collects_all)
    METRIC_RULES["lazy_planning"](case(declare(volume)))
    assert pl.LazyFrame({"a": [1]}).collect().height == 1  # collect is back afterwards
