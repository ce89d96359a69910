"""The ``cxpipe-jira`` connector inside cxpipe, against a local Jira Service Management site.

The site is :class:`cxpipe_jira.testing.FakeJira`: pytest-httpserver answering on localhost
as Atlassian's REST reference documents the endpoints the connector calls (enhanced JQL
search paged by ``nextPageToken``/``isLast``, bulk changelogs, ``/myself``, request
feedback), with twelve made-up requests. It is not a live site.

What is checked here is the connector as cxpipe sees it: installed through its entry point,
configured by the shipped ``example.cxpipe.toml``, conformed to the canonical tickets and
survey responses, run end to end into Parquet metrics, read again incrementally (JQL bound
in the API user's time zone, re-read rows merged by key), and never leaking the API token.
The connector's protocol tests (paging, retries, errors, SLA cycles) live in
``plugins/cxpipe-jira/tests``.
"""

from __future__ import annotations

import base64
import json
import tomllib
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import polars as pl
import pytest
from cxpipe_jira import JiraFeedback, JiraRequests
from cxpipe_jira.source import SEARCH_PATH
from cxpipe_jira.testing import (
    EMAIL,
    FIELD_SATISFACTION,
    FIELD_SATISFACTION_DATE,
    TOKEN,
    FakeJira,
    jira_time,
)
from pytest_httpserver import HTTPServer
from typer.testing import CliRunner

from cxpipe.cli import app
from cxpipe.config import CxpipeConfig, load_config
from cxpipe.conform import conform
from cxpipe.plugins import build_registry, describe_plugins, get_plugin_manager
from cxpipe.run import run_pipeline
from cxpipe.schemas import SURVEY_RESPONSES, TICKETS, get_entity
from cxpipe.testing import assert_plugin_loads

EXAMPLE = Path(__file__).resolve().parents[2] / "plugins" / "cxpipe-jira" / "example.cxpipe.toml"


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JIRA_EMAIL", EMAIL)
    monkeypatch.setenv("JIRA_API_TOKEN", TOKEN)


@pytest.fixture
def site(httpserver: HTTPServer) -> FakeJira:
    """The API user's profile is in Paris: incremental JQL bounds are Paris wall times."""
    return FakeJira(httpserver, time_zone="Europe/Paris")


def example_config(folder: Path, site: FakeJira) -> CxpipeConfig:
    """The shipped example as a ``cxpipe.toml`` in ``folder``, only ``base_url`` changed."""
    text = EXAMPLE.read_text(encoding="utf-8")
    assert text.count('base_url = "https://your-domain.atlassian.net"') == 2
    text = text.replace("https://your-domain.atlassian.net", site.base_url)
    path = folder / "cxpipe.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def secrets() -> list[str]:
    return [TOKEN, base64.b64encode(f"{EMAIL}:{TOKEN}".encode()).decode()]


# --- installed as a plugin ------------------------------------------------------------------


def test_installed_distribution_registers_both_kinds_through_its_entry_point() -> None:
    entry_points = metadata.distribution("cxpipe-jira").entry_points
    assert [(e.group, e.name, e.value) for e in entry_points] == [("cxpipe", "jira", "cxpipe_jira")]
    pm = get_plugin_manager()
    origins = {plugin.name: plugin.origin for plugin in describe_plugins(pm)}
    assert origins["jira"] == f"entry point of cxpipe-jira {metadata.version('cxpipe-jira')}"
    registry = build_registry(pm)
    assert registry.source("jira.requests") is JiraRequests
    assert registry.source("jira.feedback") is JiraFeedback
    registered = assert_plugin_loads("jira")  # the contract kit's own check
    assert sorted((r.kind, r.name) for r in registered) == [
        ("source", "jira.feedback"),
        ("source", "jira.requests"),
    ]


def test_cxpipe_plugins_lists_jira() -> None:
    result = CliRunner().invoke(app, ["plugins"], terminal_width=200)
    assert result.exit_code == 0, result.output
    text = result.output
    assert "cxpipe-jira" in text
    assert "jira.requests" in text
    assert "jira.feedback" in text


