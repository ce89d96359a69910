"""The rules a metric plugin keeps, checked on a :class:`MetricCase`.

They are the rules cxpipe's core metrics keep (tests/metrics/test_contract.py), so a
plugin's metric can sit next to them in the same ``metric_values`` table.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any, NoReturn
from unittest import mock

import polars as pl
from polars.testing import assert_frame_equal

from cxpipe.errors import PluginError
from cxpipe.metrics.aggregate import RESULT_SCHEMA, period_end, period_start
from cxpipe.metrics.base import GRAINS, Grain, MetricContext, MetricSpec, Polarity
from cxpipe.registry import Registry
from cxpipe.schemas import ENTITIES
from cxpipe.testing.rules.base import expect

GRAIN_KEY = ("metric", "period_grain", "period_start", "client_id", "segment")
"""The columns that identify one result row."""

FLOAT_TOLERANCE = 1e-12
"""Relative and absolute: the engine sums in parallel, so a float may differ in its last bit
between two runs of the same plan; that is noise, not a different result."""

_SHOWN = 5


class ContractWarning(UserWarning):
    """A recommendation of the plugin contract is not followed (the test still passes)."""


def _window(frames: Mapping[str, pl.DataFrame]) -> tuple[date, date] | None:
    from cxpipe.run import data_window

    return data_window({name: frame.lazy() for name, frame in frames.items()})


@dataclass
class MetricCase:
    """A metric spec with the canonical frames it is tested on.

    ``inputs`` maps entity names to frames (every required input of the spec, and optional
    ones to test them too). Results are computed once per grain and remembered.
    """

    spec: MetricSpec
    inputs: Mapping[str, pl.DataFrame]
    grains: tuple[Grain, ...] = GRAINS
    settings: Mapping[str, Any] = field(default_factory=dict)
    window: tuple[date, date] | None = None
    """The run's data window; computed from ``inputs`` as a run does when not given."""
    _results: dict[Grain, pl.DataFrame] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        needed = getattr(self.spec, "inputs", ())  # not a spec at all: declares_catalog says so
        missing = [name for name in needed if name not in self.inputs]
        if missing:
            raise ValueError(
                f"metric {self.spec.name!r} reads {', '.join(missing)}; give those frames in "
                f"`inputs` (or leave `inputs` out to use the kit's canonical demo frames)"
            )
        if self.window is None:
            self.window = _window(self.inputs)

    def context(self, grain: Grain) -> MetricContext:
        return MetricContext(grain=grain, settings=dict(self.settings), window=self.window)

    def plan(self, grain: Grain, frames: Mapping[str, pl.DataFrame] | None = None) -> Any:
        """What the metric function returns for ``frames`` (the case's inputs by default)."""
        used = self.inputs if frames is None else frames
        lazy = {name: frame.lazy() for name, frame in used.items()}
        return self.spec.compute(self.context(grain), lazy)

    def result(self, grain: Grain) -> pl.DataFrame:
        """The collected result at ``grain`` (remembered)."""
        if grain not in self._results:
            plan = self.plan(grain)
            expect(
                isinstance(plan, pl.LazyFrame),
                f"metric {self.spec.name!r} returned {type(plan).__name__}, not a LazyFrame",
            )
            self._results[grain] = plan.collect()
        return self._results[grain]

    def results(self) -> Iterator[tuple[Grain, pl.DataFrame]]:
        for grain in self.grains:
            yield grain, self.result(grain)


def _rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    return frame.head(_SHOWN).rows(named=True)


