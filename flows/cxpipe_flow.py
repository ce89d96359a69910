"""The Prefect flow: the library's run steps, one task each, nothing more.

Run it ad hoc with no Prefect server (Prefect starts a temporary local one)::

    python flows/cxpipe_flow.py --config path/to/cxpipe.toml [--output DIR]

Sources are extracted concurrently, each with retries (an error that is the input's fault,
a :class:`cxpipe.errors.CxpipeError`, is not retried: it would fail the same way). Each
validation starts as soon as its source is read. Then metrics, the write, and a markdown
artifact with the headline figures and the row accounting. All logic lives in
:mod:`cxpipe.run`; the task bodies can be called without Prefect through ``task.fn``.

With ``partitions`` above 1 the metrics are computed as independent units (client shards
and whole-data units, :mod:`cxpipe.partition`), each a task submitted to the flow's task
runner: with Prefect's Dask task runner (``flows/cxpipe_dask_flow.py``) they run on the
Dask workers. Sources are read and validated on the flow's own machine whatever the task
runner, and so are the signals, details, action plan and the write. docs/distributed.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

# Measured on this project's machines (STACK-NOTES): the ephemeral server's first start can
# exceed Prefect's default 20 s timeout, and analytics try to reach the network.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State, TaskRun
from prefect.context import FlowRunContext
from prefect.futures import PrefectFuture, as_completed, wait
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner
from prefect.tasks import Task
from prefect.utilities.annotations import opaque, quote

from cxpipe.config import SourceConfig, load_config
from cxpipe.errors import CxpipeError
from cxpipe.partition import StagedInputs, WorkUnit, compute_metrics_partitioned, run_unit
from cxpipe.report import headline_markdown
from cxpipe.run import (
    ConformedSource,
    MetricPlan,
    RunContext,
    RunResult,
    ValidatedSource,
    canonical_frames,
    compute_derived,
    compute_metrics,
    extract_source,
    fail_run,
    finish_run,
    publish_scorecard,
    start_run,
    validate_source,
    write_outputs,
)

ARTIFACT_KEY = "cxpipe-headlines"
SCORECARD_ARTIFACT_KEY = "cxpipe-scorecard"
EXTRACT_RETRIES = 2
EXTRACT_RETRY_DELAY_SECONDS = 5.0


def _retry_unless_input_error(_task: Any, _run: TaskRun, state: State[Any]) -> bool:
    """Retry what may be transient (a dropped connection); an input error would recur."""
    try:
        state.result()
    except CxpipeError:
        return False
    except Exception:
        return True
    return False


@task(
    retries=EXTRACT_RETRIES,
    retry_delay_seconds=EXTRACT_RETRY_DELAY_SECONDS,
    retry_condition_fn=_retry_unless_input_error,
    cache_policy=NO_CACHE,
    task_run_name="extract-{source_config.name}",
)
def extract(ctx: RunContext, source_config: SourceConfig) -> ConformedSource:
    """Read and conform one source: a task of its own so that it retries alone."""
    return extract_source(ctx, source_config)


@task(cache_policy=NO_CACHE, task_run_name="validate-{conformed.config.name}")
def validate(ctx: RunContext, conformed: ConformedSource) -> ValidatedSource:
    """Validate one source, so its quarantine count shows on its own task run."""
    return validate_source(ctx, conformed)


@task(cache_policy=NO_CACHE)
def metrics_and_write(ctx: RunContext, validated: list[ValidatedSource]) -> RunResult:
    """Metrics and the write in one task: the frames they share stay in one place."""
    frames = canonical_frames(validated)
    values, skipped = compute_metrics(ctx, frames)
    return _derive_and_write(ctx, validated, values, skipped)


@task(cache_policy=NO_CACHE, task_run_name="metrics-{unit.label}")
def metrics_partition(plan: MetricPlan, inputs: StagedInputs, unit: WorkUnit) -> pl.DataFrame:
    """One unit of a partitioned metric computation; it reads its own rows from storage, so
    it runs on any worker that reaches the output root. (Only library names in the body: the
    task is shipped to Dask workers by value, where this flow file is not importable.)"""
    return run_unit(plan, inputs, unit)


@task(cache_policy=NO_CACHE)
def derive_and_write(
    ctx: RunContext, validated: list[ValidatedSource], values: pl.DataFrame, skipped: dict[str, str]
) -> RunResult:
    """Signals, detail tables, action plan and the write, after a partitioned metric run."""
    return _derive_and_write(ctx, validated, values, skipped)


def _derive_and_write(
    ctx: RunContext, validated: list[ValidatedSource], values: pl.DataFrame, skipped: dict[str, str]
) -> RunResult:
    frames = canonical_frames(validated)
    derived, skipped_derived = compute_derived(ctx, frames, values)
    all_skipped = {**skipped, **skipped_derived}
    return write_outputs(ctx, validated, frames, values, all_skipped, derived=derived)


def _submit_units(
    plan: MetricPlan, inputs: StagedInputs, units: Sequence[WorkUnit]
) -> list[pl.DataFrame]:
    """Every unit as a task on the flow's task runner; all are waited for before any
    result is read, so the scratch inputs are not removed under a running unit."""
    # Not quote()d: prefect-dask rebuilds annotations as plain tuples on the way to a worker.
    futures = [metrics_partition.submit(plan, inputs, unit) for unit in units]
    wait(futures)
    return [future.result() for future in futures]


def _metrics_partitioned_and_write(
    ctx: RunContext, validated: list[ValidatedSource], partitions: int
) -> RunResult:
    frames = canonical_frames(validated)
    values, skipped = compute_metrics_partitioned(ctx, frames, partitions, run_units=_submit_units)
    return derive_and_write(_as_is(ctx), validated, values, skipped)


@task(cache_policy=NO_CACHE)
def publish(result: RunResult) -> None:
    """The headline table and row accounting as an artifact, readable in the Prefect UI,
    and a link to the run's scorecard."""
    create_markdown_artifact(
        key=ARTIFACT_KEY,
        markdown=headline_markdown(result.metric_values, result.manifest),
        description=f"cxpipe run {result.run_id}",
    )
    if result.scorecard:
        create_link_artifact(
            key=SCORECARD_ARTIFACT_KEY,
            link=scorecard_link(result.scorecard),
            link_text=f"Scorecard of run {result.run_id}",
            description="The run's HTML scorecard (self-contained; opens offline)",
        )


