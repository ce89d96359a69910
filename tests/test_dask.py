"""The flow on a real local Dask cluster, partitioned by client: the same values, bit for bit.

One Prefect server and one two-worker ``LocalCluster`` (separate processes) for the module.
The run reads the demo data with a business-hours clock (so the clock travels to the
workers) and a local plugin folder holding a metric that is *not* client-separable (so its
code travels by value, and its per-client rows come from the whole-data units).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask
import polars as pl
import pytest
from distributed import Client, LocalCluster, get_task_stream
from polars.testing import assert_frame_equal
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import State
from prefect.settings import (
    PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
    PREFECT_HOME,
    PREFECT_SERVER_ANALYTICS_ENABLED,
    temporary_settings,
)
from prefect.testing.utilities import prefect_test_harness

from cxpipe.config import load_config
from cxpipe.demo.config import demo_config_text
from cxpipe.partition import SCRATCH_FOLDER
from cxpipe.run import run_pipeline
from cxpipe_dask_flow import dask_flow
from cxpipe_flow import cxpipe_run

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

PARTITIONS = 3

SHARE_PLUGIN = '''
import polars as pl

from cxpipe import hookimpl, metric
from cxpipe.metrics.aggregate import finish, period_start


def _shares(tickets, grain):
    """A module-level helper: shipped to the workers with the metric, by value."""
    keyed = tickets.with_columns(_period_start=period_start("opened_at", grain))
    everyone = keyed.group_by("_period_start").agg(_all=pl.len())
    return keyed.group_by("_period_start", "client_id").agg(_n=pl.len()).join(
        everyone, on="_period_start"
    )


@metric(
    name="dasktest.ticket_share_pct",
    title="Share of all tickets",
    description="A client's tickets opened in the period as a share of every client's.",
    unit="%",
    polarity="neutral",
    inputs=("tickets",),
    client_separable=False,
)
def ticket_share_pct(ctx, tickets):
    rows = _shares(tickets, ctx.grain).select(
        "_period_start",
        "client_id",
        _segment=pl.lit(None, pl.String),
        value=pl.col("_n") / pl.col("_all") * 100.0,
        numerator=pl.col("_n").cast(pl.Float64),
        denominator=pl.col("_all").cast(pl.Float64),
        sample_size=pl.col("_n"),
    )
    return finish(rows, metric="dasktest.ticket_share_pct", grain=ctx.grain)


@hookimpl
def cxpipe_register_metrics(registry):
    registry.add_metric(ticket_share_pct)
'''

BUSINESS_TIME = """
[business_time.calendars.default]
timezone = "Europe/Paris"
holidays = [2025-12-24, 2025-12-31]

[business_time.calendars.default.hours]
mon = ["09:00-12:30", "13:30-17:00"]
tue = ["09:00-17:00"]
wed = ["09:00-17:00"]
thu = ["09:00-17:00"]
fri = ["09:00-16:00"]
"""


@dataclass
class DaskRun:
    state: State[Any]
    output: Path
    tasks: list[dict[str, Any]]
    """Dask's task stream while the flow ran: which worker ran what."""
    workers: set[str]


@pytest.fixture(scope="module")
def dask_config(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo config with absolute data paths, business hours and the share plugin."""
    folder = tmp_path_factory.mktemp("dask-config")
    (folder / "plugins").mkdir()
    (folder / "plugins" / "share.py").write_text(SHARE_PLUGIN, encoding="utf-8")
    text = demo_config_text().replace('path = "', f'path = "{demo_dir}/')
    text = text.replace('output = "output"', 'output = "output"\nplugins_dir = "plugins"')
    config = folder / "cxpipe.toml"
    config.write_text(text + BUSINESS_TIME, encoding="utf-8")
    return config


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A temporary Prefect server for the module (as in test_flow.py)."""
    updates = {
        PREFECT_HOME: tmp_path_factory.mktemp("prefect-home"),
        PREFECT_SERVER_ANALYTICS_ENABLED: False,
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None,
    }
    with temporary_settings(updates=updates), prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    """Two worker processes of one thread each: the units must spread over processes."""
    with (
        dask.config.set({"logging.distributed": "warning"}),
        LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=40,
        ) as local,
    ):
        yield local


