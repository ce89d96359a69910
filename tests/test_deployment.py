"""The repository's ``prefect.yaml``, deployed for real and run by a process worker.

What a team does, with the commands of docs/deployment.md: a ``prefect server start``
subprocess (its own ``PREFECT_HOME`` and SQLite database in tmp, on a free port), the
``cxpipe-process`` pool capped at one run, a ``prefect worker start`` subprocess,
``prefect deploy --all`` of the real file, then ``prefect deployment run`` of both
deployments at once. Only ``config_path`` and ``output`` are overridden at run time, to
point at a small demo config in tmp; everything else is the file's. Both runs write to one
output root, as the two deployments do in production.

The worker is started outside the checkout: the deployment's pull step, reading
``CXPIPE_CHECKOUT`` from the worker's environment, is what puts the flow in the repository.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import duckdb
import httpx
import polars as pl
import pytest
import yaml  # type: ignore[import-untyped]
from polars.testing import assert_frame_equal
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterKey,
    FlowRunFilter,
    FlowRunFilterName,
)
from prefect.client.schemas.objects import FlowRun
from prefect.client.schemas.responses import DeploymentResponse
from prefect.client.schemas.schedules import CronSchedule
from prefect.settings import (
    PREFECT_API_URL,
    PREFECT_HOME,
    PREFECT_SERVER_ALLOW_EPHEMERAL_MODE,
    temporary_settings,
)

from cxpipe.config import load_config
from cxpipe.demo.config import demo_config_text
from cxpipe.demo.generator import write_demo_files
from cxpipe.run import RunResult, run_pipeline
from cxpipe_flow import ARTIFACT_KEY

pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parents[1]
PREFECT_YAML = ROOT / "prefect.yaml"
FLOW_NAME = "cxpipe-run"
POOL = "cxpipe-process"
DAILY, MONTHLY = "daily", "monthly-full-refresh"
# The venv's own CLI. A process worker starts flow runs with its own interpreter, so this
# is what makes `cxpipe` importable in them.
PREFECT_CLI = str(Path(sys.executable).with_name("prefect"))

TICKETS = 1_000
SERVER_START_TIMEOUT = 90.0  # the first start on an empty PREFECT_HOME migrates the database
RUN_TIMEOUT = 150.0  # both runs, one after the other
CLI_TIMEOUT = 90.0
STOP_TIMEOUT = 20.0
POLL_SECONDS = 0.5


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _environment(home: Path, api_url: str) -> dict[str, str]:
    """The server's, the CLI's and the worker's environment: this server and nothing else.

    Inherited ``PREFECT_*`` variables are dropped (a developer's profile or Cloud key must
    not leak in), and no process may fall back to an ephemeral server of its own. The
    scheduler service is off: the schedules are registered all the same, but a scheduled
    run falling due mid-test would take the pool's only slot.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        PREFECT_HOME=str(home),
        PREFECT_API_URL=api_url,
        PREFECT_API_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{home / 'prefect.db'}",
        PREFECT_SERVER_ALLOW_EPHEMERAL_MODE="false",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_UI_ENABLED="false",
        PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED="false",
        PREFECT_WORKER_QUERY_SECONDS="1",  # default 10: the worker would idle between runs
    )
    return env


