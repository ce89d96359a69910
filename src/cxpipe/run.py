"""One run of the pipeline, as plain functions: extract → conform → validate → metrics → write.

The CLI calls :func:`run_pipeline`; the Prefect flow in ``flows/`` calls the same steps
one task each. Nothing here imports Prefect. Every input row is accounted for: per
source, rows read = rows kept + rows quarantined, and the manifest records it.
"""

from __future__ import annotations

import platform
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime
from importlib import metadata
from typing import Any

import pluggy
import polars as pl
import pyarrow as pa

from cxpipe import __version__
from cxpipe.config import CxpipeConfig, SourceConfig
from cxpipe.conform import conform
from cxpipe.errors import (
    ConformError,
    CxpipeError,
    OutputError,
    PluginError,
    SourceError,
    ValidationFailed,
)
from cxpipe.metrics.aggregate import RESULT_SCHEMA
from cxpipe.metrics.base import Clock, ElapsedClock, MetricContext, MetricInfo, MetricSpec
from cxpipe.plugins import build_registry, describe_plugins, get_plugin_manager
from cxpipe.registry import Registry
from cxpipe.schemas import (
    ACTION_PLAN,
    DIM_METRIC,
    ENTITIES,
    METRIC_VALUES,
    SIGNALS,
    Entity,
    get_entity,
)
from cxpipe.sinks.base import RunOutputs
from cxpipe.sinks.lock import RunLock, acquire_run_lock
from cxpipe.sinks.parquet import STATE_FILE, ParquetSink
from cxpipe.sources.base import InputFile

Progress = Callable[[str], None]


@dataclass
class RunContext:
    """What every step of a run shares; handed to the ``cxpipe_before_run`` hook."""

    run_id: str
    config: CxpipeConfig
    output_root: str
    plugin_manager: pluggy.PluginManager
    registry: Registry
    started_at: datetime
    timings: dict[str, float] = field(default_factory=dict)
    metric_context: MetricContext | None = None
    """Set by :func:`compute_metrics`; the derived outputs reuse it."""
    sink: ParquetSink | None = None
    committed: dict[str, Any] = field(default_factory=dict)
    """The watermarks earlier runs committed under the output root (``_state/``)."""
    full_refresh: bool = False
    """Ignore committed watermarks and snapshots: read every source whole."""
    lock: RunLock | None = None
    """The output root's run lock, held from before the watermarks are read until
    :func:`finish_run` or :func:`fail_run` (cxpipe.sinks.lock)."""

    def release_lock(self) -> None:
        """Let the next run on this output root in; safe to call more than once."""
        if self.lock is not None:
            self.lock.release()

    def since(self, source: SourceConfig) -> datetime | None:
        """Where an incremental source resumes: its last committed watermark."""
        if not source.incremental or self.full_refresh:
            return None
        committed = self.committed.get("sources", {}).get(source.name, {})
        mark = committed.get("watermark")
        if not mark:
            return None
        try:
            since = datetime.fromisoformat(mark)
        except (TypeError, ValueError):
            raise OutputError(
                f"source {source.name!r}: the committed watermark {str(mark)[:60]!r} in "
                f"{self.output_root}/{STATE_FILE} is not an ISO 8601 timestamp; the file was "
                f"edited or damaged: restore it, or rerun with --full-refresh"
            ) from None
        if since.tzinfo is None:
            raise OutputError(
                f"source {source.name!r}: the committed watermark {mark!r} in "
                f"{self.output_root}/{STATE_FILE} has no UTC offset; restore the file, or "
                f"rerun with --full-refresh"
            )
        return since

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[stage] = round(
                self.timings.get(stage, 0.0) + time.perf_counter() - start, 3
            )


@dataclass
class ConformedSource:
    """A source read and mapped onto its canonical entity, not yet validated."""

    config: SourceConfig
    entity: Entity
    frame: pl.DataFrame
    inputs: list[InputFile]
    warnings: list[str]
    events_read: int

    @property
    def rows_read(self) -> int:
        return self.frame.height


