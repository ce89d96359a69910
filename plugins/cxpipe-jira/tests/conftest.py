"""A local Jira Service Management site per test (:class:`cxpipe_jira.testing.FakeJira`
on pytest-httpserver) and the account's e-mail and API token in the environment."""

from __future__ import annotations

import pytest
from cxpipe_jira.testing import EMAIL, TOKEN, FakeJira
from pytest_httpserver import HTTPServer


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """``JIRA_EMAIL`` and ``JIRA_API_TOKEN``, the variables the tests' configs name."""
    monkeypatch.setenv("JIRA_EMAIL", EMAIL)
    monkeypatch.setenv("JIRA_API_TOKEN", TOKEN)


@pytest.fixture
def fake(httpserver: HTTPServer) -> FakeJira:
    """Twelve sample requests served 5 per search page (so paging is exercised)."""
    return FakeJira(httpserver, page_limit=5)