def _tail(log: Path, lines: int = 40) -> str:
    text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class Background:
    """A long-running CLI subprocess in a process group of its own, logging to a file."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    @classmethod
    def start(cls, name: str, args: list[str], env: dict[str, str], cwd: Path) -> Background:
        log = cwd / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                args,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its children (uvicorn, flow runs) join its group
            )
        return cls(name, process, log)

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            pytest.fail(f"{self.name} exited with {self.process.returncode}:\n{_tail(self.log)}")

    def stop(self) -> None:
        """SIGTERM to the group (Prefect's graceful stop), then SIGKILL to what outlives it."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=STOP_TIMEOUT)


def _cli(*args: str, env: dict[str, str]) -> str:
    """Run a ``prefect`` command from the repository root, as a user would."""
    done = subprocess.run(
        [PREFECT_CLI, "--no-prompt", *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"prefect {' '.join(args)} failed:\n{output}"
    return output


def _wait_healthy(server: Background, api_url: str) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        server.check_alive()
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{api_url}/health", timeout=2).status_code == 200:
                return
        time.sleep(POLL_SECONDS)
    pytest.fail(f"server not healthy after {SERVER_START_TIMEOUT} s:\n{_tail(server.log)}")


def _wait_final(
    client: SyncPrefectClient, run_names: list[str], worker: Background
) -> dict[str, FlowRun]:
    """Poll the flow runs (created under these names) until each is in a final state."""
    deadline = time.monotonic() + RUN_TIMEOUT
    by_name = FlowRunFilter(name=FlowRunFilterName(any_=run_names))
    while time.monotonic() < deadline:
        worker.check_alive()
        runs = {run.name: run for run in client.read_flow_runs(flow_run_filter=by_name)}
        if set(runs) == set(run_names) and all(
            run.state is not None and run.state.is_final() for run in runs.values()
        ):
            return runs
        time.sleep(POLL_SECONDS)
    pytest.fail(f"{run_names} not all finished after {RUN_TIMEOUT} s:\n{_tail(worker.log)}")


def _demo_config(folder: Path) -> Path:
    """The demo config, its tickets source incremental so that ``full_refresh`` shows."""
    write_demo_files(folder, seed=7, tickets=TICKETS)
    text = demo_config_text()
    marker = 'entity = "tickets"\n'
    assert text.count(marker) == 1
    config = folder / "cxpipe.toml"
    config.write_text(text.replace(marker, marker + "incremental = true\n"), encoding="utf-8")
    return config


def _sorted_metrics(values: pl.DataFrame) -> pl.DataFrame:
    """Metric values without the columns that differ from run to run, in one order."""
    order = ["metric", "period_start", "client_id", "segment"]
    return values.drop("run_id", "computed_at").sort(order, nulls_last=True)


def _started(run: FlowRun) -> datetime:
    assert run.start_time is not None, run.name
    return run.start_time


def _prefect_yaml() -> dict[str, Any]:
    return cast(dict[str, Any], yaml.safe_load(PREFECT_YAML.read_text(encoding="utf-8")))


@dataclass
class Deployed:
    client: SyncPrefectClient
    """A client of the test server, open while the module's tests run."""
    runs: dict[str, FlowRun]
    """Deployment name → its finished flow run."""
    config: Path
    output: Path
    reference: RunResult
    """``run_pipeline`` on the same config into the same output root, before the runs."""
    worker_log: Path

    def deployment(self, name: str) -> DeploymentResponse:
        return self.client.read_deployment_by_name(f"{FLOW_NAME}/{name}")

    def require_completed(self) -> None:
        """Fail with the worker's log, rather than a missing file, if a run failed."""
        failed = {
            name: (run.state.type.value, run.state.message) if run.state else None
            for name, run in self.runs.items()
            if run.state is None or not run.state.is_completed()
        }
        if failed:
            pytest.fail(f"runs did not complete: {failed}\n{_tail(self.worker_log)}")


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    """Server, pool, worker, deploy; then both deployments triggered on one output root."""
    work = tmp_path_factory.mktemp("deployment")
    home = work / "prefect-home"
    home.mkdir()
    port = str(_free_port())
    api_url = f"http://127.0.0.1:{port}/api"
    env = _environment(home, api_url)
    with contextlib.ExitStack() as stack:
        server_args = [PREFECT_CLI, "server", "start", "--host", "127.0.0.1", "--port", port]
        server = Background.start("server", server_args, env, work)
        stack.callback(server.stop)
        # While the server starts: the data, and an in-process run into the output root the
        # deployments will write to. It commits a tickets watermark, so that the daily run
        # reads incrementally and the monthly run visibly ignores it.
        config = _demo_config(work / "demo")
        output = work / "output"
        reference = run_pipeline(load_config(config), output=str(output))
        _wait_healthy(server, api_url)

        _cli("work-pool", "create", POOL, "--type", "process", env=env)
        worker_args = [PREFECT_CLI, "worker", "start", "--pool", POOL, "--type", "process"]
        # Only the worker knows where the checkout is. Prefect fills `{{ $VAR }}` wherever
        # it is set, so with it set here `prefect deploy` would store this process's value.
        worker_env = {**env, "CXPIPE_CHECKOUT": str(ROOT)}
        worker = Background.start("worker", worker_args, worker_env, work)
        stack.callback(worker.stop)  # runs before server.stop: the worker reports to it
        _cli("work-pool", "set-concurrency-limit", POOL, "1", env=env)
        _cli("deploy", "--all", "--prefect-file", str(PREFECT_YAML), env=env)

        overrides = {"config_path": str(config), "output": str(output)}
        params = [f"--param={key}={json.dumps(value)}" for key, value in overrides.items()]
        for name in (DAILY, MONTHLY):  # both at once: the pool's limit must serialise them
            run = ["deployment", "run", f"{FLOW_NAME}/{name}", *params]
            _cli(*run, f"--flow-run-name=test-{name}", env=env)

        settings = {
            PREFECT_API_URL: api_url,
            PREFECT_HOME: home,
            PREFECT_SERVER_ALLOW_EPHEMERAL_MODE: False,
        }
        stack.enter_context(temporary_settings(updates=settings))
        client = stack.enter_context(get_client(sync_client=True))
        finished = _wait_final(client, [f"test-{name}" for name in (DAILY, MONTHLY)], worker)
        runs = {name: finished[f"test-{name}"] for name in (DAILY, MONTHLY)}
        yield Deployed(client, runs, config, output, reference, worker.log)


def test_prefect_yaml_declares_what_the_team_needs() -> None:
    spec = _prefect_yaml()
    by_name = {d["name"]: d for d in spec["deployments"]}
    assert set(by_name) == {DAILY, MONTHLY}
    for declared in by_name.values():
        assert declared["entrypoint"] == "flows/cxpipe_flow.py:cxpipe_run"
        assert declared["work_pool"]["name"] == POOL
        # Which config to run, and the monthly's full refresh: the rest is in cxpipe.toml.
        assert declared["parameters"]["config_path"] == "cxpipe.toml"
        assert set(declared["parameters"]) <= {"config_path", "full_refresh"}
        # Both crons are read in the one time zone set in `definitions`.
        assert [s["timezone"] for s in declared["schedules"]] == [spec["definitions"]["timezone"]]
        assert declared["concurrency_limit"]["limit"] == 1
    assert by_name[MONTHLY]["parameters"]["full_refresh"] is True
    assert "full_refresh" not in by_name[DAILY]["parameters"]
    step = {"directory": "{{ $CXPIPE_CHECKOUT }}"}
    assert spec["pull"] == [{"prefect.deployments.steps.set_working_directory": step}]


@pytest.mark.slow
@pytest.mark.parametrize("name", [DAILY, MONTHLY])
def test_deployment_is_registered_as_declared(deployed: Deployed, name: str) -> None:
    spec = _prefect_yaml()
    declared = next(d for d in spec["deployments"] if d["name"] == name)
    registered = deployed.deployment(name)
    assert registered.entrypoint == declared["entrypoint"]
    assert registered.work_pool_name == POOL
    assert registered.parameters == declared["parameters"]
    # Stored unfilled: each worker fills in its own checkout at run time.
    assert registered.pull_steps == spec["pull"]
    schedules = []
    for item in registered.schedules:
        assert isinstance(item.schedule, CronSchedule)
        schedules.append((item.schedule.cron, item.schedule.timezone, item.active))
    assert schedules == [(s["cron"], s["timezone"], True) for s in declared["schedules"]]
    # Prefect 3.8 keeps a deployment's limit as a global concurrency limit of its own;
    # the deployment's `concurrency_limit` field reads back as None.
    limit = registered.global_concurrency_limit
    assert limit is not None
    assert limit.limit == declared["concurrency_limit"]["limit"]
    assert registered.concurrency_options is not None
    assert registered.concurrency_options.collision_strategy == "ENQUEUE"


@pytest.mark.slow
def test_both_runs_complete_on_the_process_worker(deployed: Deployed) -> None:
    deployed.require_completed()
    overrides = {"config_path": str(deployed.config), "output": str(deployed.output)}
    # The deployment's parameters, under the run's two overrides.
    assert deployed.runs[DAILY].parameters == overrides
    assert deployed.runs[MONTHLY].parameters == {**overrides, "full_refresh": True}
    for name, run in deployed.runs.items():
        assert run.deployment_id == deployed.deployment(name).id
        assert run.work_pool_name == POOL


@pytest.mark.slow
def test_the_pool_limit_runs_one_at_a_time(deployed: Deployed) -> None:
    deployed.require_completed()
    first, second = sorted(deployed.runs.values(), key=_started)
    assert first.end_time is not None
    assert first.end_time <= _started(second)


@pytest.mark.slow
def test_outputs_equal_an_in_process_run(deployed: Deployed) -> None:
    deployed.require_completed()
    root, reference = deployed.output, deployed.reference
    rows = _sorted_metrics(pl.read_parquet(root / "metric_values" / "*" / "*.parquet"))
    assert len(rows) == reference.metric_values.height > 0
    # Same rows and counts; floats to 1e-12 (parallel sums may differ in the last bit).
    expected = _sorted_metrics(reference.metric_values)
    assert_frame_equal(rows, expected, rel_tol=1e-12, abs_tol=1e-12)
    query = f"select count(*) from read_parquet('{root}/metric_values/*/*.parquet')"
    assert duckdb.connect().execute(query).fetchone() == (reference.metric_values.height,)

    # The in-process run's manifest, then one per deployment run, in the order they ran.
    manifests = sorted(
        (json.loads(p.read_text(encoding="utf-8")) for p in (root / "_runs").glob("*.json")),
        key=lambda m: cast(str, m["started_at"]),
    )
    assert manifests[0]["run_id"] == reference.run_id
    order = sorted(deployed.runs, key=lambda name: _started(deployed.runs[name]))
    by_deployment = dict(zip(order, manifests[1:], strict=True))
    accounting = ("name", "entity", "rows_read", "rows_kept", "rows_quarantined")
    for manifest in by_deployment.values():
        assert [{k: s[k] for k in accounting} for s in manifest["sources"]] == [
            {k: s[k] for k in accounting} for s in reference.manifest["sources"]
        ]

    def tickets(manifest: dict[str, Any]) -> dict[str, Any]:
        return next(s for s in manifest["sources"] if s["name"] == "tickets")

    # A watermark was committed before either ran: the daily read since it (incremental),
    # the monthly read everything (its deployment's full_refresh reached the flow).
    assert tickets(manifests[0])["watermark"] is not None
    assert tickets(by_deployment[DAILY])["since"] is not None
    assert tickets(by_deployment[MONTHLY])["since"] is None


@pytest.mark.slow
def test_each_run_publishes_its_headline_artifact(deployed: Deployed) -> None:
    deployed.require_completed()
    for name, run in deployed.runs.items():
        artifacts = deployed.client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[ARTIFACT_KEY]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[run.id]),
            )
        )
        assert [a.type for a in artifacts] == ["markdown"], name