def test_blocking_the_plugin_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXPIPE_DISABLED_PLUGINS", "jira")
    assert "jira.requests" not in build_registry(get_plugin_manager()).sources


def test_the_shipped_example_config_is_valid_as_written() -> None:
    config = load_config(EXAMPLE)
    registry = build_registry(get_plugin_manager())
    kinds = []
    for source_config in config.sources:
        source = registry.source(source_config.kind)(source_config, resolve_path=config.resolve)
        kinds.append((source_config.entity, source.kind))  # options validated, nothing read
    assert kinds == [("tickets", "jira.requests"), ("survey_responses", "jira.feedback")]
    options = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))["sources"][0]["options"]
    assert options["username_env"] == "JIRA_EMAIL"
    assert options["password_env"] == "JIRA_API_TOKEN"


# --- through conform --------------------------------------------------------------------------


def test_the_example_config_conforms_requests_and_feedback(tmp_path: Path, site: FakeJira) -> None:
    config = example_config(tmp_path, site)
    registry = build_registry(get_plugin_manager())
    frames = {}
    for source_config in config.sources:
        source = registry.source(source_config.kind)(source_config, resolve_path=config.resolve)
        entity = get_entity(source_config.entity)
        frames[entity.name] = conform(source.extract().frame, source_config, entity).collect()

    tickets = frames["tickets"]
    assert tickets.height == 12
    assert tickets.filter(pl.col("_cx_errors").list.len() > 0).height == 0
    for name, dtype in TICKETS.polars_schema.items():
        assert tickets.schema[name] == dtype, name
    sd3 = tickets.filter(pl.col("ticket_id") == "SD-3").row(0, named=True)
    assert sd3 == {
        **sd3,
        "source_system": "jira",
        "client_id": "Acme",
        "requester_id": "qm:a1b2c3",
        "request_type": "support",
        "category": "Get IT help",
        "priority": "medium",
        "status": "resolved",
        "opened_at": datetime(2026, 1, 19, 9, tzinfo=UTC),
        "first_response_at": datetime(2026, 1, 19, 18, tzinfo=UTC),
        "respond_due_at": datetime(2026, 1, 19, 17, tzinfo=UTC),  # Medium: 8 h, breached
        "resolved_at": datetime(2026, 1, 26, 10, tzinfo=UTC),
        "resolve_due_at": datetime(2026, 1, 26, 9, tzinfo=UTC),  # the reopened cycle's
        "reopen_count": 1,
        "reassignment_count": 1,
        "_cx_source": "jira",
    }
    assert tickets.filter(pl.col("ticket_id") == "SD-5")["client_id"].item() == "SD"
    assert set(tickets["priority"]) == {"critical", "high", "medium", "low"}

    responses = frames["survey_responses"]
    assert responses.filter(pl.col("_cx_errors").list.len() > 0).height == 0
    for name, dtype in SURVEY_RESPONSES.polars_schema.items():
        assert responses.schema[name] == dtype, name
    assert responses.select("response_id", "ticket_id", "client_id", "csat").rows() == [
        ("SD-1:csat", "SD-1", "Acme", 5),
        ("SD-2:csat", "SD-2", "Globex", 4),
        ("SD-3:csat", "SD-3", "Acme", 2),
        ("SD-6:csat", "SD-6", "Acme", 5),
        ("SD-9:csat", "SD-9", "Acme", 3),
    ]
    assert responses["submitted_at"][2] == datetime(2026, 1, 27, 9, tzinfo=UTC)
    assert set(responses["survey_kind"]) == {"transactional"}
    # only rated requests were asked for their feedback (satisfaction_field is set)
    assert site.feedback_keys() == ["SD-1", "SD-2", "SD-3", "SD-6", "SD-9"]


# --- end to end -------------------------------------------------------------------------------


