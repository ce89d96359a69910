"""Outputs derived after the metrics: detail tables, signals and action-plan rules.

Each is a plugin, declared like a metric: a pure function of an :class:`AnalysisContext`
returning a LazyFrame, registered through its own hook. The runner computes them in a
fixed order — detail tables, then signals (from the metric values), then action rules
(from the metric values and signals) — and collects everything of one stage together.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl
import pyarrow as pa

from cxpipe.metrics.base import Grain, MetricContext, MetricInfo
from cxpipe.schemas import ACTION_PLAN, SIGNALS


@dataclass(frozen=True)
class AnalysisContext:
    """Everything a derived output may read. Frames are lazy; nothing here does I/O."""

    metric: MetricContext
    """The metrics' context: grain, ``[metrics]`` settings, window and business clock."""
    frames: Mapping[str, pl.LazyFrame]
    """The validated canonical entities present in this run."""
    metric_values: pl.LazyFrame
    """The run's metric values (schema ``METRIC_VALUES``)."""
    catalog: Mapping[str, MetricInfo]
    """Every emitted metric's catalog entry (unit, polarity), by name."""
    settings: Mapping[str, Any] = field(default_factory=dict)
    """The config's ``[signals]`` and ``[action_plan]`` tables, by name, and ``base_dir``
    (the config file's folder, for relative paths in them)."""
    signals: pl.LazyFrame | None = None
    """The run's signals (schema ``SIGNALS`` without run columns); set for action rules."""

    @property
    def grain(self) -> Grain:
        return self.metric.grain

    def section(self, name: str) -> Mapping[str, Any]:
        value = self.settings.get(name, {})
        return value if isinstance(value, Mapping) else {}


RUN_COLUMNS = ("run_id", "computed_at")
"""Added by the runner to every derived table; plugins never produce them."""


def result_schema(schema: pa.Schema) -> pl.Schema:
    """The polars schema a plugin returns for an output table (without the run columns)."""
    fields = [f for f in schema if f.name not in RUN_COLUMNS]
    frame = pl.from_arrow(pa.schema(fields).empty_table())
    assert isinstance(frame, pl.DataFrame)
    return frame.schema


AnalysisFunction = Callable[[AnalysisContext], pl.LazyFrame]


def _check_signature(kind: str, name: str, function: AnalysisFunction) -> None:
    params = list(inspect.signature(function).parameters)
    if len(params) != 1:
        raise TypeError(
            f"{kind} {name!r}: {function.__qualname__} must take one argument (ctx), "
            f"not ({', '.join(params)})"
        )


@dataclass(frozen=True)
class TableSpec:
    """A detail table: one Parquet table written under ``<name>/`` (the call-back list…)."""

    name: str
    title: str
    description: str
    schema: pa.Schema
    """The table's Arrow schema, run columns included; documented in the data dictionary."""
    inputs: tuple[str, ...]
    function: AnalysisFunction
    column_docs: Mapping[str, str] = field(default_factory=dict)
    """One line per column for the data dictionary."""


@dataclass(frozen=True)
class SignalSpec:
    """A kind of signal: rows of the ``signals`` table with ``signal`` = ``name``."""

    name: str
    description: str
    function: AnalysisFunction
    inputs: tuple[str, ...] = ()
    """Entities needed besides the metric values (``hotspot`` needs tickets and surveys)."""
    column_docs: Mapping[str, str] = field(default_factory=dict)
    """What ``value``, ``reference``, ``change``, ``score``, ``lower`` and ``upper`` mean."""


@dataclass(frozen=True)
class ActionRule:
    """An action-plan rule: rows of ``action_plan`` wherever it triggers."""

    name: str
    principle: str
    description: str
    function: AnalysisFunction


def table(
    *,
    name: str,
    title: str,
    description: str,
    schema: pa.Schema,
    inputs: tuple[str, ...],
    column_docs: Mapping[str, str] | None = None,
) -> Callable[[AnalysisFunction], TableSpec]:
    """Declare a detail table computed by ``fn(ctx) -> LazyFrame``."""

    def decorate(function: AnalysisFunction) -> TableSpec:
        _check_signature("table", name, function)
        return TableSpec(name, title, description, schema, inputs, function, column_docs or {})

    return decorate


def signal(
    *,
    name: str,
    description: str,
    inputs: tuple[str, ...] = (),
    column_docs: Mapping[str, str] | None = None,
) -> Callable[[AnalysisFunction], SignalSpec]:
    """Declare a signal kind computed by ``fn(ctx) -> LazyFrame`` in the signals shape."""

    def decorate(function: AnalysisFunction) -> SignalSpec:
        _check_signature("signal", name, function)
        return SignalSpec(name, description, function, inputs, column_docs or {})

    return decorate


def action_rule(
    *, name: str, principle: str, description: str
) -> Callable[[AnalysisFunction], ActionRule]:
    """Declare an action-plan rule computed by ``fn(ctx) -> LazyFrame`` in the plan's shape."""
    from cxpipe.schemas import ACTION_PRINCIPLES

    if principle not in ACTION_PRINCIPLES:
        raise ValueError(f"rule {name!r}: principle must be one of {', '.join(ACTION_PRINCIPLES)}")

    def decorate(function: AnalysisFunction) -> ActionRule:
        _check_signature("action rule", name, function)
        return ActionRule(name, principle, description, function)

    return decorate


SIGNAL_RESULT: pl.Schema = result_schema(SIGNALS)
ACTION_RESULT: pl.Schema = result_schema(ACTION_PLAN)


def empty(schema: pl.Schema) -> pl.LazyFrame:
    return pl.LazyFrame(schema=schema)


def conform_to(frame: pl.LazyFrame, schema: pl.Schema) -> pl.LazyFrame:
    """Select and cast a plugin's result to the declared schema; missing nullable columns
    become null, so a signal only fills the columns that mean something for it."""
    names = frame.collect_schema().names()
    return frame.select(
        (pl.col(n) if n in names else pl.lit(None)).cast(dtype).alias(n)
        for n, dtype in schema.items()
    )