@dataclass
class ValidatedSource:
    """A source after validation: the rows kept and the rows quarantined, with reasons."""

    name: str
    entity: str
    kept: pl.DataFrame
    quarantined: pl.DataFrame
    inputs: list[InputFile]
    warnings: list[str]
    events_read: int
    rows_read: int
    checks: list[dict[str, Any]]
    since: datetime | None = None
    snapshot: pl.DataFrame | None = None
    """For an incremental source: every row delivered so far, this run's changes merged in."""

    @property
    def rows(self) -> pl.DataFrame:
        """What the metrics read: the snapshot of an incremental source, else this run's rows."""
        return self.snapshot if self.snapshot is not None else self.kept

    @property
    def watermark(self) -> datetime | None:
        column = ENTITIES[self.entity].watermark
        if column is None or self.rows.height == 0:
            return None
        value = self.rows.get_column(column).max()
        return value if isinstance(value, datetime) else None

    def accounting(self) -> dict[str, int]:
        counts = {
            "events_read": self.events_read,
            "rows_read": self.rows_read,
            "rows_kept": self.kept.height,
            "rows_quarantined": self.quarantined.height,
        }
        if self.snapshot is not None:
            counts["rows_in_snapshot"] = self.snapshot.height
        return counts


@dataclass
class RunResult:
    """What a finished run produced; handed to the ``cxpipe_after_run`` hook."""

    run_id: str
    output_root: str
    metric_values: pl.DataFrame
    manifest: dict[str, Any]
    paths: list[str]
    scorecard: str | None = None
    """Where the run's HTML scorecard went, once rendered (:func:`publish_scorecard`)."""


def new_run_id(now: datetime) -> str:
    return f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


def start_run(
    config: CxpipeConfig,
    output: str | None = None,
    *,
    full_refresh: bool = False,
    extra_plugins: Iterable[tuple[str, object]] = (),
) -> RunContext:
    """Load plugins, fill the registry, read the committed watermarks and tell plugins a
    run begins. ``extra_plugins`` (name, plugin) are registered for this run only, as if
    installed: how tests and embedding applications add plugins without packaging them."""
    now = datetime.now(UTC)
    pm = get_plugin_manager(plugins_dir=config.plugins_path, extra_plugins=extra_plugins)
    root = output or config.output_root
    run_id = new_run_id(now)
    # Locked before the watermarks are read: they must be the ones this run publishes over.
    lock = acquire_run_lock(
        root, run_id=run_id, started_at=now, timeout_seconds=config.run.lock_timeout_seconds
    )
    try:
        sink = ParquetSink(root)
        incremental = any(s.incremental for s in config.enabled_sources())
        ctx = RunContext(
            run_id=run_id,
            config=config,
            output_root=root,
            plugin_manager=pm,
            registry=build_registry(pm),
            started_at=now,
            sink=sink,
            committed=sink.read_state() if incremental and not full_refresh else {},
            full_refresh=full_refresh,
            lock=lock,
        )
        pm.hook.cxpipe_before_run(run=ctx)
    except BaseException:
        lock.release()
        raise
    return ctx


def extract_source(ctx: RunContext, source_config: SourceConfig) -> ConformedSource:
    """Read one source and conform it; the frame is collected here, once."""
    entity = get_entity(source_config.entity)
    source_cls = ctx.registry.source(source_config.kind)
    with ctx.timed(f"extract:{source_config.name}"):
        source = source_cls(source_config, resolve_path=ctx.config.resolve)
        extract = source.extract(ctx.since(source_config))
        try:
            frame = conform(extract.frame, source_config, entity).collect()
        except ConformError as exc:
            files = ", ".join(i.path for i in extract.inputs) or "no input"
            raise ConformError(f"{exc} (reading {files})") from exc
        except pl.exceptions.PolarsError as exc:
            raise SourceError(source.explain(exc)) from exc
    # An incremental read that finds nothing changed is normal; a full read that finds
    # nothing usually means a broken export.
    if frame.height == 0 and source_config.expect_rows and ctx.since(source_config) is None:
        files = ", ".join(i.path for i in extract.inputs) or "no input"
        raise ValidationFailed(
            f"source {source_config.name!r} ({entity.name}) returned no rows from {files}; "
            f"set expect_rows = false on the source if an empty extract is normal"
        )
    return ConformedSource(
        config=source_config,
        entity=entity,
        frame=frame,
        inputs=extract.inputs,
        warnings=extract.warnings,
        events_read=int(frame.get_column("_cx_events").sum() or 0),
    )


