"""The ``cxpipe-zendesk`` connector inside cxpipe, against a local Zendesk.

The Zendesk is :class:`cxpipe_zendesk.testing.FakeZendesk`: pytest-httpserver answering on
localhost as the Support API documents it (cursor-based incremental ticket export with
the ``metric_sets`` sideload, satisfaction ratings with cursor pagination,
``show_many``), with payloads shaped like the API reference's examples. It is not the
real service.

What is checked here is the connector as cxpipe sees it: installed through its entry
point, configured by the shipped ``example.cxpipe.toml``, conformed to the canonical
``tickets`` and ``survey_responses``, run end to end into Parquet metrics, read
incrementally on a second run, and never leaking its credentials. Protocol details
(paging, retries, malformed pages, derived columns) are tested in
``plugins/cxpipe-zendesk/tests``.
"""

from __future__ import annotations

import base64
import tomllib
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from cxpipe_zendesk import ZendeskSatisfaction, ZendeskTickets
from cxpipe_zendesk.testing import (
    API_TOKEN,
    EMAIL,
    ENV,
    RATINGS_PATH,
    TICKETS_PATH,
    FakeZendesk,
    load_fixture,
)
from pytest_httpserver import HTTPServer

from cxpipe.config import CxpipeConfig, parse_config
from cxpipe.conform import conform
from cxpipe.errors import SourceError
from cxpipe.plugins import build_registry, describe_plugins, get_plugin_manager
from cxpipe.run import run_pipeline
from cxpipe.schemas import SURVEY_RESPONSES, TICKETS

EXAMPLE = Path(__file__).resolve().parents[2] / "plugins" / "cxpipe-zendesk" / "example.cxpipe.toml"
FAST = {
    "backoff_base": 0.01,
    "backoff_max": 0.02,
    "max_total_wait": 5,
    "max_attempts": 3,
    "max_requests_per_minute": 100_000,
}
TICKETS_IN_FIXTURE = len(load_fixture("tickets"))
ANSWERS = [r for r in load_fixture("satisfaction_ratings") if r["score"] in ("good", "bad")]


