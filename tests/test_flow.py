"""The Prefect flow, run for real on a temporary local Prefect server.

One server (``prefect_test_harness``) serves the whole module: its start is most of the
cost. The flow must produce exactly what :func:`cxpipe.run.run_pipeline` produces, publish
its headline artifact, retry a transient source error and fail fast on an input error.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterKey,
)
from prefect.client.schemas.objects import State
from prefect.settings import (
    PREFECT_API_URL,
    PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
    PREFECT_HOME,
    PREFECT_SERVER_ALLOW_EPHEMERAL_MODE,
    PREFECT_SERVER_ANALYTICS_ENABLED,
    temporary_settings,
)
from prefect.testing.utilities import prefect_test_harness

from cxpipe.config import load_config
from cxpipe.demo.config import demo_config_text
from cxpipe.demo.generator import write_demo_files
from cxpipe.errors import SourceError
from cxpipe.report import headline_markdown
from cxpipe.run import run_pipeline, start_run
from cxpipe_flow import (
    ARTIFACT_KEY,
    SCORECARD_ARTIFACT_KEY,
    cxpipe_run,
    extract,
    metrics_and_write,
    validate,
)

pytestmark = pytest.mark.timeout(300)

# A source kind whose first read fails the way a flaky network share or API does. Each
# attempt appends a line to a log next to the config, so the test counts attempts from
# the outside, independent of Prefect's bookkeeping.
FLAKY_PLUGIN = """
from datetime import datetime
from pathlib import Path

from cxpipe import hookimpl
from cxpipe.sources.files import FileOptions, FileSource


class FlakyOptions(FileOptions):
    attempts_log: str
    fail_first: bool


class FlakyFileSource(FileSource):
    kind = "flaky_file"
    Options = FlakyOptions

    def extract(self, since: datetime | None = None):
        log = Path(self.resolve(self.options.attempts_log))
        with log.open("a", encoding="utf-8") as handle:
            handle.write("attempt\\n")
        attempts = len(log.read_text(encoding="utf-8").splitlines())
        if self.options.fail_first and attempts == 1:
            raise ConnectionError("connection reset by peer")
        return super().extract(since)


@hookimpl
def cxpipe_register_sources(registry):
    registry.add_source(FlakyFileSource)
"""


BAD_PROJECTS = (
    "P9998,C01,Negative budget,completed,2025-01-01,2025-02-01,,-1000.0,900.0,EUR,1,1,1,1\n"
    "P9999,C01,Bad date,completed,someday,2025-02-01,2025-02-03,1000.0,900.0,EUR,1,1,1,1\n"
)


@dataclass
class FlowRun:
    state: State[Any]
    manifest: dict[str, Any]
    output: Path

    @property
    def flow_run_id(self) -> UUID:
        flow_run_id = self.state.state_details.flow_run_id
        assert flow_run_id is not None
        return flow_run_id


def _duck(query: str) -> list[tuple[Any, ...]]:
    return duckdb.connect().execute(query).fetchall()


def _metric_rows(root: Path) -> pl.DataFrame:
    """Every metric value, without the columns that differ from run to run, in one order."""
    order = ["metric", "period_start", "client_id", "segment"]
    values = pl.read_parquet(root / "metric_values" / "*" / "*.parquet")
    return values.drop("run_id", "computed_at").sort(order, nulls_last=True)


@pytest.fixture(scope="module")
def demo_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("demo")
    write_demo_files(data, seed=7, tickets=5_000)
    # Two bad project rows, so the run has something to quarantine.
    with (data / "projects.csv").open("a", encoding="utf-8") as projects:
        projects.write(BAD_PROJECTS)
    config = data / "cxpipe.toml"
    config.write_text(demo_config_text(), encoding="utf-8")
    return config


def test_task_bodies_run_without_a_server(demo_config: Path, tmp_path: Path) -> None:
    # An unreachable API and no ephemeral server: any call into Prefect would fail.
    no_server = {
        PREFECT_API_URL: "http://127.0.0.1:9/api",
        PREFECT_SERVER_ALLOW_EPHEMERAL_MODE: False,
    }
    config = load_config(demo_config)
    wanted = [s for s in config.enabled_sources() if s.name in {"clients", "projects"}]
    with temporary_settings(updates=no_server):
        ctx = start_run(config, str(tmp_path))
        validated = [validate.fn(ctx, extract.fn(ctx, source)) for source in wanted]
        result = metrics_and_write.fn(ctx, validated)
    assert [v.name for v in validated] == ["clients", "projects"]
    assert result.metric_values.height > 0
    assert (tmp_path / "_runs" / f"{result.run_id}.json").is_file()


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One temporary Prefect server for the module, with its own PREFECT_HOME.

    No heartbeats: they cost about a second per flow run and detect crashed runs, which a
    test does not need. Analytics off: they try to reach the network.
    """
    updates = {
        PREFECT_HOME: tmp_path_factory.mktemp("prefect-home"),
        PREFECT_SERVER_ANALYTICS_ENABLED: False,
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None,
    }
    with temporary_settings(updates=updates), prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="module")
