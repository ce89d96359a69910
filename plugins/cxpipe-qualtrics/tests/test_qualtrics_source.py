"""The ``qualtrics.responses`` source against a local Qualtrics (pytest-httpserver).

The server speaks the documented response export (``cxpipe_qualtrics.testing``); httpx is
not mocked. What is checked: cxpipe's contract kit on the source; the options; the start
body; a bare JSON download (``compress = false``); every way the file can be wrong; a
complete job without a file; a 404 while polling; an unset token variable. The flow
through cxpipe (entry point, example config, conform, incremental runs, metrics) is in
cxpipe's own ``tests/connectors/test_qualtrics.py``.
"""

from __future__ import annotations

import io
import json
import re
import tomllib
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from cxpipe_qualtrics import QualtricsOptions, QualtricsResponses, start_date
from cxpipe_qualtrics.testing import SURVEY_ID, FakeQualtrics, export_file, sample_responses
from pytest_httpserver import HTTPServer

from cxpipe.config import SourceConfig
from cxpipe.errors import ConfigError, SourceError
from cxpipe.testing import get_source_test_class

PLUGIN = Path(__file__).resolve().parents[1]
EXAMPLE = PLUGIN / "example.cxpipe.toml"
ENV = "CXPIPE_QUALTRICS_TEST_TOKEN"
TOKEN = "qx-PLANTED-unit-7Yh3"
FAST = {"poll_interval": 0.001, "backoff_base": 0.01, "backoff_max": 0.02, "max_attempts": 2}


def example_table() -> dict[str, Any]:
    """The example config's ``[[sources]]`` table, without name and kind."""
    table: dict[str, Any] = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))["sources"][0]
    return {k: v for k, v in table.items() if k not in ("name", "kind")}


def make(base_url: str, **options: Any) -> QualtricsResponses:
    config = SourceConfig.model_validate(
        {
            "name": "pulse",
            "kind": "qualtrics.responses",
            "entity": "survey_responses",
            "options": {
                "base_url": base_url,
                "survey_id": SURVEY_ID,
                "token_env": ENV,
                **FAST,
                **options,
            },
        }
    )
    return QualtricsResponses(config)


def failure(source: QualtricsResponses) -> str:
    with pytest.raises(SourceError) as caught:
        source.extract()
    return str(caught.value)


@pytest.fixture
def fake(httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> FakeQualtrics:
    monkeypatch.setenv(ENV, TOKEN)
    return FakeQualtrics(httpserver, TOKEN).install()


# --- cxpipe's contract kit --------------------------------------------------------------------


@pytest.fixture(scope="class")
def contract_server() -> Iterator[FakeQualtrics]:
    """A Qualtrics of the class's own (its token in the environment for the class)."""
    server = HTTPServer(host="localhost", port=0)
    server.start()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("QUALTRICS_API_TOKEN", TOKEN)  # the variable the example config names
        try:
            yield FakeQualtrics(server, TOKEN).install()
        finally:
            server.clear()
            server.stop()


def contract_table(contract_server: FakeQualtrics) -> dict[str, Any]:
    """The shipped example's table, pointed at the class's local server."""
    table = example_table()
    table["options"].update(base_url=contract_server.base_url, **FAST)
    return table


TestQualtricsContract = get_source_test_class(
    QualtricsResponses, config=contract_table, since=datetime(2024, 2, 1, tzinfo=UTC)
)


# --- options ----------------------------------------------------------------------------------


def test_defaults_suit_qualtrics() -> None:
    options = make("https://fra1.qualtrics.com/API/v3/").options
    assert options.base_url == "https://fra1.qualtrics.com"  # /API/v3 is the connector's
    assert (options.token_header, options.token_prefix) == ("X-API-TOKEN", "")
    assert options.headers == {"Accept": "application/json, application/octet-stream"}
    assert (options.compress, options.use_labels) == (True, False)
    assert QualtricsResponses.kind == "qualtrics.responses"


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"survey_id": "SV_abc/../../users"}, "options.survey_id: must be a Qualtrics survey ID"),
        ({"export_options": {"format": "csv"}}, "format is set by the connector"),
        ({"export_options": {"startDate": "x", "useLabels": True}}, "startDate, useLabels are set"),
        ({"max_polls": 0}, "options.max_polls"),
        ({"token_env": "qx-PLANTED-unit-7Yh3"}, "must name an environment variable"),
    ],
)
def test_bad_options_are_config_errors(options: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(expected)) as caught:
        make("https://fra1.qualtrics.com", **options)
    assert TOKEN not in str(caught.value)


def test_another_entity_is_refused() -> None:
    config = SourceConfig.model_validate(
        {
            "name": "pulse",
            "kind": "qualtrics.responses",
            "entity": "tickets",
            "options": {"base_url": "https://fra1.qualtrics.com", "survey_id": SURVEY_ID},
        }
    )
    with pytest.raises(ConfigError, match="reads survey_responses, not tickets"):
        QualtricsResponses(config)


def test_start_date_is_utc_to_the_second() -> None:
    paris = timezone(timedelta(hours=1))
    assert (
        start_date(datetime(2024, 3, 1, 10, 0, 5, 999_999, tzinfo=paris)) == "2024-03-01T09:00:05Z"
    )
    assert start_date(datetime(2024, 3, 1, 10, 0, 5)) == "2024-03-01T10:00:05Z"  # naive is UTC


def test_readme_documents_every_option() -> None:
    readme = (PLUGIN / "README.md").read_text(encoding="utf-8")
    for name in QualtricsOptions.model_fields:
        assert f"`{name}`" in readme, name