@pytest.fixture
def zendesk(httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> FakeZendesk:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    return FakeZendesk(httpserver)


def example_config(folder: Path, zendesk: FakeZendesk, **run: Any) -> CxpipeConfig:
    """The shipped example config, pointed at the local Zendesk (and ``folder``)."""
    data = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    data["run"].update(run)
    for source in data["sources"]:
        source["options"].update(base_url=zendesk.base_url, **FAST)
    return parse_config(data, base_dir=folder, origin=str(EXAMPLE))


def secret_forms() -> list[str]:
    basic = base64.b64encode(f"{EMAIL}/token:{API_TOKEN}".encode()).decode()
    return [API_TOKEN, basic]


# --- installed as a plugin ------------------------------------------------------------------


def test_installed_distribution_registers_zendesk_through_its_entry_point() -> None:
    entry_points = metadata.distribution("cxpipe-zendesk").entry_points
    assert [(e.group, e.name, e.value) for e in entry_points] == [
        ("cxpipe", "zendesk", "cxpipe_zendesk")
    ]
    pm = get_plugin_manager()
    origins = {plugin.name: plugin.origin for plugin in describe_plugins(pm)}
    version = metadata.version("cxpipe-zendesk")
    assert origins["zendesk"] == f"entry point of cxpipe-zendesk {version}"
    registry = build_registry(pm)
    assert registry.source("zendesk.tickets") is ZendeskTickets
    assert registry.source("zendesk.satisfaction") is ZendeskSatisfaction
    assert {(r.kind, r.name) for r in registry.registrations if r.plugin == "zendesk"} == {
        ("source", "zendesk.tickets"),
        ("source", "zendesk.satisfaction"),
    }


def test_blocking_the_plugin_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXPIPE_DISABLED_PLUGINS", "zendesk")
    assert "zendesk.tickets" not in build_registry(get_plugin_manager()).sources


# --- through conform with the example config ----------------------------------------------------


def test_example_config_conforms_both_entities(tmp_path: Path, zendesk: FakeZendesk) -> None:
    config = example_config(tmp_path, zendesk)
    registry = build_registry(get_plugin_manager())
    entities = {"tickets": TICKETS, "survey_responses": SURVEY_RESPONSES}
    conformed: dict[str, pl.DataFrame] = {}
    for source_config in config.sources:
        source = registry.source(source_config.kind)(source_config, resolve_path=config.resolve)
        entity = entities[source_config.entity]
        frame = conform(source.extract().frame, source_config, entity).collect()
        assert frame.filter(pl.col("_cx_errors").list.len() > 0).height == 0, source_config.name
        for name, dtype in entity.polars_schema.items():
            assert frame.schema[name] == dtype, (source_config.name, name)
        conformed[source_config.entity] = frame

    tickets = conformed["tickets"]
    assert tickets.height == TICKETS_IN_FIXTURE
    assert set(tickets["priority"]) == {"critical", "high", "medium", "low"}
    assert set(tickets["status"]) == {"new", "open", "pending", "hold", "solved", "closed"}
    assert set(tickets["source_system"]) == {"zendesk"}
    assert set(tickets["client_id"]) == {"360001", "360002", "360003"}
    first = tickets.filter(pl.col("ticket_id") == "35436").row(0, named=True)
    assert first["opened_at"] == datetime(2024, 1, 4, 9, 1, tzinfo=UTC)
    assert first["first_response_at"] == datetime(2024, 1, 4, 9, 48, tzinfo=UTC)  # +47 min
    assert first["resolved_at"] == datetime(2024, 1, 4, 20, 0, tzinfo=UTC)
    assert first["closed_at"] == datetime(2024, 1, 8, 20, 0, tzinfo=UTC)
    assert first["channel"] == "email"
    unanswered = tickets.filter(pl.col("status") == "new")
    assert unanswered["first_response_at"].null_count() == unanswered.height
    assert tickets["reopen_count"].sum() == sum(
        t["metric_set"]["reopens"] for t in load_fixture("tickets")
    )

    responses = conformed["survey_responses"]
    assert responses.height == len(ANSWERS)
    assert sorted(responses["csat"].unique().to_list()) == [1, 5]
    good = sum(r["score"] == "good" for r in ANSWERS)
    assert responses.filter(pl.col("csat") == 5).height == good
    assert set(responses["respondent_side"]) == {"client"}
    assert responses["client_id"].null_count() == 0


# --- end to end ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_run_pipeline_end_to_end_then_incrementally(tmp_path: Path, zendesk: FakeZendesk) -> None:
    output = tmp_path / "output"
    config = example_config(tmp_path, zendesk, period_grain="month")

    first = run_pipeline(config, output=str(output))

    manifest = first.manifest
    assert manifest["status"] == "succeeded"
    by_name = {s["name"]: s for s in manifest["sources"]}
    assert by_name["zendesk"]["rows_read"] == TICKETS_IN_FIXTURE
    assert by_name["zendesk"]["rows_kept"] == TICKETS_IN_FIXTURE
    assert by_name["zendesk-csat"]["rows_kept"] == len(ANSWERS)
    assert any("2 offered, 1 unoffered" in w for w in by_name["zendesk-csat"]["warnings"])

    values = first.metric_values
    overall = values.filter(pl.col("client_id").is_null() & pl.col("segment").is_null())

    def metric(name: str) -> pl.DataFrame:
        return overall.filter(pl.col("metric") == name).sort("period_start")

    assert metric("ticket_volume")["value"].sum() == TICKETS_IN_FIXTURE
    assert metric("first_response_hours_p50").height > 0
    assert metric("reopen_rate_pct").height > 0
    csat = metric("csat_pct")
    good = sum(r["score"] == "good" for r in ANSWERS)
    assert csat["numerator"].sum() == good  # csat_pct is exactly Zendesk's good ÷ answered
    assert csat["denominator"].sum() == len(ANSWERS)
    by_client = values.filter(
        (pl.col("metric") == "ticket_volume") & pl.col("client_id").is_not_null()
    )
    assert set(by_client["client_id"]) == {"360001", "360002", "360003"}
    assert any(p.endswith(".parquet") for p in first.paths)

    # --- a second run reads only what changed since the committed watermark
    watermark = datetime.fromisoformat(by_name["zendesk"]["watermark"])
    zendesk.update_ticket(
        35440,
        at=datetime(2024, 3, 25, 10, 0, tzinfo=UTC),
        status="solved",
        metric_set={"solved_at": "2024-03-25T10:00:00Z"},
    )
    served = len(zendesk.requests)
    second = run_pipeline(config, output=str(output))

    new_requests = zendesk.requests[served:]
    ticket_query = next(q for path, q in new_requests if path == TICKETS_PATH)
    assert ticket_query["start_time"] == str(int(watermark.timestamp()))
    ratings_query = next(q for path, q in new_requests if path == RATINGS_PATH)
    assert "start_time" in ratings_query
    tickets_source = next(s for s in second.manifest["sources"] if s["name"] == "zendesk")
    assert tickets_source["since"] == watermark.isoformat()
    assert tickets_source["rows_read"] < TICKETS_IN_FIXTURE
    volume = second.metric_values.filter(
        (pl.col("metric") == "ticket_volume")
        & pl.col("client_id").is_null()
        & pl.col("segment").is_null()
    )
    assert volume["value"].sum() == TICKETS_IN_FIXTURE  # the snapshot still holds them all

    for path in (p for p in output.rglob("*") if p.is_file()):
        data = path.read_bytes()
        for secret in secret_forms():
            assert secret.encode() not in data, path


def test_401_through_a_run_names_the_variables_never_the_token(
    tmp_path: Path, zendesk: FakeZendesk, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "zd-WRONG-planted-ZZ7"
    monkeypatch.setenv("ZENDESK_API_TOKEN", wrong)
    config = example_config(tmp_path, zendesk)
    with pytest.raises(SourceError) as caught:
        run_pipeline(config, output=str(tmp_path / "out"))
    message = f"{caught.value}\n{caught.value!r}"
    assert "source 'zendesk' (zendesk.tickets)" in message
    assert "HTTP 401 Unauthorized" in message
    assert "ZENDESK_EMAIL and ZENDESK_API_TOKEN" in message
    basic = base64.b64encode(f"{EMAIL}/token:{wrong}".encode()).decode()
    assert wrong not in message
    assert basic not in message
    assert not any((tmp_path / "out").rglob("*.parquet"))
