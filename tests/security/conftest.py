"""Shared pieces of the security tests: planted secrets, a ServiceNow config builder and
a handler catching every log record."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from cxpipe_sql.testing import PostgresServer, postgres_or_skip

from tests.security.leaks import AllRecords

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"
SERVICENOW_EXAMPLE = PLUGINS / "cxpipe-servicenow" / "example.cxpipe.toml"
USERNAME = "cxpipe.integration"
PASSWORD = "Pl4nted-Basic:Qz8/Wx+3=Kk@v"  # ':' '/' '+' '=' '@': URL-encoding changes it
TOKEN = "tKn-PLANTED/7f3a+9c=Zq1"
DB_PASSWORD = "Pl4nted-DB:Xq9z/Vb7w+k"
FAST = (
    "backoff_base = 0.01\nbackoff_max = 0.02\nmax_total_wait = 5\nmax_attempts = 3\n"
    "max_requests_per_minute = 100000\n"
)


def servicenow_toml(base_url: str, auth: str) -> str:
    """The shipped ServiceNow example's incidents source pointed at ``base_url``, with
    ``auth`` (TOML lines naming where the credentials are) instead of its Basic-auth
    variables."""
    text = SERVICENOW_EXAMPLE.read_text(encoding="utf-8")
    text = text.replace("https://acme.service-now.com", base_url)
    text = re.sub(r"(?m)^password_env = .*$", "", text)
    text = re.sub(r"(?m)^username_env = .*$", lambda _m: auth + "\n" + FAST, text)
    incidents = text[: text.index("[[sources]]", text.index("[[sources]]") + 1)]
    return incidents + '[metrics]\nonly = ["ticket_volume"]\n'  # one source: faster


BASIC = 'username_env = "SERVICENOW_USERNAME"\npassword_env = "SERVICENOW_PASSWORD"'
BEARER = 'token_env = "SERVICENOW_TOKEN"'


@pytest.fixture
def all_logs() -> Iterator[AllRecords]:
    handler = AllRecords().attach()
    try:
        yield handler
    finally:
        handler.detach()


@pytest.fixture
def planted_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVICENOW_USERNAME", USERNAME)
    monkeypatch.setenv("SERVICENOW_PASSWORD", PASSWORD)
    monkeypatch.setenv("SERVICENOW_TOKEN", TOKEN)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One private PostgreSQL server for the folder (its start is the cost)."""
    with postgres_or_skip() as server:
        yield server