def validate_source(ctx: RunContext, conformed: ConformedSource) -> ValidatedSource:
    """Validate with Great Expectations; bad rows go to quarantine with their reasons."""
    from cxpipe.validation import default_expectations, validate_with_duplicates

    entity = conformed.entity
    source = conformed.config
    expect_rows = source.expect_rows and ctx.since(source) is None
    suite = default_expectations(entity, expect_rows=expect_rows)
    ctx.plugin_manager.hook.cxpipe_add_expectations(entity=entity.name, suite=suite)
    with ctx.timed(f"validate:{conformed.config.name}"):
        outcome = validate_with_duplicates(
            conformed.frame.drop("_cx_events"), suite, entity=entity, source=conformed.config.name
        )
    validated = ValidatedSource(
        name=conformed.config.name,
        entity=entity.name,
        kept=outcome.kept,
        quarantined=outcome.quarantined,
        inputs=conformed.inputs,
        warnings=conformed.warnings,
        events_read=conformed.events_read,
        rows_read=conformed.rows_read,
        checks=[asdict(check) for check in outcome.checks],
        since=ctx.since(conformed.config),
    )
    if validated.rows_read != validated.kept.height + validated.quarantined.height:
        raise AssertionError(f"row accounting broke for source {validated.name!r}")
    if conformed.config.incremental:
        validated.snapshot = merge_snapshot(ctx, entity, conformed.config.name, validated.kept)
    return validated


def merge_snapshot(
    ctx: RunContext, entity: Entity, source: str, changes: pl.DataFrame
) -> pl.DataFrame:
    """This run's rows merged into the committed snapshot: a row whose primary key is already
    there replaces it when its watermark is not older (a re-read ticket replaces its earlier
    version; nothing is duplicated, and a replayed older version cannot win)."""
    assert ctx.sink is not None
    assert entity.watermark is not None
    previous = None if ctx.full_refresh else ctx.sink.read_snapshot(entity.name, source)
    if previous is None or previous.height == 0:
        return changes
    key = list(entity.primary_key)
    merged = pl.concat(
        [previous.with_columns(_cx_new=pl.lit(0)), changes.with_columns(_cx_new=pl.lit(1))],
        how="diagonal_relaxed",
    )
    return (
        merged.sort([entity.watermark, "_cx_new"], nulls_last=False)
        .unique(subset=key, keep="last", maintain_order=True)
        .drop("_cx_new")
    )


def canonical_frames(validated: list[ValidatedSource]) -> dict[str, pl.LazyFrame]:
    """The kept rows per entity, canonical columns only, sources of one entity stacked."""
    by_entity: dict[str, list[pl.LazyFrame]] = {}
    for source in validated:
        columns = ENTITIES[source.entity].columns
        by_entity.setdefault(source.entity, []).append(source.rows.lazy().select(columns))
    return {name: pl.concat(parts, how="vertical") for name, parts in by_entity.items()}