def declares_catalog(case: MetricCase) -> None:
    """The spec is what ``@cxpipe.metric`` returns, reads only canonical entities, and every
    metric it emits has a name, a title, a one-sentence description, a unit and a polarity."""
    spec = case.spec
    expect(
        isinstance(spec, MetricSpec),
        f"{spec!r} is not a MetricSpec; decorate the function with @cxpipe.metric(...)",
    )
    unknown = set(spec.inputs) | set(spec.optional_inputs)
    unknown -= set(ENTITIES)
    expect(
        not unknown, f"inputs {sorted(unknown)} are not canonical entities ({', '.join(ENTITIES)})"
    )
    expect(spec.emits, f"metric {spec.name!r} emits nothing")
    for info in spec.emits:
        expect(info.name.strip(), "an emitted metric has an empty name")
        expect(info.title.strip(), f"{info.name}: empty title")
        expect(
            info.description.strip().endswith("."),
            f"{info.name}: the description should be a sentence ending in '.'",
        )
        expect(info.unit.strip(), f"{info.name}: empty unit")
        expect(isinstance(info.polarity, Polarity), f"{info.name}: polarity is not a Polarity")


def no_core_collision(case: MetricCase) -> None:
    """No emitted name is a core metric's (a run would refuse to load both). A plugin's own
    names should be prefixed with its name (``acme.phone_share_pct``): a name without a
    dot only warns (:class:`ContractWarning`)."""
    from cxpipe.metrics.builtin import CORE_METRICS

    spec = case.spec
    if spec in CORE_METRICS:
        return
    registry = Registry()
    with registry.registering_for("builtin"):
        for core in CORE_METRICS:
            registry.add_metric(core)
    with registry.registering_for("the plugin under test"):
        try:
            registry.add_metric(spec)
        except PluginError as exc:
            raise AssertionError(f"{exc}; rename it, prefixed with the plugin's name") from None
    for name in spec.metric_names:
        if "." not in name:
            warnings.warn(
                f"metric {name!r} has no plugin prefix; name it '<plugin>.{name}' so it cannot "
                f"collide with a future core metric or another plugin",
                ContractWarning,
                stacklevel=2,
            )


def output_schema(case: MetricCase) -> None:
    """At every grain the function returns a LazyFrame whose schema is exactly
    :data:`cxpipe.metrics.aggregate.RESULT_SCHEMA` (names, order and dtypes), before and
    after collecting."""
    for grain in case.grains:
        plan = case.plan(grain)
        expect(
            isinstance(plan, pl.LazyFrame),
            f"metric {case.spec.name!r} returned {type(plan).__name__}, not a LazyFrame",
        )
        planned = plan.collect_schema()
        _same_schema(planned, f"the planned schema at grain {grain!r}")
        _same_schema(case.result(grain).schema, f"the collected schema at grain {grain!r}")


def _same_schema(schema: pl.Schema, what: str) -> None:
    if schema == RESULT_SCHEMA:
        return
    want, have = dict(RESULT_SCHEMA), dict(schema)
    problems = [f"missing {n} ({t})" for n, t in want.items() if n not in have]
    problems += [f"extra {n}" for n in have if n not in want]
    problems += [
        f"{n} is {have[n]}, not {t}" for n, t in want.items() if n in have and have[n] != t
    ]
    if not problems:
        problems = [f"column order {list(have)}, expected {list(want)}"]
    raise AssertionError(
        f"{what} differs from RESULT_SCHEMA: {'; '.join(problems)} (end with "
        f"cxpipe.metrics.aggregate.finish(...) or select RESULT_SCHEMA's columns)"
    )


def emits_rows(case: MetricCase) -> None:
    """The test inputs give at least one row at every grain (otherwise the other rules
    prove nothing; give richer ``inputs``)."""
    for grain, result in case.results():
        expect(
            result.height > 0,
            f"metric {case.spec.name!r} gives no rows at grain {grain!r} on the test inputs",
        )


