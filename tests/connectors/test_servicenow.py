"""The ``cxpipe-servicenow`` connector inside cxpipe, against a local Table API.

The instance is :class:`cxpipe_servicenow.testing.FakeInstance` on pytest-httpserver's
localhost server: it implements ``GET /api/now/table/{tableName}`` as ServiceNow documents
it (``sysparm_query``/``sysparm_fields``/``sysparm_display_value``, offset paging with
``X-Total-Count`` and ``Link``, error bodies), over a small sample data set. It is not a
live instance.

What is checked here is the connector as cxpipe sees it: installed through its entry
point, configured by the shipped ``example.cxpipe.toml``, conformed to the canonical
entities, run end to end into Parquet metrics, read incrementally across two runs, and
never leaking its credentials. The connector's own tests (paging, retries, errors, the
contract kit) live in ``plugins/cxpipe-servicenow/tests``.
"""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from cxpipe_servicenow import ServiceNowIncidents, ServiceNowRequests, ServiceNowSurveyResults
from cxpipe_servicenow.testing import (
    COMMENT_QUESTION,
    CSAT_QUESTION,
    SAMPLE_INCIDENTS,
    SAMPLE_REQUESTS,
    SAMPLE_SURVEYS,
    FakeInstance,
    load_sample,
)
from pytest_httpserver import HTTPServer
from typer.testing import CliRunner

from cxpipe.cli import app
from cxpipe.config import CxpipeConfig, load_config, parse_config
from cxpipe.conform import conform
from cxpipe.errors import SourceError
from cxpipe.plugins import build_registry, describe_plugins, get_plugin_manager
from cxpipe.run import run_pipeline
from cxpipe.schemas import get_entity

PLUGIN = Path(__file__).resolve().parents[2] / "plugins" / "cxpipe-servicenow"
EXAMPLE = PLUGIN / "example.cxpipe.toml"
EXAMPLE_URL = "https://acme.service-now.com"
USERNAME = "cxpipe.integration"
PASSWORD = "Pl4nted-SN:Xq9zK@Vb7w"


