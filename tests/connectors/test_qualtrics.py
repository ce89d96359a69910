"""The ``cxpipe-qualtrics`` connector inside cxpipe, against a local Qualtrics.

The server is pytest-httpserver on localhost running :class:`cxpipe_qualtrics.testing.
FakeQualtrics`: the three documented endpoints of the asynchronous response export (start,
progress, file), with bodies shaped like Qualtrics' API reference and a zipped JSON file
built in the test. httpx is not mocked. It is not a live Qualtrics account.

What is checked here is the connector as cxpipe sees it: installed through its entry point,
configured by the shipped ``example.cxpipe.toml``, the export flow and its failures,
conformed to the canonical ``survey_responses``, read incrementally, and run end to end
into NPS and CSAT metrics, never leaking its token. The connector's own unit tests (and
the contract kit's rules) live in ``plugins/cxpipe-qualtrics/tests``.
"""

from __future__ import annotations

import logging
import time
import tomllib
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from cxpipe_qualtrics import QualtricsResponses
from cxpipe_qualtrics.testing import CLIENTS, FakeQualtrics, sample_responses
from pytest_httpserver import HTTPServer

from cxpipe.config import CxpipeConfig, SourceConfig, parse_config
from cxpipe.conform import conform
from cxpipe.errors import SourceError
from cxpipe.plugins import build_registry, get_plugin_manager
from cxpipe.run import run_pipeline
from cxpipe.schemas import SURVEY_RESPONSES
from cxpipe.sources.base import Extract
from cxpipe.testing import assert_plugin_loads

EXAMPLE = (
    Path(__file__).resolve().parents[2] / "plugins" / "cxpipe-qualtrics" / "example.cxpipe.toml"
)
ENV = "QUALTRICS_API_TOKEN"  # the variable the example config names
TOKEN = "qx-PLANTED-9vTz4Lw2-token"
FAST = {
    "poll_interval": 0.01,
    "backoff_base": 0.01,
    "backoff_max": 0.02,
    "max_total_wait": 5,
    "max_attempts": 3,
}


