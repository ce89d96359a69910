"""A run's metrics computed in independent partitions, so they can run on many machines.

The driver writes the validated canonical frames once, as Parquet, to a scratch folder
under the output root (``_work/<run_id>/``), and cuts the work into units that read only
what they need from there:

- **client shards**: the clients, sorted, cut into contiguous ranges of about equal row
  counts (:func:`plan_shards`). A shard unit reads the rows of its clients (the filter is
  pushed down to the Parquet scan, whose row groups are sorted by client, so it skips the
  other shards' row groups) plus every entity without a ``client_id`` whole, computes every
  client-separable metric and keeps its clients' rows;
- **whole-data units**: every metric's all-clients rows (``client_id`` null), and the
  per-client rows of the metrics declared ``client_separable=False``, computed over all
  the rows; split across units by metric, metrics of the same entities together.

Every unit computes with the same :class:`~cxpipe.run.MetricPlan` (the context built on
the whole data: data window, clock, settings), so the union of the units is the values
:func:`cxpipe.run.compute_metrics` computes in one process, value for value (float sums
are exact, :func:`cxpipe.metrics.aggregate.exact_sum`). Nothing here imports Prefect: the
units run in this process by default, and the flow hands them to its task runner (Dask).
Workers must reach the output root: a shared filesystem or an object store.
See docs/distributed.md.
"""

from __future__ import annotations

import contextlib
import math
import posixpath
import sys
import time
import urllib.parse
import warnings
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import polars as pl
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from cxpipe.metrics.aggregate import RESULT_SCHEMA
from cxpipe.metrics.base import MetricSpec
from cxpipe.run import (
    METRIC_ORDER,
    MetricPlan,
    RunContext,
    evaluate_metrics,
    plan_metrics,
    stamp_metric_values,
)
from cxpipe.sinks.parquet import FOLDERLESS, ROW_GROUP_SIZE, open_filesystem

SCRATCH_FOLDER = "_work"
"""Under the output root: one folder per partitioned run, removed when its metrics are done.
The leading underscore keeps it out of what dataset readers (pyarrow, Spark, DuckDB's hive
discovery) list, like ``_runs`` and ``_state``."""

SCRATCH_ROW_GROUPS_PER_SHARD = 4
"""Row groups per shard in a scratch file: enough for the scan to skip other shards' rows."""

MIN_SCRATCH_ROW_GROUP = 8_192
"""The smallest row group worth its statistics and footer entry."""

LOCAL_PLUGIN_PACKAGE = "cxpipe_local_plugins."
"""Module prefix of plugin files loaded from a plugins folder (cxpipe.plugins): not
importable on a worker, so their code is shipped to workers by value."""


def _client_frames(frames: Mapping[str, pl.LazyFrame]) -> dict[str, pl.LazyFrame]:
    return {name: frame for name, frame in frames.items() if "client_id" in frame.collect_schema()}


def plan_shards(frames: Mapping[str, pl.LazyFrame], n: int) -> list[list[str]]:
    """The distinct ``client_id`` values of ``frames`` dealt into at most ``n`` shards.

    Clients are sorted and cut into contiguous ranges holding about equal numbers of rows
    (over every entity with a ``client_id``): deterministic on every machine (no hashing),
    balanced, and each shard is one key range, so a scan of files sorted by client reads
    only the row groups of its own range. A shard is never empty, so there are fewer than
    ``n`` when there are fewer clients (or one client outweighs a shard). Null client ids
    belong to no shard: they only count in the all-clients rows.
    """
    if n < 1:
        raise ValueError(f"the number of shards must be at least 1, not {n}")
    keyed = _client_frames(frames)
    if not keyed:
        return []
    ids = pl.concat(
        [frame.select(pl.col("client_id").cast(pl.String)) for frame in keyed.values()],
        how="vertical",
    )
    weights = (
        ids.filter(pl.col("client_id").is_not_null())
        .group_by("client_id")
        .agg(rows=pl.len().cast(pl.Int64))
        .sort("client_id")
        # A client's shard is where the middle of its rows falls on the cumulative count:
        # integer arithmetic, monotone in the sorted order, so the shards are ranges.
        .with_columns(before=pl.col("rows").cum_sum() - pl.col("rows"), total=pl.col("rows").sum())
        .with_columns(
            shard=((2 * pl.col("before") + pl.col("rows")) * n // (2 * pl.col("total"))).clip(
                upper_bound=n - 1
            )
        )
        .group_by("shard")
        .agg(pl.col("client_id").sort())
        .sort("shard")
        .collect()
    )
    return [list(clients) for clients in weights.get_column("client_id").to_list()]