def data_window(frames: Mapping[str, pl.LazyFrame]) -> tuple[date, date] | None:
    """First and last day any dated event in the data falls on."""
    columns = {
        "tickets": ("opened_at", "resolved_at"),
        "survey_responses": ("submitted_at",),
        "projects": ("actual_end",),
        "survey_invitations": ("sent_at",),
    }
    bounds = [
        frames[name].select(
            lo=pl.min_horizontal(pl.col(c).min().cast(pl.Date) for c in cols),
            hi=pl.max_horizontal(pl.col(c).max().cast(pl.Date) for c in cols),
        )
        for name, cols in columns.items()
        if name in frames
    ]
    if not bounds:
        return None
    row = pl.concat(bounds).select(pl.col("lo").min(), pl.col("hi").max()).collect().row(0)
    return (row[0], row[1]) if row[0] is not None else None


def build_metric_context(config: CxpipeConfig, frames: Mapping[str, pl.LazyFrame]) -> MetricContext:
    """The grain, settings, data window and clock every metric of a run shares."""
    window = data_window(frames)
    clock: Clock = ElapsedClock()
    if config.business_time is not None:
        from cxpipe.calendars import build_clock

        clock = build_clock(config.business_time, window)
    settings = config.metrics.model_dump()
    if config.metrics.theme_lexicon is not None:
        settings["theme_lexicon"] = config.resolve(config.metrics.theme_lexicon)
    return MetricContext(
        grain=config.run.period_grain,
        settings=settings,
        window=window,
        clock=clock,
    )


def unit_on(info: MetricInfo, metric_ctx: MetricContext) -> str:
    """Clock-measured durations take the clock's unit, so the output says which hours."""
    return metric_ctx.clock.unit if info.clock_hours else info.unit


METRIC_ORDER: tuple[str, ...] = ("metric", "period_grain", "period_start", "client_id", "segment")
"""The order metric values are returned in (nulls last): the grain key, so a run's values come
out in the same order however they were computed, whole or partitioned."""


@dataclass(frozen=True)
class MetricPlan:
    """The metrics a run computes and the context they share: all a partitioned run's
    workers need besides the inputs (no frames, no plugin manager, so it pickles small)."""

    context: MetricContext
    specs: tuple[MetricSpec, ...]
    """The selected metrics whose required inputs are present, by name."""
    skipped: Mapping[str, str]
    """Selected metrics left out, with the reason (a missing input entity)."""
    units: Mapping[str, str]
    """Unit of every emitted metric name (clock-measured durations take the clock's)."""


def plan_metrics(ctx: RunContext, frames: Mapping[str, pl.LazyFrame]) -> MetricPlan:
    """Check the ``[metrics]`` selection, build the shared context (its data window covers
    all the frames) and pick the metrics to compute. Sets ``ctx.metric_context``."""
    settings = ctx.config.metrics
    metric_ctx = build_metric_context(ctx.config, frames)
    ctx.metric_context = metric_ctx
    wanted = set(settings.only) if settings.only is not None else None
    unknown = (wanted or set()) | set(settings.skip)
    unknown -= set(ctx.registry.metrics)
    if unknown:
        raise PluginError(
            f"[metrics] names metric(s) no plugin registered: {', '.join(sorted(unknown))}; "
            f"see `cxpipe plugins`"
        )
    specs: list[MetricSpec] = []
    skipped: dict[str, str] = {}
    for name, spec in sorted(ctx.registry.metrics.items()):
        if (wanted is not None and name not in wanted) or name in settings.skip:
            continue
        missing = [entity for entity in spec.inputs if entity not in frames]
        if missing:
            skipped[name] = f"no source provides {', '.join(missing)}"
            continue
        specs.append(spec)
    units = {info.name: unit_on(info, metric_ctx) for info, _ in ctx.registry.catalog()}
    return MetricPlan(metric_ctx, tuple(specs), skipped, units)


RowFilter = Callable[[MetricSpec], "pl.Expr | None"]
"""Which of a metric's result rows to keep (None: all of them)."""