@pytest.fixture
def instance(httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> FakeInstance:
    """The sample instance on localhost; the example's variables hold its credentials."""
    monkeypatch.setenv("SERVICENOW_USERNAME", USERNAME)
    monkeypatch.setenv("SERVICENOW_PASSWORD", PASSWORD)
    return load_sample(FakeInstance(username=USERNAME, password=PASSWORD)).install(httpserver)


def example_config(
    folder: Path,
    server: HTTPServer,
    *,
    kinds: tuple[str, ...] | None = None,
    metrics: list[str] | None = None,
) -> CxpipeConfig:
    """The shipped example, pointed at the local server (optionally only some sources and
    metrics), with ``folder`` as its directory."""
    text = EXAMPLE.read_text(encoding="utf-8").replace(EXAMPLE_URL, server.url_for("/").rstrip("/"))
    if kinds is None and metrics is None:
        path = folder / "cxpipe.toml"
        path.write_text(text, encoding="utf-8")
        return load_config(path)
    data: dict[str, Any] = tomllib.loads(text)
    if kinds is not None:
        data["sources"] = [s for s in data["sources"] if s["kind"] in kinds]
    if metrics is not None:
        data["metrics"] = {"only": metrics}
    return parse_config(data, base_dir=folder)


def message_of(error: BaseException) -> str:
    parts: list[str] = []
    current: BaseException | None = error
    while current is not None:
        parts += [str(current), repr(current)]
        current = current.__cause__ or current.__context__
    return "\n".join(parts)


# --- installed as a plugin ------------------------------------------------------------------


def test_installed_distribution_registers_its_sources_through_its_entry_point() -> None:
    entry_points = metadata.distribution("cxpipe-servicenow").entry_points
    assert [(e.group, e.name, e.value) for e in entry_points] == [
        ("cxpipe", "servicenow", "cxpipe_servicenow")
    ]
    pm = get_plugin_manager()
    origins = {plugin.name: plugin.origin for plugin in describe_plugins(pm)}
    version = metadata.version("cxpipe-servicenow")
    assert origins["servicenow"] == f"entry point of cxpipe-servicenow {version}"
    registry = build_registry(pm)
    assert registry.source("servicenow.incidents") is ServiceNowIncidents
    assert registry.source("servicenow.requests") is ServiceNowRequests
    assert registry.source("servicenow.survey_results") is ServiceNowSurveyResults


def test_cxpipe_plugins_lists_the_servicenow_sources() -> None:
    result = CliRunner().invoke(app, ["plugins"], terminal_width=240)
    assert result.exit_code == 0, result.output
    assert "cxpipe-servicenow" in result.output
    assert "servicenow.survey_results" in result.output


# --- the example config, through conform -------------------------------------------------------


def test_the_example_config_conforms_every_source_to_its_entity(
    tmp_path: Path, httpserver: HTTPServer, instance: FakeInstance
) -> None:
    config = example_config(tmp_path, httpserver)
    questions = config.sources[2].options["questions"]
    assert questions == {"csat": CSAT_QUESTION, "comment": COMMENT_QUESTION}
    registry = build_registry(get_plugin_manager())
    frames: dict[str, pl.DataFrame] = {}
    for source_config in config.sources:
        entity = get_entity(source_config.entity)
        source = registry.source(source_config.kind)(source_config, resolve_path=config.resolve)
        frame = conform(source.extract().frame, source_config, entity).collect()
        assert frame.filter(pl.col("_cx_errors").list.len() > 0).height == 0, source_config.name
        for name, dtype in entity.polars_schema.items():
            assert frame.schema[name] == dtype, (source_config.name, name)
        frames[source_config.name] = frame

    incidents = frames["servicenow_incidents"]
    assert incidents.height == SAMPLE_INCIDENTS
    first = incidents.filter(pl.col("ticket_id") == "INC0010001").row(0, named=True)
    assert first["opened_at"] == datetime(2024, 1, 1, 8, 15, tzinfo=UTC)
    assert first["priority"] == "critical"  # "1 - Critical"
    assert first["status"] == "Closed"
    assert first["client_id"] == "Acme"
    assert first["assignment_group"] == "Service Desk"
    assert first["request_type"] == "support"
    assert first["channel"] == "phone"
    assert first["source_system"] == "servicenow"
    assert first["resolve_due_at"] == datetime(2024, 1, 1, 16, 15, tzinfo=UTC)
    assert set(incidents["priority"]) == {"critical", "high", "medium", "low"}

    requests = frames["servicenow_requests"]
    assert requests.height == SAMPLE_REQUESTS
    assert set(requests["request_type"]) == {"other"}

    surveys = frames["servicenow_surveys"]
    assert surveys.height == SAMPLE_SURVEYS
    assert sorted(surveys["csat"]) == [1, 2, 3, 4, 5]
    assert set(surveys["ticket_id"]) <= set(incidents["ticket_id"])
    assert set(surveys["respondent_side"]) == {"client"}


# --- end to end -------------------------------------------------------------------------------


@pytest.mark.slow
def test_run_pipeline_on_the_example_writes_ticket_and_survey_metrics(
    tmp_path: Path, httpserver: HTTPServer, instance: FakeInstance
) -> None:
    metrics = ["ticket_volume", "mttr_critical_hours", "sla_resolution_compliance_pct", "csat_pct"]
    config = example_config(tmp_path, httpserver, metrics=metrics)
    output = tmp_path / "output"
    result = run_pipeline(config, output=str(output))

    assert result.manifest["status"] == "succeeded"
    read = {s["name"]: (s["rows_read"], s["rows_kept"]) for s in result.manifest["sources"]}
    assert read == {
        "servicenow_incidents": (SAMPLE_INCIDENTS, SAMPLE_INCIDENTS),
        "servicenow_requests": (SAMPLE_REQUESTS, SAMPLE_REQUESTS),
        "servicenow_surveys": (SAMPLE_SURVEYS, SAMPLE_SURVEYS),
    }
    inputs = {i["path"] for s in result.manifest["sources"] for i in s["inputs"]}
    assert f"{httpserver.url_for('/').rstrip('/')}/api/now/table/task_sla" in inputs

    overall = result.metric_values.filter(
        pl.col("client_id").is_null() & pl.col("segment").is_null()
    )
    volume = overall.filter(pl.col("metric") == "ticket_volume")
    assert volume["value"].sum() == SAMPLE_INCIDENTS + SAMPLE_REQUESTS
    assert overall.filter(pl.col("metric") == "mttr_critical_hours").height > 0
    assert overall.filter(pl.col("metric") == "sla_resolution_compliance_pct").height > 0
    assert overall.filter(pl.col("metric") == "csat_pct").height > 0
    by_client = result.metric_values.filter(
        (pl.col("metric") == "ticket_volume") & pl.col("client_id").is_not_null()
    )
    assert set(by_client["client_id"]) == {"Acme", "Globex"}

    written = [p for p in output.rglob("*") if p.is_file()]
    assert any(p.suffix == ".parquet" for p in written)
    for path in written:  # the manifest, Parquet, everything the run wrote
        assert PASSWORD.encode() not in path.read_bytes(), path


@pytest.mark.slow
def test_a_second_incremental_run_asks_for_changes_since_the_watermark_only(
    tmp_path: Path, httpserver: HTTPServer, instance: FakeInstance
) -> None:
    config = example_config(
        tmp_path, httpserver, kinds=("servicenow.incidents",), metrics=["ticket_volume"]
    )
    output = str(tmp_path / "output")
    first = run_pipeline(config, output=output)
    assert first.manifest["sources"][0]["rows_read"] == SAMPLE_INCIDENTS
    assert instance.queries("incident")[0] == "ORDERBYsys_id"
    watermark = max(str(r["sys_updated_on"]) for r in instance.tables["incident"])
    assert watermark == "2024-03-18 09:20:00"

    changed = instance.find("incident", number="INC0010004")
    instance.update(
        "incident", str(changed["sys_id"]), state="7", sys_updated_on="2024-03-20 10:00:00"
    )
    instance.requests.clear()
    second = run_pipeline(config, output=output)

    assert instance.queries("incident") == [f"sys_updated_on>={watermark}^ORDERBYsys_id"]
    assert instance.queries("task_sla") == [
        f"task.sys_class_name=incident^task.sys_updated_on>={watermark}^ORDERBYsys_id"
    ]
    (source,) = second.manifest["sources"]
    # The changed incident, and the one updated at the watermark (>= is inclusive, so a
    # change within the watermark's second is not missed; the merge deduplicates).
    assert source["rows_read"] == 2
    volume = second.metric_values.filter(
        (pl.col("metric") == "ticket_volume")
        & pl.col("client_id").is_null()
        & pl.col("segment").is_null()
    )
    assert volume["value"].sum() == SAMPLE_INCIDENTS  # merged into the snapshot, not added


def test_wrong_credentials_fail_the_run_naming_the_variables_not_the_password(
    tmp_path: Path,
    httpserver: HTTPServer,
    instance: FakeInstance,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wrong = "Wr0ng-Pl4nted-pw"
    monkeypatch.setenv("SERVICENOW_PASSWORD", wrong)
    config = example_config(tmp_path, httpserver, kinds=("servicenow.incidents",))
    with pytest.raises(SourceError) as caught:
        run_pipeline(config, output=str(tmp_path / "out"))
    message = message_of(caught.value)
    assert "source 'servicenow_incidents' (servicenow.incidents)" in message
    assert "HTTP 401 Unauthorized (User Not Authenticated" in message
    assert "SERVICENOW_USERNAME and SERVICENOW_PASSWORD" in message
    assert wrong not in message
    assert PASSWORD not in message
    assert not any((tmp_path / "out").rglob("*.parquet"))