def scorecard_link(where: str) -> str:
    """A local path as a ``file://`` URL; an object-store URL as it is."""
    return where if "://" in where else Path(where).resolve().as_uri()


@task(cache_policy=NO_CACHE)
def scorecard(ctx: RunContext, result: RunResult) -> str:
    """Render the committed run's HTML scorecard: a task of its own, so its time and any
    failure show apart from the committed write."""
    return publish_scorecard(ctx, result)


def _as_is(ctx: RunContext) -> RunContext:
    """``ctx`` wrapped so Prefect hands it to a task without walking into it.

    Prefect walks task arguments looking for futures, and ``ctx.timings`` gains keys while
    concurrent tasks finish: walking a dict that another thread grows can raise. The task
    receives ``ctx`` itself, so the cast only tells mypy what the task will see.
    """
    return cast(RunContext, quote(ctx))


@contextmanager
def _here() -> Iterator[TaskRunner[Any]]:
    """A task runner that runs tasks in this process: the flow's own when it does (the
    default thread pool), else a thread pool for the block.

    Sources are read here under any task runner: their paths, credentials and local plugin
    files are this machine's, the run context (plugin manager, timings) stays in one
    process, and the validated frames, which the write needs here, never cross the network.
    """
    context = FlowRunContext.get()
    runner = context.task_runner if context is not None else None
    if isinstance(runner, ThreadPoolTaskRunner):
        yield runner
        return
    local: ThreadPoolTaskRunner[Any] = ThreadPoolTaskRunner()
    with local:
        yield local