def names_and_periods(case: MetricCase) -> None:
    """Every row names a metric the spec declares, the grain it was computed at, and a
    period from its first day (``period_start``) to its last (``period_end``)."""
    declared = set(case.spec.metric_names)
    for grain, result in case.results():
        unknown = set(result["metric"].unique().to_list()) - declared
        expect(
            not unknown,
            f"rows name metrics {sorted(map(str, unknown))} the spec does not declare "
            f"(declare them with also_emits=)",
        )
        wrong = result.filter(pl.col("period_grain") != grain)
        expect(wrong.height == 0, f"period_grain is not {grain!r} on rows {_rows(wrong)}")
        off = result.filter(
            (pl.col("period_start") != period_start("period_start", grain))
            | (pl.col("period_end") != period_end(pl.col("period_start"), grain))
        )
        expect(
            off.height == 0,
            f"at grain {grain!r}, period_start/period_end are not a period's first and last "
            f"day on rows {_rows(off)} (use aggregate.period_start/period_end)",
        )


def grain_keys_unique(case: MetricCase) -> None:
    """(metric, period_grain, period_start, client_id, segment) is unique at every grain:
    one value per metric, period, client (null: all clients) and segment."""
    for grain, result in case.results():
        duplicated = result.filter(pl.struct(GRAIN_KEY).is_duplicated())
        expect(
            duplicated.height == 0,
            f"at grain {grain!r}, {duplicated.height} rows share a grain key: "
            f"{_rows(duplicated.sort(GRAIN_KEY, nulls_last=True))}",
        )


def values_finite(case: MetricCase) -> None:
    """``value`` is never null, NaN or infinite; ``numerator`` and ``denominator`` are
    finite or null; ``sample_size`` is filled and not negative."""
    for grain, result in case.results():
        bad_value = result.filter(~pl.col("value").is_finite().fill_null(False))
        expect(
            bad_value.height == 0,
            f"at grain {grain!r}, value is null, NaN or infinite on {bad_value.height} rows "
            f"(emit no row for an empty group): {_rows(bad_value)}",
        )
        for column in ("numerator", "denominator"):
            bad = result.filter(~pl.col(column).is_finite())
            expect(
                bad.height == 0, f"at grain {grain!r}, {column} is NaN or infinite: {_rows(bad)}"
            )
        bad_size = result.filter(pl.col("sample_size").is_null() | (pl.col("sample_size") < 0))
        expect(bad_size.height == 0, f"sample_size missing or negative: {_rows(bad_size)}")


def deterministic(case: MetricCase) -> None:
    """Computed again on the same inputs, the result has the same rows; floats agree within
    1e-12 (relative or absolute)."""
    grain = case.grains[0]
    order = list(GRAIN_KEY)
    first = case.result(grain).sort(order, nulls_last=True)
    second = case.plan(grain).collect().sort(order, nulls_last=True)
    try:
        assert_frame_equal(
            first, second, check_exact=False, rel_tol=FLOAT_TOLERANCE, abs_tol=FLOAT_TOLERANCE
        )
    except AssertionError as exc:
        raise AssertionError(f"two computations on the same inputs differ: {exc}") from None


def _client_rows(frame: pl.DataFrame, clients: list[str]) -> pl.DataFrame:
    return frame.filter(pl.col("client_id").is_in(clients)).sort(list(GRAIN_KEY), nulls_last=True)


