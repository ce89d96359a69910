"""Planted secrets never appear in what the Prefect flow writes, logs, stores or raises.

The flow runs for real on a temporary Prefect server (as in ``tests/test_flow.py``),
reading its credentials from Prefect Secret blocks: a ServiceNow token (a run that
retries, and one refused with a 401) and a PostgreSQL URL. Searched: the output root,
every log record (also those Prefect keeps from propagating), stdout/stderr, the logs and
artifacts stored on the server, the final state's message and the raised exception.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cxpipe_servicenow.testing import Canned, FakeInstance, error_body, load_sample
from cxpipe_sql.testing import PostgresServer, create_sample_tickets
from prefect.blocks.system import Secret
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.logging.handlers import APILogWorker
from prefect.settings import (
    PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
    PREFECT_HOME,
    PREFECT_SERVER_ANALYTICS_ENABLED,
    temporary_settings,
)
from prefect.testing.utilities import prefect_test_harness
from pytest_httpserver import HTTPServer

from cxpipe_flow import cxpipe_run
from tests.connectors.test_sql import TABLE, write_config
from tests.security.conftest import PASSWORD, TOKEN, USERNAME, servicenow_toml
from tests.security.leaks import AllRecords, LeakSearch, secret_forms

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]

TOKEN_BLOCK = "cxpipe-security-token"
DSN_BLOCK = "cxpipe-security-dsn"


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    updates = {
        PREFECT_HOME: tmp_path_factory.mktemp("prefect-home"),
        PREFECT_SERVER_ANALYTICS_ENABLED: False,
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None,
    }
    with temporary_settings(updates=updates), prefect_test_harness(server_startup_timeout=120):
        yield


def _searched(
    config: Path, output: Path, capfd: pytest.CaptureFixture[str], forms: list[str]
) -> tuple[LeakSearch, bool, list[str]]:
    """Run the flow (no task retries) and search everything it left for ``forms``; returns
    the search, whether the run completed, and the log messages stored on the server."""
    logs = AllRecords().attach()
    try:
        state = cxpipe_run(
            config_path=str(config), output=str(output), extract_retries=0, return_state=True
        )
        APILogWorker.drain_all(timeout=10)  # logs reach the server in batches
    finally:
        logs.detach()
    flow_run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        run_filter: Any = LogFilterFlowRunId(any_=[flow_run_id])
        stored_logs = client.read_logs(log_filter=LogFilter(flow_run_id=run_filter))
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    out, err = capfd.readouterr()

    search = LeakSearch(forms)
    if output.exists():
        search.tree(output)
    search.records("log", logs.records)
    search.text("stdout", out)
    search.text("stderr", err)
    search.text("state message", str(state.message))
    for log in stored_logs:
        search.text(f"server log {log.name}", log.message)
    for artifact in artifacts:
        search.text(f"artifact {artifact.key}", f"{artifact.data}\n{artifact.description}")
    if not state.is_completed():
        error = state.result(raise_on_failure=False)
        assert isinstance(error, BaseException)
        search.error("raised", error)
    return search, state.is_completed(), [log.message for log in stored_logs]


@pytest.mark.parametrize("accepted", [True, False], ids=["retried", "refused-401"])
@pytest.mark.usefixtures("prefect_server")
def test_flow_with_a_token_from_a_secret_block_leaks_nothing(
    tmp_path: Path, httpserver: HTTPServer, capfd: pytest.CaptureFixture[str], accepted: bool
) -> None:
    Secret(value=TOKEN).save(TOKEN_BLOCK, overwrite=True)
    instance = FakeInstance(username=USERNAME, token=TOKEN if accepted else "another")
    load_sample(instance).install(httpserver)
    instance.canned = [Canned(503, error_body("Service Unavailable"), {"Retry-After": "0"})]
    config = tmp_path / "cxpipe.toml"
    auth = f'token_secret_block = "{TOKEN_BLOCK}"'
    config.write_text(servicenow_toml(httpserver.url_for("/").rstrip("/"), auth), "utf-8")

    forms = [*secret_forms(TOKEN), *secret_forms(PASSWORD, user=USERNAME)]
    search, completed, messages = _searched(config, tmp_path / "output", capfd, forms)
    assert completed is accepted
    if not accepted:
        assert any("401" in m for m in messages), messages
    if accepted:
        assert any(where.startswith("artifact") for where in search.searched)
    search.assert_clean()


@pytest.mark.usefixtures("prefect_server")
def test_flow_with_a_database_url_from_a_secret_block_leaks_nothing(
    tmp_path: Path, postgres: PostgresServer, capfd: pytest.CaptureFixture[str]
) -> None:
    create_sample_tickets(postgres, TABLE)
    Secret(value=postgres.url()).save(DSN_BLOCK, overwrite=True)
    config = write_config(tmp_path, dsn_env=None, secret_block=DSN_BLOCK, incremental=True)
    forms = secret_forms(postgres.password, user=postgres.user)
    search, completed, _ = _searched(config, tmp_path / "output", capfd, forms)
    assert completed
    search.assert_clean()