def _read_and_validate(
    ctx: RunContext,
    sources: list[SourceConfig],
    extract_task: Task[[RunContext, SourceConfig], ConformedSource],
) -> list[ValidatedSource]:
    """Extract all sources concurrently; validate each as soon as it is read.

    The first failed extract raises at once (``as_completed``), not after the extracts
    submitted before it. The result keeps the config's source order, as
    :func:`cxpipe.run.run_pipeline` does, so both write the same manifest.
    """
    with _here() as runner:
        extracts = {
            runner.submit(extract_task, {"ctx": _as_is(ctx), "source_config": source}): source.name
            for source in sources
        }
        validations: dict[str, PrefectFuture[ValidatedSource]] = {}
        for done in as_completed(list(extracts)):
            done.result()  # raises the source's own error
            # opaque: Prefect resolves the future but does not walk the conformed frame
            conformed = cast(ConformedSource, opaque(done))
            validations[extracts[done]] = runner.submit(
                validate, {"ctx": _as_is(ctx), "conformed": conformed}
            )
        for checked in as_completed(list(validations.values())):
            checked.result()
        return [validations[source.name].result() for source in sources]


@flow(name="cxpipe-run")
def cxpipe_run(
    config_path: str = "cxpipe.toml",
    output: str | None = None,
    extract_retries: int = EXTRACT_RETRIES,
    retry_delay_seconds: float = EXTRACT_RETRY_DELAY_SECONDS,
    full_refresh: bool = False,
    *,
    partitions: int = 1,
) -> dict[str, Any]:
    """Run a ``cxpipe.toml`` end to end; returns the run manifest.

    The retry settings are parameters so that a deployment (or a test) can tune them.
    ``partitions`` above 1 computes the metrics as that many client shards (plus whole-data
    units) on the task runner, with the same values as one task (docs/distributed.md).
    """
    if partitions < 1:
        raise ValueError(f"partitions must be at least 1, not {partitions}")
    logger = get_run_logger()
    config = load_config(config_path)
    ctx = start_run(config, output, full_refresh=full_refresh)
    extract_task = extract.with_options(
        retries=extract_retries, retry_delay_seconds=retry_delay_seconds
    )
    try:
        validated = _read_and_validate(ctx, config.enabled_sources(), extract_task)
        if partitions > 1:
            result = _metrics_partitioned_and_write(ctx, validated, partitions)
        else:
            result = metrics_and_write(_as_is(ctx), validated)
    except BaseException as error:
        fail_run(ctx, error)  # tells plugins and releases the output root's lock
        raise
    try:
        result.scorecard = scorecard(_as_is(ctx), result)
    finally:  # the outputs are committed: plugins are told even if the page fails
        for failure in finish_run(ctx, result):
            logger.warning("a cxpipe_after_run hook failed: %s", failure)
    # Outputs are committed and plugins told: a failed publish fails the flow run, loudly,
    # but is not reported to plugins as a failed cxpipe run.
    publish(result)
    logger.info(
        "run %s: %d metric rows written under %s",
        result.run_id,
        result.metric_values.height,
        result.output_root,
    )
    return result.manifest


def main() -> None:
    """Run the flow once from the command line; input errors exit 2 like the CLI."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--config", default="cxpipe.toml")
    parser.add_argument("--output", default=None)
    parser.add_argument("--partitions", type=int, default=1, help="client shards (1: one task)")
    args = parser.parse_args()
    try:
        manifest = cxpipe_run(
            config_path=args.config, output=args.output, partitions=args.partitions
        )
    except CxpipeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"run {manifest['run_id']} wrote {manifest['output_root']}")


if __name__ == "__main__":
    main()
