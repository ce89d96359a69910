"""The Prefect flow: the library's run steps, one task each, nothing more.

Run it ad hoc with no Prefect server (Prefect starts a temporary local one)::

    python flows/cxpipe_flow.py --config path/to/cxpipe.toml [--output DIR]

Sources are extracted concurrently, each with retries (an error that is the input's fault,
a :class:`cxpipe.errors.CxpipeError`, is not retried: it would fail the same way). Then
validation, metrics, the write, and a markdown artifact with the headline figures and
the row accounting. All logic lives in :mod:`cxpipe.run`.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

# Measured on this project's machines (STACK-NOTES): the ephemeral server's first start can
# exceed Prefect's default 20 s timeout, and analytics try to reach the network.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State, TaskRun

from cxpipe.config import SourceConfig, load_config
from cxpipe.errors import CxpipeError
from cxpipe.report import headline_markdown
from cxpipe.run import (
    ConformedSource,
    RunContext,
    RunResult,
    ValidatedSource,
    canonical_frames,
    compute_metrics,
    extract_source,
    start_run,
    validate_source,
    write_outputs,
)


def _retry_unless_input_error(_task: Any, _run: TaskRun, state: State[Any]) -> bool:
    try:
        state.result()
    except CxpipeError:
        return False
    except Exception:
        return True
    return False


@task(
    retries=2,
    retry_delay_seconds=5,
    retry_condition_fn=_retry_unless_input_error,
    cache_policy=NO_CACHE,
    task_run_name="extract-{source_config.name}",
)
def extract(ctx: RunContext, source_config: SourceConfig) -> ConformedSource:
    return extract_source(ctx, source_config)


@task(cache_policy=NO_CACHE, task_run_name="validate-{conformed.config.name}")
def validate(ctx: RunContext, conformed: ConformedSource) -> ValidatedSource:
    return validate_source(ctx, conformed)


@task(cache_policy=NO_CACHE)
def metrics_and_write(ctx: RunContext, validated: list[ValidatedSource]) -> RunResult:
    frames = canonical_frames(validated)
    values, skipped = compute_metrics(ctx, frames)
    return write_outputs(ctx, validated, frames, values, skipped)


@task(cache_policy=NO_CACHE)
def publish(result: RunResult) -> None:
    create_markdown_artifact(
        key="cxpipe-headlines",
        markdown=headline_markdown(result.metric_values, result.manifest),
        description=f"cxpipe run {result.run_id}",
    )


@flow(name="cxpipe-run")
def cxpipe_run(config_path: str = "cxpipe.toml", output: str | None = None) -> dict[str, Any]:
    """Run a ``cxpipe.toml`` end to end; returns the run manifest."""
    config = load_config(config_path)
    ctx = start_run(config, output)
    try:
        # Extracts run concurrently; each validation starts as soon as its source is read.
        extracts = [extract.submit(ctx, s) for s in config.enabled_sources()]
        validations = [validate.submit(ctx, e.result()) for e in extracts]
        result = metrics_and_write(ctx, [v.result() for v in validations])
        publish(result)
    except BaseException as error:
        ctx.plugin_manager.hook.cxpipe_on_run_error(run=ctx, error=error)
        raise
    ctx.plugin_manager.hook.cxpipe_after_run(run=ctx, result=result)
    return result.manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="cxpipe.toml")
    parser.add_argument("--output", default=None)
    args = parser.parse_args()
    manifest = cxpipe_run(config_path=args.config, output=args.output)
    print(f"run {manifest['run_id']} wrote {manifest['output_root']}")


if __name__ == "__main__":
    main()