# --- the start body and the download ----------------------------------------------------------


def test_export_options_and_labels_go_in_the_start_body(fake: FakeQualtrics) -> None:
    source = make(
        fake.base_url,
        use_labels=True,
        export_options={"endDate": "2024-03-01T00:00:00Z", "questionIds": ["QID1", "QID2"]},
    )
    source.extract(datetime(2024, 2, 1, tzinfo=UTC))
    assert fake.starts == [
        {
            "endDate": "2024-03-01T00:00:00Z",
            "questionIds": ["QID1", "QID2"],
            "format": "json",
            "compress": True,
            "useLabels": True,
            "startDate": "2024-02-01T00:00:00Z",
        }
    ]


def test_uncompressed_export_is_read_as_json(fake: FakeQualtrics) -> None:
    frame = make(fake.base_url, compress=False).extract().frame.collect()
    assert fake.starts == [{"format": "json", "compress": False}]
    assert frame.height == 24
    assert frame["_cx_file"][0].startswith("responses.json (export file ")


def zipped(**members: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name.replace("__", "."), content)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (zipped(Pulse__csv=b"a,b\n1,2\n"), "expected one .json file in the zip, found 'Pulse.csv'"),
        (zipped(Pulse__json=b"{not json"), "Pulse.json is not valid JSON (Expecting property"),
        (
            zipped(Pulse__json=b'{"result": []}'),
            "Pulse.json has no list 'responses' (got 'result')",
        ),
        (zipped(Pulse__json=b'{"responses": [1]}'), "response 1 of Pulse.json is a int"),
        (b'{"responses": []}', "is not a readable zip (BadZipFile"),
    ],
)
def test_a_wrong_file_names_the_file_and_the_problem(
    fake: FakeQualtrics, content: bytes, expected: str
) -> None:
    fake.file_bytes = content
    message = failure(make(fake.base_url))
    (job,) = fake.jobs.values()
    assert f"source 'pulse' (qualtrics.responses): export file {job.file_id}: " in message
    assert expected in message


def test_an_oversized_export_is_refused(fake: FakeQualtrics) -> None:
    message = failure(make(fake.base_url, max_export_bytes=1000))
    assert "more than options.max_export_bytes = 1000" in message


def test_a_bom_and_utf8_text_survive(fake: FakeQualtrics) -> None:
    responses = sample_responses(2)
    fake.file_bytes = zipped(
        Pulse__json=b"\xef\xbb\xbf" + json.dumps({"responses": responses}).encode()
    )
    frame = make(fake.base_url).extract().frame.collect()
    assert frame["values.QID4_TEXT"][1] == responses[1]["values"]["QID4_TEXT"]


def test_a_zip_from_export_file_round_trips() -> None:
    content = export_file(sample_responses(3), member="x.json")
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert archive.namelist() == ["x.json"]


# --- the job's answers ------------------------------------------------------------------------


def test_complete_without_a_file_id_is_an_error(
    httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, TOKEN)
    path = f"/API/v3/surveys/{SURVEY_ID}/export-responses"
    httpserver.expect_oneshot_request(path, method="POST").respond_with_json(
        {"result": {"progressId": "ES_x1"}, "meta": {"httpStatus": "200 - OK"}}
    )
    httpserver.expect_oneshot_request(f"{path}/ES_x1").respond_with_json(
        {"result": {"status": "complete", "percentComplete": 100}}
    )
    assert "export ES_x1 is complete but has no fileId" in failure(make(httpserver.url_for("/")))


def test_a_404_while_polling_stops_at_once(
    httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, TOKEN)
    path = f"/API/v3/surveys/{SURVEY_ID}/export-responses"
    httpserver.expect_oneshot_request(path, method="POST").respond_with_json(
        {"result": {"progressId": "ES_gone"}}
    )
    httpserver.expect_request(f"{path}/ES_gone").respond_with_json(
        {"meta": {"httpStatus": "404 - Not Found", "error": {"errorMessage": "Not found"}}},
        status=404,
    )
    message = failure(make(httpserver.url_for("/")))
    assert f"GET {path}/ES_gone: HTTP 404 Not Found (Not found)" in message
    assert len(httpserver.log) == 2  # one poll, no retry


def test_start_without_progress_id_is_an_error(
    httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, TOKEN)
    path = f"/API/v3/surveys/{SURVEY_ID}/export-responses"
    httpserver.expect_oneshot_request(path, method="POST").respond_with_json({"result": {}})
    assert "the answer has no result.progressId" in failure(make(httpserver.url_for("/")))


def test_an_unset_token_variable_is_a_config_error(
    fake: FakeQualtrics, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV)
    with pytest.raises(
        ConfigError, match=f"options.token_env names the environment variable {ENV}"
    ):
        make(fake.base_url).extract()
    assert fake.calls == []


def test_empty_export_has_the_mapped_columns(fake: FakeQualtrics) -> None:
    table = example_table()
    table["options"].update(base_url=fake.base_url, token_env=ENV, **FAST)
    source = QualtricsResponses(
        SourceConfig.model_validate({"name": "pulse", "kind": "qualtrics.responses", **table})
    )
    frame = source.extract(datetime(2031, 1, 1, tzinfo=UTC)).frame.collect()
    assert frame.height == 0
    assert {"responseId", "values.recordedDate", "values.QID1", "values.client_id"} <= set(
        frame.columns
    )
    assert frame.schema["_cx_row"] == pl.Int64