def demo_flow_run(
    prefect_server: None, demo_config: Path, tmp_path_factory: pytest.TempPathFactory
) -> FlowRun:
    output = tmp_path_factory.mktemp("flow-output")
    state = cxpipe_run(config_path=str(demo_config), output=str(output), return_state=True)
    manifest = state.result() if state.is_completed() else {}
    return FlowRun(state, manifest, output)


@pytest.mark.slow
def test_flow_completes_and_accounts_for_every_row(demo_flow_run: FlowRun) -> None:
    assert demo_flow_run.state.is_completed(), demo_flow_run.state.message
    manifest = demo_flow_run.manifest
    on_disk = json.loads(
        (demo_flow_run.output / "_runs" / f"{manifest['run_id']}.json").read_text(encoding="utf-8")
    )
    # The sink writes datetimes with str(), so compare what a reader of the file would see.
    assert on_disk["sources"] == json.loads(json.dumps(manifest["sources"], default=str))
    # The config's order, not the order the concurrent extracts happened to finish in.
    assert [s["name"] for s in manifest["sources"]] == [
        "clients",
        "tickets",
        "projects",
        "surveys",
        "invitations",
        "followups",
    ]
    for source in manifest["sources"]:
        assert source["rows_read"] > 0, source["name"]
        assert source["rows_read"] == source["rows_kept"] + source["rows_quarantined"]
    by_name = {s["name"]: s for s in manifest["sources"]}
    assert by_name["tickets"]["rows_read"] == 5_000
    assert by_name["projects"]["rows_quarantined"] == 2
    assert {"extract:tickets", "validate:tickets", "metrics"} <= set(on_disk["timings_seconds"])


@pytest.mark.slow
def test_flow_outputs_read_back_with_duckdb(demo_flow_run: FlowRun) -> None:
    root, manifest = demo_flow_run.output, demo_flow_run.manifest
    assert (root / "_runs" / f"{manifest['run_id']}.json").is_file()
    assert _duck(f"select count(*) from read_parquet('{root}/metric_values/*/*.parquet')") == [
        (manifest["metrics"]["rows"],)
    ]
    assert _duck(
        f"select count(distinct metric) from read_parquet('{root}/metric_values/*/*.parquet')"
    ) == [(len(manifest["metrics"]["computed"]),)]
    clients = next(s for s in manifest["sources"] if s["name"] == "clients")
    assert _duck(f"select count(*) from '{root}/dim_client/part-0.parquet'") == [
        (clients["rows_kept"],)
    ]
    assert _duck(f"select count(*) from '{root}/dim_metric/part-0.parquet'")[0][0] > 0
    for source in manifest["sources"]:
        quarantine = root / "quarantine" / source["entity"] / f"source={source['name']}"
        if source["rows_quarantined"]:
            rows = _duck(f"select project_id from '{quarantine}/part-0.parquet' order by all")
            assert rows == [("P9998",), ("P9999",)]
        else:
            assert not quarantine.exists(), source["name"]


@pytest.mark.slow
def test_flow_metrics_equal_run_pipeline(
    demo_flow_run: FlowRun, demo_config: Path, tmp_path: Path
) -> None:
    result = run_pipeline(load_config(demo_config), output=str(tmp_path))
    flow_rows = _metric_rows(demo_flow_run.output)
    assert len(flow_rows) == result.metric_values.height > 0
    # Same rows and counts; floats to 1e-12 (parallel sums may differ in the last bit).
    assert_frame_equal(flow_rows, _metric_rows(tmp_path), rel_tol=1e-12, abs_tol=1e-12)
    accounting = ("name", "entity", "rows_read", "rows_kept", "rows_quarantined")
    assert [{k: s[k] for k in accounting} for s in demo_flow_run.manifest["sources"]] == [
        {k: s[k] for k in accounting} for s in result.manifest["sources"]
    ]