# -- the staged inputs ------------------------------------------------------------------------


@dataclass(frozen=True)
class StagedInputs:
    """The validated canonical frames of one run, written where every worker reads them.

    Small and picklable: a unit receives this, not frames, and scans its own rows.
    """

    root: str
    """The output root, absolute when it is a local folder (a worker's working directory
    is not the driver's)."""
    run_id: str
    entities: tuple[str, ...]
    by_client: tuple[str, ...]
    """The entities with a ``client_id`` column: a shard reads only its clients' rows."""

    @property
    def location(self) -> str:
        """The scratch folder, as a path or URL."""
        return _join(self.root, SCRATCH_FOLDER, self.run_id)

    def scan(self, entity: str, clients: Sequence[str] | None = None) -> pl.LazyFrame:
        """The staged rows of ``entity``; of ``clients`` only when given and the entity has
        a ``client_id`` (the filter is pushed down to the Parquet reader)."""
        relative = posixpath.join(SCRATCH_FOLDER, self.run_id, f"{entity}.parquet")
        if "://" in self.root:
            # Through the sink's own filesystem: any root the sink writes, a worker reads,
            # with the same credentials (from the environment) and URL options.
            import pyarrow.dataset as ds

            fs, base = open_filesystem(self.root)
            dataset = ds.dataset(posixpath.join(base, relative), filesystem=fs, format="parquet")
            frame = pl.scan_pyarrow_dataset(dataset)
        else:
            frame = pl.scan_parquet(posixpath.join(self.root, relative))
        if clients is None or entity not in self.by_client:
            return frame
        # A plain list: polars prunes row groups by their statistics for it (not for a Series).
        return frame.filter(pl.col("client_id").is_in(list(clients)))

    def frames(self, clients: Sequence[str] | None = None) -> dict[str, pl.LazyFrame]:
        """Every staged entity, filtered to ``clients`` where it has a ``client_id``."""
        return {entity: self.scan(entity, clients) for entity in self.entities}


def _join(root: str, *parts: str) -> str:
    """``parts`` appended to a folder or to the path of a URL (before its query)."""
    if "://" not in root:
        return posixpath.join(root, *parts)
    url = urllib.parse.urlsplit(root)
    return urllib.parse.urlunsplit(url._replace(path=posixpath.join(url.path or "/", *parts)))


def _absolute(root: str) -> str:
    """A local root made absolute on the driver: a worker's working directory differs."""
    return root if "://" in root else posixpath.abspath(root)


def _filesystem(root: str) -> tuple[pafs.FileSystem, str]:
    """The root's filesystem (as the sink opens it) and the path of ``_work`` in it."""
    fs, base = open_filesystem(root)
    return fs, posixpath.join(base, SCRATCH_FOLDER)


def stage_inputs(
    frames: Mapping[str, pl.LazyFrame], root: str, run_id: str, *, shards: int = 1
) -> StagedInputs:
    """Write ``frames`` to ``<root>/_work/<run_id>/<entity>.parquet`` for the units to scan.

    Rows are sorted by ``client_id`` (stable: a client's rows keep their order) in row groups
    of about a quarter of a shard, with statistics, so a shard's scan skips the row groups
    of other client ranges. Scratch folders of earlier runs are removed first: one run
    writes to an output root at a time (docs/distributed.md), so they belong to runs that
    were killed before they could clean up.
    """
    root = _absolute(root)
    fs, scratch = _filesystem(root)
    _remove_stale(fs, scratch, keep=run_id)
    folder = posixpath.join(scratch, run_id)
    if fs.type_name not in FOLDERLESS:
        fs.create_dir(folder, recursive=True)
    keyed = _client_frames(frames)
    for entity, frame in frames.items():
        rows = (
            frame.sort("client_id", nulls_last=True, maintain_order=True)
            if entity in keyed
            else frame
        )
        table = rows.collect().to_arrow()
        group = math.ceil(table.num_rows / max(1, shards * SCRATCH_ROW_GROUPS_PER_SHARD))
        with fs.open_output_stream(posixpath.join(folder, f"{entity}.parquet")) as stream:
            pq.write_table(
                table,
                stream,
                compression="zstd",
                row_group_size=min(ROW_GROUP_SIZE, max(MIN_SCRATCH_ROW_GROUP, group)),
                write_statistics=True,
            )
    return StagedInputs(root, run_id, tuple(frames), tuple(keyed))