def evaluate_metrics(
    context: MetricContext,
    specs: Iterable[MetricSpec],
    frames: Mapping[str, pl.LazyFrame],
    *,
    keep: RowFilter | None = None,
) -> pl.DataFrame:
    """Plan every metric lazily, then collect them together once; rows in the result shape
    (:data:`cxpipe.metrics.aggregate.RESULT_SCHEMA`). ``keep`` filters each metric's rows
    inside its plan, so the engine can push the filter down to the inputs."""
    planned: list[pl.LazyFrame] = []
    for spec in specs:
        plan = spec.compute(context, frames)
        row_filter = keep(spec) if keep is not None else None
        planned.append(plan if row_filter is None else plan.filter(row_filter))
    if not planned:
        return RESULT_SCHEMA.to_frame()
    return pl.concat(pl.collect_all(planned), how="vertical")


def stamp_metric_values(ctx: RunContext, plan: MetricPlan, values: pl.DataFrame) -> pl.DataFrame:
    """Result rows as ``metric_values``: with unit, run id and time, in :data:`METRIC_ORDER`."""
    computed_at = datetime.now(UTC).replace(microsecond=0)
    stamped = values.with_columns(
        unit=pl.col("metric").replace_strict(plan.units, default="", return_dtype=pl.String),
        run_id=pl.lit(ctx.run_id, dtype=pl.String),
        computed_at=pl.lit(computed_at, dtype=pl.Datetime("us", "UTC")),
    )
    return stamped.select(METRIC_VALUES.names).sort(METRIC_ORDER, nulls_last=True)


def compute_metrics(
    ctx: RunContext, frames: Mapping[str, pl.LazyFrame]
) -> tuple[pl.DataFrame, dict[str, str]]:
    """Plan every selected metric lazily, then collect them together once.

    Returns the metric values (in the ``metric_values`` schema) and the metrics skipped
    with the reason (a missing input entity). :func:`cxpipe.partition.compute_metrics_partitioned`
    computes the same values in independent client shards.
    """
    plan = plan_metrics(ctx, frames)
    with ctx.timed("metrics"):
        values = evaluate_metrics(plan.context, plan.specs, frames)
    return stamp_metric_values(ctx, plan, values), dict(plan.skipped)


def compute_derived(
    ctx: RunContext,
    frames: Mapping[str, pl.LazyFrame],
    metric_values: pl.DataFrame,
) -> tuple[dict[str, pl.DataFrame], dict[str, str]]:
    """Detail tables, then signals, then the action plan; each stage collected together.

    Returns the tables by output name (``signals`` and ``action_plan`` included) and what
    was skipped with the reason (a missing input entity, or a rule disabled in config).
    """
    from cxpipe.analysis import ACTION_RESULT, SIGNAL_RESULT, AnalysisContext, conform_to
    from cxpipe.analysis import result_schema as table_result

    config = ctx.config
    metric_ctx = ctx.metric_context or build_metric_context(config, frames)
    catalog = {info.name: info for info, _ in ctx.registry.catalog()}
    analysis = AnalysisContext(
        metric=metric_ctx,
        frames=frames,
        metric_values=metric_values.lazy(),
        catalog=catalog,
        settings={
            "signals": config.signals.model_dump(),
            "action_plan": config.action_plan.model_dump(),
            "base_dir": str(config.base_dir),
        },
    )
    skipped: dict[str, str] = {}

    def available(kind: str, name: str, inputs: tuple[str, ...]) -> bool:
        missing = [entity for entity in inputs if entity not in frames]
        if missing:
            skipped[f"{kind} {name}"] = f"no source provides {', '.join(missing)}"
        return not missing

    derived: dict[str, pl.DataFrame] = {}
    with ctx.timed("tables"):
        planned = {
            name: conform_to(spec.function(analysis), table_result(spec.schema))
            for name, spec in sorted(ctx.registry.tables.items())
            if available("table", name, spec.inputs)
        }
        derived.update(zip(planned, pl.collect_all(list(planned.values())), strict=True))
    with ctx.timed("signals"):
        signal_plans = [
            conform_to(spec.function(analysis), SIGNAL_RESULT)
            for name, spec in sorted(ctx.registry.signals.items())
            if available("signal", name, spec.inputs)
        ]
        signals = pl.concat(pl.collect_all(signal_plans)) if signal_plans else None
        derived["signals"] = signals if signals is not None else SIGNAL_RESULT.to_frame()
    with ctx.timed("action_plan"):
        disabled = set(config.action_plan.disabled_rules)
        unknown = disabled - set(ctx.registry.action_rules)
        if unknown:
            raise PluginError(
                f"[action_plan].disabled_rules names rule(s) no plugin registered: "
                f"{', '.join(sorted(unknown))}"
            )
        skipped.update({f"action_rule {name}": "disabled in config" for name in disabled})
        with_signals = replace(analysis, signals=derived["signals"].lazy())
        rule_plans = [
            conform_to(rule.function(with_signals), ACTION_RESULT)
            for name, rule in sorted(ctx.registry.action_rules.items())
            if name not in disabled
        ]
        derived["action_plan"] = (
            pl.concat(pl.collect_all(rule_plans)) if rule_plans else ACTION_RESULT.to_frame()
        )
    computed_at = datetime.now(UTC).replace(microsecond=0)
    stamped = {
        name: frame.with_columns(
            run_id=pl.lit(ctx.run_id, dtype=pl.String),
            computed_at=pl.lit(computed_at, dtype=pl.Datetime("us", "UTC")),
        )
        for name, frame in derived.items()
    }
    return stamped, skipped