@pytest.mark.slow
def test_flow_publishes_the_headline_artifact(demo_flow_run: FlowRun) -> None:
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[ARTIFACT_KEY]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[demo_flow_run.flow_run_id]),
            )
        )
    assert len(artifacts) == 1
    artifact = artifacts[0]
    manifest = demo_flow_run.manifest
    assert artifact.type == "markdown"
    assert artifact.description == f"cxpipe run {manifest['run_id']}"
    # The same table the CLI prints, built from what was written to disk.
    values = pl.read_parquet(demo_flow_run.output / "metric_values" / "*" / "*.parquet")
    assert artifact.data == headline_markdown(values, manifest)
    assert "| ticket_volume |" in artifact.data
    assert "## Row accounting" in artifact.data
    for source in manifest["sources"]:
        row = (
            f"| {source['name']} | {source['entity']} | {source['rows_read']} "
            f"| {source['rows_kept']} | {source['rows_quarantined']} |"
        )
        assert row in artifact.data


def _flaky_config(folder: Path, demo_config: Path, *, clients_file: str, fail_first: bool) -> Path:
    """A two-source config whose clients are read by the flaky plugin source."""
    plugins = folder / "plugins"
    plugins.mkdir()
    (plugins / "flaky.py").write_text(FLAKY_PLUGIN, encoding="utf-8")
    data = demo_config.parent
    flaky = (
        f'path = "{data / clients_file}", attempts_log = "attempts.log", '
        f"fail_first = {str(fail_first).lower()}"
    )
    config = folder / "cxpipe.toml"
    config.write_text(
        f"""
[run]
output = "output"
plugins_dir = "plugins"

[[sources]]
name = "clients"
kind = "flaky_file"
entity = "clients"
options = {{ {flaky} }}

[[sources]]
name = "projects"
kind = "file"
entity = "projects"
options = {{ path = "{data / "projects.csv"}" }}
""",
        encoding="utf-8",
    )
    return config


def _attempts(folder: Path) -> int:
    return len((folder / "attempts.log").read_text(encoding="utf-8").splitlines())


@pytest.mark.slow
def test_transient_source_error_is_retried(
    prefect_server: None, demo_config: Path, tmp_path: Path
) -> None:
    config = _flaky_config(tmp_path, demo_config, clients_file="clients.csv", fail_first=True)
    state = cxpipe_run(config_path=str(config), retry_delay_seconds=0, return_state=True)
    assert state.is_completed(), state.message
    assert _attempts(tmp_path) == 2
    manifest = state.result()
    clients = next(s for s in manifest["sources"] if s["name"] == "clients")
    assert clients["rows_read"] == clients["rows_kept"] + clients["rows_quarantined"] > 0
    assert (tmp_path / "output" / "_runs" / f"{manifest['run_id']}.json").is_file()


@pytest.mark.slow
def test_input_error_fails_fast_without_retry(
    prefect_server: None, demo_config: Path, tmp_path: Path
) -> None:
    config = _flaky_config(tmp_path, demo_config, clients_file="missing.csv", fail_first=False)
    state = cxpipe_run(config_path=str(config), retry_delay_seconds=0, return_state=True)
    assert state.is_failed()
    error = state.result(raise_on_failure=False)
    assert isinstance(error, SourceError)
    assert "no file matches" in str(error)
    assert "missing.csv" in (state.message or "")
    assert _attempts(tmp_path) == 1
    assert not (tmp_path / "output" / "_runs").exists()


@pytest.mark.slow
def test_flow_renders_the_scorecard_and_links_it_as_an_artifact(demo_flow_run: FlowRun) -> None:
    run_id = demo_flow_run.manifest["run_id"]
    page = demo_flow_run.output / "scorecards" / f"{run_id}.html"
    assert page.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    with get_client(sync_client=True) as client:
        (artifact,) = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[SCORECARD_ARTIFACT_KEY]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[demo_flow_run.flow_run_id]),
            )
        )
    assert artifact.type == "markdown"  # Prefect stores a link artifact as markdown
    assert page.resolve().as_uri() in str(artifact.data)
    assert f"Scorecard of run {run_id}" in str(artifact.data)