@pytest.fixture(scope="module")
def dask_run(
    prefect_server: None,
    cluster: LocalCluster,
    dask_config: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> DaskRun:
    output = tmp_path_factory.mktemp("dask-output")
    flow = dask_flow(cluster.scheduler_address)
    client = Client(cluster)  # type: ignore[no-untyped-call]
    with client, get_task_stream(client=client) as stream:
        state: State[Any] = flow(  # type: ignore[assignment]
            config_path=str(dask_config),
            output=str(output),
            partitions=PARTITIONS,
            return_state=True,
        )
        workers = set(client.scheduler_info()["workers"])
    return DaskRun(state, output, list(stream.data), workers)


def _table(root: Path, name: str, order: list[str]) -> pl.DataFrame:
    """An output table without the columns that differ from run to run, in one order."""
    pattern = "*/*.parquet" if name == "metric_values" else "*.parquet"
    frame = pl.read_parquet(root / name / pattern)
    return frame.drop("run_id", "computed_at").sort(order, nulls_last=True)


def test_dask_run_completes_with_the_single_process_values(
    dask_run: DaskRun, dask_config: Path, tmp_path: Path
) -> None:
    assert dask_run.state.is_completed(), dask_run.state.message
    single = run_pipeline(load_config(dask_config), output=str(tmp_path))
    order = ["metric", "period_grain", "period_start", "client_id", "segment"]
    partitioned = _table(dask_run.output, "metric_values", order)
    whole = _table(tmp_path, "metric_values", order)
    assert partitioned.height == single.metric_values.height > 0
    # Exact: not a tolerance. Every float sum is exact, so no grouping order can show.
    assert_frame_equal(partitioned, whole, check_exact=True)
    assert partitioned.equals(whole, null_equal=True)
    shares = partitioned.filter(pl.col("metric") == "dasktest.ticket_share_pct")
    assert shares.get_column("client_id").drop_nulls().n_unique() > PARTITIONS
    assert (
        partitioned.filter(pl.col("metric") == "mttr_critical_hours")["unit"]
    ).unique().to_list() == ["business hours"]


def test_the_units_ran_on_the_dask_workers(dask_run: DaskRun) -> None:
    # Only the metric units go to Dask (sources are read where the flow runs): 3 shards and
    # 3 whole-data units, each on one of the cluster's worker processes, and both used.
    keys = sorted(str(t["key"]) for t in dask_run.tasks)
    assert all(key.startswith("metrics_partition-") for key in keys), keys
    units = [t for t in dask_run.tasks if t["status"] == "OK"]
    assert len(units) == len(dask_run.tasks) == 2 * PARTITIONS, keys
    ran_on = {t["worker"] for t in units}
    assert ran_on <= dask_run.workers
    assert len(ran_on) == 2
    with get_client(sync_client=True) as client:
        flow_run_id = dask_run.state.state_details.flow_run_id
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
    names = {run.name: run.state_type for run in runs if run.name.startswith("metrics-")}
    expected = {f"metrics-shard-{i}-of-{PARTITIONS}" for i in range(1, PARTITIONS + 1)}
    expected |= {f"metrics-all-clients-{i}-of-{PARTITIONS}" for i in range(1, PARTITIONS + 1)}
    assert set(names) == expected
    assert {str(state) for state in names.values()} == {"StateType.COMPLETED"}


def test_scratch_is_gone_and_the_manifest_is_complete(dask_run: DaskRun) -> None:
    assert not (dask_run.output / SCRATCH_FOLDER).exists()
    (manifest_file,) = (dask_run.output / "_runs").glob("*.json")
    manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    timings = manifest["timings_seconds"]
    # The sources were read in the flow's process: their timings reached the manifest.
    assert {"extract:tickets", "validate:tickets", "metrics", "metrics:stage_inputs"} <= set(
        timings
    )
    for source in manifest["sources"]:
        assert source["rows_read"] == source["rows_kept"] + source["rows_quarantined"]


def test_partitions_on_the_default_task_runner_give_the_same_values(
    dask_run: DaskRun, dask_config: Path, tmp_path: Path
) -> None:
    """Without Dask the units are threads of the flow's process: the same rows again."""
    state = cxpipe_run(
        config_path=str(dask_config), output=str(tmp_path), partitions=2, return_state=True
    )
    assert state.is_completed(), state.message
    order = ["metric", "period_grain", "period_start", "client_id", "segment"]
    assert_frame_equal(
        _table(tmp_path, "metric_values", order),
        _table(dask_run.output, "metric_values", order),
        check_exact=True,
    )
    assert not (tmp_path / SCRATCH_FOLDER).exists()