def output_schemas(registry: Registry) -> dict[str, pa.Schema]:
    """The Arrow schema of every derived output table, by output name."""
    return {
        "signals": SIGNALS,
        "action_plan": ACTION_PLAN,
        **{name: spec.schema for name, spec in registry.tables.items()},
    }


def _dim_client(
    frames: Mapping[str, pl.LazyFrame], validated: list[ValidatedSource]
) -> pl.DataFrame:
    if "clients" in frames:
        return frames["clients"].collect()
    ids = sorted(
        {
            client
            for source in validated
            if "client_id" in source.kept.columns
            for client in source.kept.get_column("client_id").unique().to_list()
            if client is not None
        }
    )
    return pl.DataFrame(
        {
            "client_id": ids,
            "name": ids,
            "segment": [None] * len(ids),
            "relationship_start": [None] * len(ids),
            "relationship_end": [None] * len(ids),
        },
        schema={
            "client_id": pl.String,
            "name": pl.String,
            "segment": pl.String,
            "relationship_start": pl.Date,
            "relationship_end": pl.Date,
        },
    )


def _dim_metric(registry: Registry, metric_ctx: MetricContext | None) -> pl.DataFrame:
    rows = [
        {
            "metric": info.name,
            "title": info.title,
            "description": info.description,
            "unit": unit_on(info, metric_ctx) if metric_ctx else info.unit,
            "polarity": str(info.polarity),
            "plugin": plugin,
        }
        for info, plugin in registry.catalog()
    ]
    return pl.DataFrame(rows, schema=dict.fromkeys(DIM_METRIC.names, pl.String))