@pytest.fixture
def fake(httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> FakeQualtrics:
    """A local Qualtrics with 24 responses, and its token in ``$QUALTRICS_API_TOKEN``."""
    monkeypatch.setenv(ENV, TOKEN)
    return FakeQualtrics(httpserver, TOKEN).install()


def example(fake: FakeQualtrics, **options: Any) -> dict[str, Any]:
    """The shipped example config as a dict, pointed at the local server."""
    data = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    data["sources"][0]["options"].update(base_url=fake.base_url, **FAST, **options)
    return data


def configured(data: dict[str, Any], folder: Path) -> CxpipeConfig:
    return parse_config(data, base_dir=folder, origin="example.cxpipe.toml")


def source_of(fake: FakeQualtrics, tmp_path: Path, **options: Any) -> QualtricsResponses:
    config = configured(example(fake, **options), tmp_path)
    cls = build_registry(get_plugin_manager()).source(config.sources[0].kind)
    source = cls(config.sources[0], resolve_path=config.resolve)
    assert isinstance(source, QualtricsResponses)
    return source


def canonical(source: QualtricsResponses, extract: Extract) -> pl.DataFrame:
    config: SourceConfig = source.config
    return conform(extract.frame, config, SURVEY_RESPONSES).collect()


def failure(source: QualtricsResponses, since: datetime | None = None) -> str:
    with pytest.raises(SourceError) as caught:
        source.extract(since)
    return str(caught.value)


def file_id_of(fake: FakeQualtrics) -> str:
    (job,) = fake.jobs.values()
    assert job.file_id is not None
    return job.file_id


# --- installed as a plugin --------------------------------------------------------------------


def test_installed_distribution_registers_qualtrics_through_its_entry_point() -> None:
    entry_points = metadata.distribution("cxpipe-qualtrics").entry_points
    assert [(e.group, e.name, e.value) for e in entry_points] == [
        ("cxpipe", "qualtrics", "cxpipe_qualtrics")
    ]
    registry = build_registry(get_plugin_manager())
    assert registry.source("qualtrics.responses") is QualtricsResponses
    assert {(r.kind, r.name) for r in registry.registrations if r.plugin == "qualtrics"} == {
        ("source", "qualtrics.responses")
    }
    assert [r.name for r in assert_plugin_loads("cxpipe-qualtrics")] == ["qualtrics.responses"]


# --- the export flow --------------------------------------------------------------------------


def test_start_poll_download_unpack(fake: FakeQualtrics, tmp_path: Path) -> None:
    extract = source_of(fake, tmp_path).extract()
    frame = extract.frame.collect()

    (progress_id,) = fake.jobs
    file_id = file_id_of(fake)
    export = f"/API/v3/surveys/{fake.survey_id}/export-responses"
    assert fake.calls == [
        f"POST {export}",
        f"GET {export}/{progress_id}",  # inProgress
        f"GET {export}/{progress_id}",  # inProgress
        f"GET {export}/{progress_id}",  # complete, with the fileId
        f"GET {export}/{file_id}/file",
    ]
    assert fake.starts == [{"format": "json", "compress": True}]  # a full read: no startDate

    assert frame.height == 24
    first = frame.row(0, named=True)
    assert first["responseId"] == "R_0000CxPipeFakeA"
    assert first["values.QID1"] == "0"  # text, as written; conform parses
    assert first["labels.QID2"] == "Very dissatisfied"
    assert first["values.client_id"] == "acme"
    assert first["values.recordedDate"] == "2024-01-03T09:03:00.412Z"
    assert set(frame["_cx_file"]) == {f"CX Pulse.json (export file {file_id})"}
    assert frame["_cx_row"].to_list() == list(range(1, 25))
    assert all(t == pl.String for name, t in frame.schema.items() if name != "_cx_row")
    (endpoint,) = extract.inputs
    assert endpoint.path == f"{fake.base_url}{export}/{file_id}/file"
    assert endpoint.size_bytes is not None
    assert endpoint.size_bytes > 0
    assert extract.warnings == []


def test_incremental_read_sends_start_date(fake: FakeQualtrics, tmp_path: Path) -> None:
    since = datetime(2024, 2, 1, 12, 30, 15, 734_000, tzinfo=UTC)
    source = source_of(fake, tmp_path)
    rows = canonical(source, source.extract(since))

    # ISO 8601 in UTC to the second: truncating moves the bound earlier, never later.
    assert fake.starts == [
        {"format": "json", "compress": True, "startDate": "2024-02-01T12:30:15Z"}
    ]
    recorded = [
        datetime.fromisoformat(r["values"]["recordedDate"].replace("Z", "+00:00"))
        for r in fake.responses
    ]
    assert rows.height == sum(at >= since for at in recorded) > 0
    assert rows["submitted_at"].min() >= since  # type: ignore[operator]


def test_failed_export_is_a_clear_error(fake: FakeQualtrics, tmp_path: Path) -> None:
    fake.final_status = "failed"
    message = failure(source_of(fake, tmp_path))
    (progress_id,) = fake.jobs
    assert "source 'qualtrics_pulse' (qualtrics.responses)" in message
    assert f"export {progress_id} of survey {fake.survey_id} failed" in message
    assert "requestId" in message
    assert fake.polls == 3  # stopped at the failure, no download tried
    assert not any(call.endswith("/file") for call in fake.calls)


def test_poll_limit_is_a_clear_error(fake: FakeQualtrics, tmp_path: Path) -> None:
    fake.polls_in_progress = 1_000_000
    message = failure(source_of(fake, tmp_path, max_polls=3))
    (progress_id,) = fake.jobs
    assert f"export {progress_id} of survey {fake.survey_id} is still inProgress" in message
    assert "options.max_polls = 3 polls" in message
    assert fake.polls == 3


def test_corrupt_zip_names_the_file(fake: FakeQualtrics, tmp_path: Path) -> None:
    fake.file_bytes = b"PK\x03\x04" + b"\x00" * 60  # a zip header and nothing valid after it
    message = failure(source_of(fake, tmp_path))
    assert f"export file {file_id_of(fake)}" in message
    assert "is not a readable zip" in message


def test_429_with_retry_after_while_polling(fake: FakeQualtrics, tmp_path: Path) -> None:
    fake.throttle, fake.retry_after = 1, "1"
    started = time.monotonic()
    extract = source_of(fake, tmp_path).extract()
    waited = time.monotonic() - started

    assert extract.frame.collect().height == 24
    assert waited >= 1.0  # the server's Retry-After, not the 10 ms backoff
    assert extract.warnings == ["source 'qualtrics_pulse': requests were retried (HTTP 429 ×1)"]
    (progress_id,) = fake.jobs
    polls = [call for call in fake.calls if call.endswith(progress_id)]
    assert len(polls) == 4  # the throttled one, then inProgress twice and complete


def test_401_names_the_variable_never_the_token(
    fake: FakeQualtrics,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    wrong = "qx-PLANTED-wrong-Zr81"
    monkeypatch.setenv(ENV, wrong)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(SourceError) as caught:
        source_of(fake, tmp_path).extract()
    message = str(caught.value)
    assert "HTTP 401 Unauthorized" in message
    assert f"check the credentials in {ENV}" in message
    # the server echoed the token it was sent; the message must not repeat it
    shown = "\n".join([message, repr(caught.value), caplog.text])
    assert wrong not in shown
    assert TOKEN not in shown


# --- conform, incremental, end to end ---------------------------------------------------------


def test_example_config_conforms_to_survey_responses(fake: FakeQualtrics, tmp_path: Path) -> None:
    source = source_of(fake, tmp_path)
    rows = canonical(source, source.extract())

    assert rows.height == 24
    assert rows.filter(pl.col("_cx_errors").list.len() > 0).height == 0
    for name, dtype in SURVEY_RESPONSES.polars_schema.items():
        assert rows.schema[name] == dtype, name
    first = rows.row(0, named=True)
    assert first["response_id"] == "R_0000CxPipeFakeA"
    assert first["submitted_at"] == datetime(2024, 1, 3, 9, 3, 0, 412_000, tzinfo=UTC)
    assert (first["client_id"], first["respondent_level"]) == ("acme", "business_user")
    assert (first["ticket_id"], first["respondent_side"], first["survey_kind"]) == (
        "INC100200",
        "client",
        "transactional",
    )
    assert (first["nps_score"], first["csat"], first["ces"]) == (0, 1, None)  # QID3 skipped
    assert first["comment"] is None
    second = rows.row(1, named=True)
    assert (second["nps_score"], second["csat"], second["ces"]) == (7, 4, 6)
    assert second["comment"].startswith("Response 1: the team kept us informed, délai")
    assert set(rows["client_id"]) == set(CLIENTS)
    assert rows["nps_score"].is_between(0, 10).all()
    assert rows["csat"].is_between(1, 5).all()
    assert rows["ces"].drop_nulls().is_between(1, 7).all()
    assert rows.select(pl.col("response_id").is_unique().all()).item()


def test_incremental_read_with_nothing_new_conforms_to_no_rows(
    fake: FakeQualtrics, tmp_path: Path
) -> None:
    source = source_of(fake, tmp_path)
    rows = canonical(source, source.extract(datetime(2030, 1, 1, tzinfo=UTC)))
    assert rows.height == 0
    assert set(SURVEY_RESPONSES.columns) <= set(rows.columns)


def _totals(values: pl.DataFrame, metric: str) -> tuple[float, float]:
    overall = values.filter(
        (pl.col("metric") == metric) & pl.col("client_id").is_null() & pl.col("segment").is_null()
    )
    return float(overall["numerator"].sum()), float(overall["denominator"].sum())


@pytest.mark.slow
def test_run_pipeline_writes_nps_and_csat_then_reads_incrementally(
    fake: FakeQualtrics, tmp_path: Path
) -> None:
    data = example(fake)
    data["metrics"] = {"only": ["nps", "csat_pct"]}
    config = configured(data, tmp_path)
    output = tmp_path / "output"

    first = run_pipeline(config, output=str(output))
    assert first.manifest["status"] == "succeeded"
    (source,) = first.manifest["sources"]
    assert (source["name"], source["rows_read"], source["rows_kept"]) == ("qualtrics_pulse", 24, 24)
    assert source["inputs"][0]["path"].endswith("/file")
    responses = fake.responses
    nps = [r["values"]["QID1"] for r in responses]
    csat = [r["values"]["QID2"] for r in responses]
    promoters_minus_detractors = sum(s >= 9 for s in nps) - sum(s <= 6 for s in nps)
    assert _totals(first.metric_values, "nps") == (promoters_minus_detractors, 24)
    assert _totals(first.metric_values, "csat_pct") == (sum(s >= 4 for s in csat), 24)
    by_client = first.metric_values.filter(
        (pl.col("metric") == "nps") & pl.col("client_id").is_not_null()
    )
    assert set(by_client["client_id"]) == set(CLIENTS)

    # Three responses arrive; the next run asks only for what was recorded since.
    latest = max(r["values"]["recordedDate"] for r in responses)
    new = sample_responses(27, start=datetime(2024, 1, 3, 9, 0, tzinfo=UTC))[24:]
    fake.responses = [*responses, *new]
    second = run_pipeline(configured(data, tmp_path), output=str(output))
    assert second.manifest["status"] == "succeeded"
    assert fake.starts[1]["startDate"] == latest[:19] + "Z"
    (source,) = second.manifest["sources"]
    assert source["rows_read"] == 3 + 1  # the new ones, and the watermark's own (merged)
    nps += [r["values"]["QID1"] for r in new]
    assert _totals(second.metric_values, "nps") == (
        sum(s >= 9 for s in nps) - sum(s <= 6 for s in nps),
        27,
    )

    for path in (p for p in output.rglob("*") if p.is_file()):
        assert TOKEN.encode() not in path.read_bytes(), path
