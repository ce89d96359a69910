"""A private PostgreSQL server for the whole session (about 2 s to start), and a
``helpdesk_tickets`` table in it that each test may change (:func:`fresh_tickets`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cxpipe_sql.testing import PostgresServer, create_sample_tickets, postgres_or_skip


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """Skipped without PostgreSQL's binaries, except under CI=true where that fails."""
    with postgres_or_skip() as server:
        yield server


@pytest.fixture
def db_url(postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """The server's URL in ``$CXPIPE_TEST_DB_URL``, the variable the tests' configs name."""
    url = postgres.url()
    monkeypatch.setenv("CXPIPE_TEST_DB_URL", url)
    return url


@pytest.fixture
def fresh_tickets(postgres: PostgresServer, db_url: str) -> str:
    """A freshly loaded ``helpdesk_tickets`` table (240 tickets); returns its name."""
    create_sample_tickets(postgres, "helpdesk_tickets")
    return "helpdesk_tickets"
