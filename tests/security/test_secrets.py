"""Planted secrets never appear in anything a run writes, logs or raises.

A distinctive token, Basic-auth password and database password are planted in the
environment; real pipelines run through each credential path (Bearer token, HTTP Basic,
a SQL URL), succeeding, retrying, failing with a 401 or a refused login. Then every file
under the output root, every log record at DEBUG and every exception in the raised
chain is searched for the secrets in all their spellings (:mod:`tests.security.leaks`).
The control test proves the search finds a deliberate leak in each place it looks.
The same runs through the Prefect flow are in ``test_secrets_flow.py``.
"""

from __future__ import annotations

import json
import logging
from base64 import b64encode
from pathlib import Path
from urllib.parse import quote, quote_plus

import polars as pl
import pytest
from cxpipe_servicenow.testing import Canned, FakeInstance, error_body, load_sample
from cxpipe_sql.testing import PostgresServer, create_sample_tickets
from pytest_httpserver import HTTPServer

from cxpipe.config import load_config
from cxpipe.errors import CxpipeError
from cxpipe.run import run_pipeline
from tests.connectors.test_sql import ENV as SQL_ENV
from tests.connectors.test_sql import TABLE, write_config
from tests.security.conftest import (
    BASIC,
    BEARER,
    DB_PASSWORD,
    PASSWORD,
    TOKEN,
    USERNAME,
    servicenow_toml,
)
from tests.security.leaks import AllRecords, LeakSearch, secret_forms

HTTP_SECRETS = [*secret_forms(PASSWORD, user=USERNAME), *secret_forms(TOKEN)]


ECHOES = {  # what a careless server sends back: the credentials it was given
    BASIC: f"Authorization: Basic {b64encode(f'{USERNAME}:{PASSWORD}'.encode()).decode()}, "
    f"password {PASSWORD}, in a URL: https://u:{quote(PASSWORD, safe='')}@host",
    BEARER: f"Authorization: Bearer {TOKEN}, in a query: ?token={quote_plus(TOKEN)}",
}


def _instance(server: HTTPServer, **credentials: str) -> FakeInstance:
    return load_sample(FakeInstance(username=USERNAME, **credentials)).install(server)


def _config(folder: Path, server: HTTPServer, auth: str) -> Path:
    path = folder / "cxpipe.toml"
    path.write_text(servicenow_toml(server.url_for("/").rstrip("/"), auth), encoding="utf-8")
    return path


def _search_run(
    forms: list[str], output: Path, logs: AllRecords, error: BaseException | None = None
) -> LeakSearch:
    search = LeakSearch(forms)
    search.tree(output)
    search.records("log", logs.records)
    if error is not None:
        search.error("raised", error)
    return search


@pytest.mark.usefixtures("planted_env")
@pytest.mark.parametrize("auth", [BASIC, BEARER], ids=["basic", "bearer"])
def test_http_runs_with_retries_leak_nothing(
    tmp_path: Path, httpserver: HTTPServer, all_logs: AllRecords, auth: str
) -> None:
    instance = _instance(httpserver, password=PASSWORD, token=TOKEN)
    instance.canned = [
        Canned(503, error_body("Service Unavailable", ECHOES[auth]), {"Retry-After": "0"}),
        Canned(500, error_body("Internal error", ECHOES[auth])),
    ]
    result = run_pipeline(load_config(_config(tmp_path, httpserver, auth)))
    assert result.metric_values.height > 0
    assert any("retry 1 of 2" in r.getMessage() for r in all_logs.records)  # retries logged
    _search_run(HTTP_SECRETS, tmp_path / "output", all_logs).assert_clean()


@pytest.mark.usefixtures("planted_env")
@pytest.mark.parametrize("auth", [BASIC, BEARER], ids=["basic", "bearer"])
def test_http_401_leaks_nothing(
    tmp_path: Path, httpserver: HTTPServer, all_logs: AllRecords, auth: str
) -> None:
    instance = _instance(httpserver, password="another", token="another")
    instance.canned = [Canned(401, error_body("User Not Authenticated", ECHOES[auth]))]
    with pytest.raises(CxpipeError, match="401") as raised:
        run_pipeline(load_config(_config(tmp_path, httpserver, auth)))
    _search_run(HTTP_SECRETS, tmp_path / "output", all_logs, raised.value).assert_clean()


def test_sql_wrong_password_leaks_nothing(
    tmp_path: Path,
    postgres: PostgresServer,
    monkeypatch: pytest.MonkeyPatch,
    all_logs: AllRecords,
) -> None:
    monkeypatch.setenv(SQL_ENV, postgres.url(password=DB_PASSWORD))
    with pytest.raises(CxpipeError, match="helpdesk") as raised:
        run_pipeline(load_config(write_config(tmp_path, metrics=["ticket_volume"])))
    forms = [*secret_forms(DB_PASSWORD), *secret_forms(DB_PASSWORD, user=postgres.user)]
    _search_run(forms, tmp_path / "output", all_logs, raised.value).assert_clean()


def test_sql_run_leaks_nothing(
    tmp_path: Path,
    postgres: PostgresServer,
    monkeypatch: pytest.MonkeyPatch,
    all_logs: AllRecords,
) -> None:
    create_sample_tickets(postgres, TABLE)
    monkeypatch.setenv(SQL_ENV, postgres.url())
    config = load_config(write_config(tmp_path, incremental=True))
    run_pipeline(config)
    run_pipeline(config)  # the second, incremental run reads the committed watermark
    assert list((tmp_path / "output" / "_state").iterdir())
    forms = secret_forms(postgres.password, user=postgres.user)
    _search_run(forms, tmp_path / "output", all_logs).assert_clean()


def test_the_search_finds_a_planted_leak_everywhere_it_looks(
    tmp_path: Path, all_logs: AllRecords
) -> None:
    """Control: each place searched above, with the secret deliberately put in it."""
    output = tmp_path / "output"
    (output / "_runs").mkdir(parents=True)
    (output / "_runs" / "r.json").write_text(json.dumps({"url": quote(TOKEN, safe="")}))
    pl.DataFrame({"comment": [f"key {PASSWORD}", *["filler"] * 1000]}).write_parquet(
        output / "data.parquet", compression="zstd"
    )
    basic = b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
    logging.getLogger("cxpipe.anything").debug("header %s", f"Basic {basic}")
    try:
        try:
            raise ValueError(f"connect to postgresql://u:{DB_PASSWORD}@h/db")
        except ValueError:
            raise CxpipeError("cannot connect") from None  # hides the cause, not the context
    except CxpipeError as error:
        raised = error

    forms = [*HTTP_SECRETS, *secret_forms(DB_PASSWORD)]
    search = _search_run(forms, output, all_logs, raised)
    found = dict(search.found)
    assert found[str(output / "_runs" / "r.json")] == quote(TOKEN, safe="")
    assert found[f"{output / 'data.parquet'} (values)"] == PASSWORD  # decoded, past zstd
    assert found["log cxpipe.anything"] == basic
    assert found["raised [1]"] == DB_PASSWORD  # the suppressed context
    with pytest.raises(AssertionError, match="secrets leaked"):
        search.assert_clean()