def _versions() -> dict[str, str]:
    versions = {"cxpipe": __version__, "python": platform.python_version()}
    for dist in ("polars", "pyarrow", "great-expectations", "pluggy"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _derived_summary(derived: Mapping[str, pl.DataFrame]) -> dict[str, Any]:
    """Row counts of the derived tables, plus what needs attention in the latest period:
    flagged signals by kind and actions by principle and severity (the tables keep the
    whole history; a person skimming a run wants the latest month)."""
    summary: dict[str, Any] = {"rows": {name: frame.height for name, frame in derived.items()}}
    plan = derived.get("action_plan")
    if plan is not None and plan.height:
        latest = plan.filter(pl.col("period_start") == pl.col("period_start").max())
        summary["latest_period"] = str(latest["period_start"][0])
        by_principle = latest.group_by("principle").len().sort("principle")
        by_severity = latest.group_by("severity").len().sort("severity")
        summary["actions_by_principle"] = dict(by_principle.iter_rows())
        summary["actions_by_severity"] = dict(by_severity.iter_rows())
    signals = derived.get("signals")
    if signals is not None and signals.height:
        dated = signals.filter(pl.col("period_start").is_not_null())
        latest_signals = dated.filter(pl.col("period_start") == pl.col("period_start").max())
        flagged = latest_signals.filter(pl.col("flagged")).group_by("signal").len()
        summary["flagged_signals"] = dict(flagged.sort("signal").iter_rows())
    return summary


def build_manifest(
    ctx: RunContext,
    validated: list[ValidatedSource],
    metric_values: pl.DataFrame,
    skipped: Mapping[str, str],
    derived: Mapping[str, pl.DataFrame] | None = None,
) -> dict[str, Any]:
    entities: dict[str, dict[str, int]] = {}
    for source in validated:
        totals = entities.setdefault(
            source.entity, {"rows_read": 0, "rows_kept": 0, "rows_quarantined": 0}
        )
        for key in totals:
            totals[key] += source.accounting()[key]
    return {
        "run_id": ctx.run_id,
        "status": "succeeded",
        "started_at": ctx.started_at.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "config_path": str(ctx.config.base_dir),
        "config_hash": ctx.config.config_hash,
        "output_root": ctx.output_root,
        "period_grain": ctx.config.run.period_grain,
        "versions": _versions(),
        "plugins": [asdict(p) for p in describe_plugins(ctx.plugin_manager)],
        "sources": [
            {
                "name": source.name,
                "entity": source.entity,
                "inputs": [asdict(i) for i in source.inputs],
                **source.accounting(),
                "since": source.since.isoformat() if source.since else None,
                "watermark": source.watermark.isoformat() if source.watermark else None,
                "warnings": source.warnings,
                "checks": source.checks,
            }
            for source in validated
        ],
        "entities": entities,
        "metrics": {
            "rows": metric_values.height,
            "computed": sorted(metric_values.get_column("metric").unique().to_list()),
            "skipped": dict(skipped),
        },
        "derived": _derived_summary(derived or {}),
        # what the scorecard compares against, so an output root alone renders it exactly
        "action_plan": {"targets": dict(ctx.config.action_plan.targets)},
        "timings_seconds": dict(ctx.timings),
    }


def write_outputs(
    ctx: RunContext,
    validated: list[ValidatedSource],
    frames: Mapping[str, pl.LazyFrame],
    metric_values: pl.DataFrame,
    skipped: Mapping[str, str],
    *,
    derived: Mapping[str, pl.DataFrame] | None = None,
) -> RunResult:
    """Hand the whole run to the sink, which makes it visible atomically."""
    sink = ctx.sink or ParquetSink(ctx.output_root)
    quarantine = {
        (source.entity, source.name): source.quarantined
        for source in validated
        if source.quarantined.height
    }
    with ctx.timed("write"):
        manifest = build_manifest(ctx, validated, metric_values, skipped, derived)
        outputs = RunOutputs(
            run_id=ctx.run_id,
            period_grain=ctx.config.run.period_grain,
            metric_values=metric_values,
            dim_metric=_dim_metric(ctx.registry, ctx.metric_context),
            dim_client=_dim_client(frames, validated),
            quarantine=quarantine,
            tables={
                name: (output_schemas(ctx.registry)[name], frame)
                for name, frame in (derived or {}).items()
            },
            snapshots={
                (source.entity, source.name): source.snapshot
                for source in validated
                if source.snapshot is not None
            },
            state=_state_to_commit(ctx, validated),
            manifest=manifest,
        )
        paths = sink.write(outputs)
    return RunResult(ctx.run_id, ctx.output_root, metric_values, manifest, paths)


def _state_to_commit(ctx: RunContext, validated: list[ValidatedSource]) -> dict[str, Any] | None:
    """The committed watermarks with this run's incremental sources advanced (None when the
    run has no incremental source, which leaves ``_state/`` as it is)."""
    incremental = [s for s in validated if s.snapshot is not None]
    if not incremental:
        return None
    sources = dict(ctx.committed.get("sources", {}))
    for source in incremental:
        mark = source.watermark
        sources[source.name] = {
            "entity": source.entity,
            "watermark": mark.isoformat() if mark else None,
            "run_id": ctx.run_id,
        }
    return {"version": 1, "sources": sources}


def run_pipeline(
    config: CxpipeConfig,
    *,
    output: str | None = None,
    progress: Progress | None = None,
    full_refresh: bool = False,
    extra_plugins: Iterable[tuple[str, object]] = (),
) -> RunResult:
    """Run every enabled source through to Parquet. Raises :class:`CxpipeError` on bad input."""
    say = progress or (lambda _message: None)
    ctx = start_run(config, output, full_refresh=full_refresh, extra_plugins=extra_plugins)
    try:
        validated = []
        for source_config in config.enabled_sources():
            say(f"reading {source_config.name}")
            conformed = extract_source(ctx, source_config)
            say(f"validating {source_config.name}")
            validated.append(validate_source(ctx, conformed))
        frames = canonical_frames(validated)
        say("computing metrics")
        metric_values, skipped = compute_metrics(ctx, frames)
        say("computing signals, detail tables and the action plan")
        derived, skipped_derived = compute_derived(ctx, frames, metric_values)
        say("writing outputs")
        result = write_outputs(
            ctx, validated, frames, metric_values, {**skipped, **skipped_derived}, derived=derived
        )
    except BaseException as error:
        fail_run(ctx, error)
        raise
    say("rendering the scorecard")
    try:
        publish_scorecard(ctx, result)
    finally:  # the outputs are committed: plugins are told even if the page fails
        finish_run(ctx, result)
    return result


def publish_scorecard(ctx: RunContext, result: RunResult) -> str:
    """Render the committed run's scorecard (``scorecards/<run_id>.html`` under the output
    root) from what was written, so it shows exactly what a BI tool reads; returns where it
    went. Written after the commit, whole or not at all: a failure here leaves the
    committed outputs as they are, and any later run (or ``cxpipe scorecard``) renders it."""
    from cxpipe.scorecard import write_scorecard

    with ctx.timed("scorecard"):
        where = write_scorecard(result.output_root)
    result.scorecard = where
    return where


def finish_run(ctx: RunContext, result: RunResult) -> list[str]:
    """Tell plugins the run is committed, then release the output root's lock. A failing
    ``cxpipe_after_run`` hook is reported in the returned list (and the in-memory manifest)
    but does not undo the committed outputs."""
    try:
        ctx.plugin_manager.hook.cxpipe_after_run(run=ctx, result=result)
    except Exception as exc:
        result.manifest.setdefault("after_run_errors", []).append(repr(exc))
        return [repr(exc)]
    finally:
        ctx.release_lock()
    return []


def fail_run(ctx: RunContext, error: BaseException) -> None:
    """Tell plugins the run failed before its commit, then release the output root's lock
    (whatever the hook does), so the next run can start and roll forward what was left."""
    try:
        ctx.plugin_manager.hook.cxpipe_on_run_error(run=ctx, error=error)
    finally:
        ctx.release_lock()


__all__ = [
    "METRIC_ORDER",
    "ConformedSource",
    "CxpipeError",
    "MetricPlan",
    "RunContext",
    "RunResult",
    "ValidatedSource",
    "compute_derived",
    "compute_metrics",
    "evaluate_metrics",
    "extract_source",
    "fail_run",
    "finish_run",
    "plan_metrics",
    "publish_scorecard",
    "run_pipeline",
    "stamp_metric_values",
    "start_run",
    "validate_source",
    "write_outputs",
]