def _remove_stale(fs: pafs.FileSystem, scratch: str, *, keep: str) -> None:
    selector = pafs.FileSelector(scratch, allow_not_found=True)
    for info in fs.get_file_info(selector):
        if info.base_name == keep:
            continue
        with contextlib.suppress(OSError):
            if info.type == pafs.FileType.Directory:
                fs.delete_dir(info.path)
            else:
                fs.delete_file(info.path)


def remove_inputs(inputs: StagedInputs) -> None:
    """Delete the run's scratch folder, and ``_work`` itself once it is empty."""
    fs, scratch = _filesystem(inputs.root)
    with contextlib.suppress(FileNotFoundError):
        fs.delete_dir(posixpath.join(scratch, inputs.run_id))
    with contextlib.suppress(OSError):
        if not fs.get_file_info(pafs.FileSelector(scratch, allow_not_found=True)):
            fs.delete_dir(scratch)


@contextlib.contextmanager
def staged_inputs(
    frames: Mapping[str, pl.LazyFrame], root: str, run_id: str, *, shards: int = 1
) -> Iterator[StagedInputs]:
    """:func:`stage_inputs` for the block, removed when it ends, however it ends.

    A removal that fails (the store unreachable) only warns: the metrics are computed, and
    the next partitioned run on the root removes the leftover before staging its own.
    """
    inputs = StagedInputs(_absolute(root), run_id, (), ())  # what to remove if staging fails
    try:
        inputs = stage_inputs(frames, root, run_id, shards=shards)
        yield inputs
    finally:
        try:
            remove_inputs(inputs)
        except OSError as exc:
            warnings.warn(
                f"could not remove the scratch inputs {inputs.location}: {exc}",
                RuntimeWarning,
                stacklevel=2,
            )


# -- units of work ----------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkUnit:
    """One independent piece of a partitioned metric computation."""

    kind: Literal["shard", "whole"]
    index: int
    count: int
    """How many units of this kind the run has."""
    metrics: tuple[str, ...]
    """Names of the metric specs to compute."""
    clients: tuple[str, ...] | None = None
    """A shard's clients (None for a whole-data unit)."""

    @property
    def label(self) -> str:
        """``shard-2-of-3`` or ``all-clients-1-of-3``: the Prefect task run's name."""
        kind = "shard" if self.kind == "shard" else "all-clients"
        return f"{kind}-{self.index + 1}-of-{self.count}"