def metric(values: pl.DataFrame, name: str) -> dict[str, float]:
    """Overall (all clients, unsegmented) values of a metric by period start."""
    rows = values.filter(
        (pl.col("metric") == name) & pl.col("client_id").is_null() & pl.col("segment").is_null()
    )
    return {str(start): value for start, value in rows.select("period_start", "value").rows()}


@pytest.mark.slow
def test_run_pipeline_writes_ticket_and_csat_metrics_then_reads_incrementally(
    tmp_path: Path, site: FakeJira
) -> None:
    config = example_config(tmp_path, site)
    output = tmp_path / "output"
    first = run_pipeline(config, output=str(output))

    assert first.manifest["status"] == "succeeded"
    read = {s["name"]: (s["rows_read"], s["rows_kept"]) for s in first.manifest["sources"]}
    assert read == {"jira": (12, 12), "jira.csat": (5, 5)}
    values = first.metric_values
    assert metric(values, "ticket_volume") == {
        "2026-01-01": 4.0,
        "2026-02-01": 4.0,
        "2026-03-01": 4.0,
    }
    assert metric(values, "csat_pct")["2026-01-01"] == pytest.approx(200 / 3)  # 5, 4, 2
    assert metric(values, "csat_mean")["2026-03-01"] == 3.0
    assert metric(values, "sla_resolution_compliance_pct")["2026-02-01"] == 20.0
    assert metric(values, "reopen_rate_pct")["2026-01-01"] == pytest.approx(100 / 3)
    by_client = values.filter(
        (pl.col("metric") == "ticket_volume") & pl.col("client_id").is_not_null()
    )
    assert set(by_client["client_id"]) == {"Acme", "Globex", "SD"}
    assert any(p.suffix == ".parquet" for p in output.rglob("*"))

    # On the site: SD-11 gets answered, resolved and rated 1 on 25 March.
    answered = datetime(2026, 3, 25, 10, tzinfo=UTC)
    site.update(
        "SD-11",
        updated=answered,
        resolutiondate=jira_time(answered),
        resolution={"id": "10000", "name": "Done"},
        status={"name": "Resolved", "statusCategory": {"key": "done", "name": "Done"}},
        **{FIELD_SATISFACTION: {"rating": 1}, FIELD_SATISFACTION_DATE: jira_time(answered)},
    )
    site.data.feedback["SD-11"] = {"type": "csat", "rating": 1, "comment": {"body": "Too slow."}}
    searches_before = len(site.bodies(SEARCH_PATH))

    second = run_pipeline(config, output=str(output))

    assert second.manifest["status"] == "succeeded"
    jqls = [body["jql"] for body in site.bodies(SEARCH_PATH)[searches_before:]]
    # watermarks: SD-12 updated 23 Mar 14:00 UTC; SD-9 rated 5 Mar 09:00 UTC. In Paris
    # (the API user's zone) minus the one-minute overlap:
    assert jqls == [
        'project IN ("SD") AND updated >= "2026/03/23 14:59" ORDER BY updated ASC',
        'project IN ("SD") AND resolution IS NOT EMPTY AND cf[10034] IS NOT EMPTY AND '
        'updated >= "2026/03/05 09:59" ORDER BY updated ASC',
    ]
    reread = {s["name"]: s["rows_read"] for s in second.manifest["sources"]}
    assert reread == {"jira": 2, "jira.csat": 2}  # SD-11, SD-12 re-read; SD-9 re-read, SD-11
    values = second.metric_values
    assert metric(values, "ticket_volume")["2026-03-01"] == 4.0  # merged by key, no duplicate
    assert metric(values, "csat_mean")["2026-03-01"] == 2.0  # SD-9's 3 and SD-11's 1
    assert metric(values, "backlog_open").get("2026-03-01") == 2.0  # SD-10, SD-12 still open

    for path in output.rglob("*"):  # manifest, state, Parquet: no credential anywhere
        if path.is_file():
            data = path.read_bytes()
            for secret in secrets():
                assert secret.encode() not in data, path
    state = json.loads((output / "_state" / "watermarks.json").read_text())
    assert set(state["sources"]) == {"jira", "jira.csat"}
