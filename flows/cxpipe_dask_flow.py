"""The cxpipe flow with its metric partitions on a Dask cluster (Prefect's Dask task runner).

The same flow as ``cxpipe_flow.py``, only its task runner differs: the metric units of a
partitioned run (``partitions`` > 1) are submitted to Dask. Point it at a running cluster
with ``CXPIPE_DASK_ADDRESS``, or let it start a local one for the run::

    CXPIPE_DASK_ADDRESS=tcp://scheduler:8786 \\
        python flows/cxpipe_dask_flow.py --config cxpipe.toml --partitions 8

Workers need cxpipe and the run's metric plugins installed and must reach the output root
(a shared folder or an object store): they read their inputs from there. docs/distributed.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, cast

from prefect import Flow
from prefect.task_runners import TaskRunner
from prefect_dask.task_runners import DaskTaskRunner

from cxpipe.errors import CxpipeError
from cxpipe_flow import cxpipe_run

DASK_ADDRESS_ENV = "CXPIPE_DASK_ADDRESS"
"""The scheduler of an existing Dask cluster (``tcp://scheduler:8786``); unset: a local one."""

DEFAULT_PARTITIONS = 4
"""Client shards when the command line does not say; give about the number of workers."""


def dask_task_runner(address: str | None = None) -> DaskTaskRunner:
    """Prefect's Dask task runner on the cluster at ``address`` (else ``$CXPIPE_DASK_ADDRESS``),
    or on a ``distributed.LocalCluster`` started for the run and stopped after it.

    Local workers are processes with one thread each: polars parallelises inside a unit, so
    more threads per worker would only compete with it.
    """
    address = address or os.environ.get(DASK_ADDRESS_ENV) or None
    if address:
        return DaskTaskRunner(address=address)
    return DaskTaskRunner(
        cluster_class="distributed.LocalCluster",
        cluster_kwargs={"processes": True, "threads_per_worker": 1},
    )


def dask_flow(address: str | None = None) -> Flow[..., dict[str, Any]]:
    """``cxpipe_run`` with the Dask task runner of :func:`dask_task_runner`."""
    # DaskTaskRunner is a TaskRunner of PrefectDaskFutures; Prefect's annotation is invariant.
    runner = cast(TaskRunner[Any], dask_task_runner(address))
    return cxpipe_run.with_options(name="cxpipe-run-dask", task_runner=runner)


cxpipe_dask_run = dask_flow()
"""The entry point for deployments: ``flows/cxpipe_dask_flow.py:cxpipe_dask_run``. The
address is read when this module is imported (in the process that runs the flow)."""


def main() -> None:
    """Run the flow once on Dask from the command line; input errors exit 2 like the CLI."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--config", default="cxpipe.toml")
    parser.add_argument("--output", default=None)
    parser.add_argument("--partitions", type=int, default=DEFAULT_PARTITIONS)
    parser.add_argument("--address", default=None, help=f"default: ${DASK_ADDRESS_ENV}")
    args = parser.parse_args()
    try:
        manifest = dask_flow(args.address)(
            config_path=args.config, output=args.output, partitions=args.partitions
        )
    except CxpipeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"run {manifest['run_id']} wrote {manifest['output_root']}")


if __name__ == "__main__":  # Dask's local worker processes import this module again
    main()