def client_separable(case: MetricCase) -> None:
    """A client's rows depend only on that client's input rows: computed on the inputs of
    half of the clients (their rows of every entity with a ``client_id``, the other
    entities whole, the same data window), the per-client rows of those clients are the
    ones computed on all inputs (floats within 1e-12), for both halves and at every grain.
    A partitioned run (docs/distributed.md) computes client shards apart on this promise.
    A metric that compares clients with each other declares
    ``@cxpipe.metric(client_separable=False)`` and is computed on the whole data instead;
    for it the rule only warns (:class:`ContractWarning`) if it looks separable after all.
    Inputs with fewer than two clients leave nothing to check."""
    from cxpipe.partition import plan_shards

    lazy = {name: frame.lazy() for name, frame in case.inputs.items()}
    halves = plan_shards(lazy, 2)
    if len(halves) < 2:
        return
    declared = getattr(case.spec, "client_separable", True)
    for grain in case.grains:
        for half in halves:
            subset = {
                name: frame.filter(pl.col("client_id").is_in(half))
                if "client_id" in frame.columns
                else frame
                for name, frame in case.inputs.items()
            }
            whole = _client_rows(case.result(grain), half)
            alone = _client_rows(case.plan(grain, subset).collect(), half)
            try:
                assert_frame_equal(
                    alone,
                    whole,
                    check_exact=False,
                    rel_tol=FLOAT_TOLERANCE,
                    abs_tol=FLOAT_TOLERANCE,
                )
            except AssertionError as exc:
                if not declared:
                    return  # the declaration is needed, and truthful
                raise AssertionError(
                    f"at grain {grain!r}, the rows of clients {half[:_SHOWN]} change when "
                    f"the other clients' rows are left out: {exc}; a client's rows must "
                    f"depend on its own rows only, or declare "
                    f"@cxpipe.metric(..., client_separable=False)"
                ) from None
    if not declared:
        warnings.warn(
            f"metric {case.spec.name!r} declares client_separable=False, but each client's "
            f"rows stay the same on the test inputs when other clients are left out; if "
            f"that always holds, drop the flag so a partitioned run can shard it",
            ContractWarning,
            stacklevel=2,
        )


def empty_inputs(case: MetricCase) -> None:
    """On inputs with the same columns and no rows, the result is empty and still has the
    result schema (no error, no all-null row)."""
    empty = {name: frame.clear() for name, frame in case.inputs.items()}
    for grain in case.grains:
        result = case.plan(grain, empty).collect()
        expect(
            result.height == 0,
            f"at grain {grain!r}, empty inputs gave {result.height} rows: {_rows(result)}",
        )
        _same_schema(result.schema, f"the schema on empty inputs at grain {grain!r}")


def inputs_not_mutated(case: MetricCase) -> None:
    """The input frames are the same, column for column, after the result is collected."""
    copies = {name: frame.clone() for name, frame in case.inputs.items()}
    case.plan(case.grains[0], copies).collect()
    for name, frame in copies.items():
        original = case.inputs[name]
        expect(
            frame.schema == original.schema and frame.equals(original, null_equal=True),
            f"the metric changed its input {name!r}",
        )


def _refuse(*_args: Any, **_kwargs: Any) -> NoReturn:
    raise AssertionError(
        "the metric collected while building its plan; keep it lazy (no .collect(), "
        ".to_list() on a collected frame, or pl.collect_all) and let the runner collect"
    )


@contextmanager
def collect_forbidden() -> Iterator[None]:
    """Inside the block, collecting any LazyFrame raises :class:`AssertionError`."""
    with (
        mock.patch.object(pl.LazyFrame, "collect", _refuse),
        mock.patch.object(pl.LazyFrame, "collect_async", _refuse),
        mock.patch.object(pl, "collect_all", _refuse),
    ):
        yield


def lazy_planning(case: MetricCase) -> None:
    """Building the plan collects nothing (``LazyFrame.collect`` is made to fail while the
    function runs), so the runner can plan every metric and collect them together."""
    for grain in case.grains:
        with collect_forbidden():
            plan = case.plan(grain)
        expect(isinstance(plan, pl.LazyFrame), f"returned {type(plan).__name__}")


MetricRule = Callable[[MetricCase], None]

METRIC_RULES: Mapping[str, MetricRule] = {
    rule.__name__: rule
    for rule in (
        declares_catalog,
        no_core_collision,
        output_schema,
        emits_rows,
        names_and_periods,
        grain_keys_unique,
        values_finite,
        deterministic,
        client_separable,
        empty_inputs,
        inputs_not_mutated,
        lazy_planning,
    )
}
"""Rule name → rule, in the order the test class runs them."""

__all__ = ["FLOAT_TOLERANCE", "GRAIN_KEY", "METRIC_RULES", "ContractWarning", "MetricCase"]