def plan_units(
    plan: MetricPlan, shards: Sequence[Sequence[str]], whole_units: int
) -> list[WorkUnit]:
    """The shard units (client-separable metrics, one per shard), then the whole-data units:
    every metric, in at most ``whole_units`` runs of metrics sorted by the entities they
    read, so a whole-data unit scans few entities (each reads its entities in full)."""
    separable = tuple(spec.name for spec in plan.specs if spec.client_separable)
    units: list[WorkUnit] = []
    if separable:
        units += [
            WorkUnit("shard", i, len(shards), separable, tuple(clients))
            for i, clients in enumerate(shards)
        ]
    by_input = sorted(plan.specs, key=lambda s: (s.inputs, s.optional_inputs, s.name))
    names = [spec.name for spec in by_input]
    count = min(max(1, whole_units), len(names))
    bounds = [len(names) * i // count for i in range(count + 1)]
    units += [
        WorkUnit("whole", i, count, tuple(names[bounds[i] : bounds[i + 1]])) for i in range(count)
    ]
    return units


def compute_metrics_partition(
    plan: MetricPlan,
    inputs: StagedInputs,
    clients: Sequence[str] | None,
    *,
    metrics: Collection[str] | None = None,
) -> pl.DataFrame:
    """One partition's metric rows (result shape, unsorted), read from the staged inputs.

    With ``clients``: the client-separable metrics on those clients' rows, keeping their
    per-client rows. With None: every metric on all the rows, keeping the all-clients rows,
    and all rows of the metrics that are not client-separable. ``metrics`` narrows the
    metrics computed (spec names).
    """
    specs = [s for s in plan.specs if metrics is None or s.name in metrics]
    if clients is not None:
        wanted = list(clients)
        return evaluate_metrics(
            plan.context,
            [s for s in specs if s.client_separable],
            inputs.frames(clients),
            keep=lambda _spec: pl.col("client_id").is_in(wanted),
        )

    def whole(spec: MetricSpec) -> pl.Expr | None:
        return pl.col("client_id").is_null() if spec.client_separable else None

    return evaluate_metrics(plan.context, specs, inputs.frames(), keep=whole)


def run_unit(plan: MetricPlan, inputs: StagedInputs, unit: WorkUnit) -> pl.DataFrame:
    """Compute ``unit``: what a worker runs."""
    return compute_metrics_partition(plan, inputs, unit.clients, metrics=unit.metrics)


def merge_partitions(parts: Sequence[pl.DataFrame]) -> pl.DataFrame:
    """The units' rows as one frame in :data:`cxpipe.run.METRIC_ORDER`, the order
    :func:`cxpipe.run.compute_metrics` returns; no two units emit the same row."""
    if not parts:
        return RESULT_SCHEMA.to_frame()
    merged = pl.concat([part.select(RESULT_SCHEMA.names()) for part in parts], how="vertical")
    return merged.sort(METRIC_ORDER, nulls_last=True)


RunUnits = Callable[[MetricPlan, StagedInputs, Sequence[WorkUnit]], list[pl.DataFrame]]
"""Runs units and returns their rows in the units' order: here by default, or a Prefect
task runner's futures in the flow."""


def run_units_here(
    plan: MetricPlan, inputs: StagedInputs, units: Sequence[WorkUnit]
) -> list[pl.DataFrame]:
    """Run every unit in this process, one after the other."""
    return [run_unit(plan, inputs, unit) for unit in units]


def ship_local_plugins_by_value(plan: MetricPlan) -> None:
    """Make the code of metrics from a local plugins folder travel to workers by value.

    Such a module is named ``cxpipe_local_plugins.<file>`` in this process only; pickled by
    reference (the default for importable modules), a worker could not import it back.
    """
    import cloudpickle  # type: ignore[import-untyped]

    for spec in plan.specs:
        module = getattr(spec.function, "__module__", "") or ""
        if module.startswith(LOCAL_PLUGIN_PACKAGE) and module in sys.modules:
            cloudpickle.register_pickle_by_value(sys.modules[module])


def compute_metrics_partitioned(
    ctx: RunContext,
    frames: Mapping[str, pl.LazyFrame],
    partitions: int,
    *,
    run_units: RunUnits = run_units_here,
) -> tuple[pl.DataFrame, dict[str, str]]:
    """:func:`cxpipe.run.compute_metrics`, computed as independent units.

    Stages the inputs under the output root, plans ``partitions`` client shards and up to
    ``partitions`` whole-data units, runs them with ``run_units`` and merges their rows.
    The scratch folder is removed whatever happens. Returns the same values (in the same
    order) and skipped metrics as ``compute_metrics``.
    """
    plan = plan_metrics(ctx, frames)
    ship_local_plugins_by_value(plan)
    with ctx.timed("metrics"):
        shards = plan_shards(frames, partitions)
        start = time.perf_counter()
        with staged_inputs(frames, ctx.output_root, ctx.run_id, shards=len(shards)) as inputs:
            ctx.timings["metrics:stage_inputs"] = round(time.perf_counter() - start, 3)
            units = plan_units(plan, shards, partitions)
            parts = run_units(plan, inputs, units)
        values = merge_partitions(parts)
    return stamp_metric_values(ctx, plan, values), dict(plan.skipped)


__all__ = [
    "SCRATCH_FOLDER",
    "RunUnits",
    "StagedInputs",
    "WorkUnit",
    "compute_metrics_partition",
    "compute_metrics_partitioned",
    "merge_partitions",
    "plan_shards",
    "plan_units",
    "remove_inputs",
    "run_unit",
    "run_units_here",
    "stage_inputs",
    "staged_inputs",
]
