"""cxpipe's contract test kit (``cxpipe.testing``) on the ``sql`` source: every source rule,
run against the helpdesk table of the session's PostgreSQL server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from cxpipe_sql import SqlSource
from cxpipe_sql.testing import PostgresServer, create_sample_tickets, sample_tickets_source

from cxpipe.testing import SourceContract, assert_plugin_loads, get_source_test_class

ENV = "CXPIPE_CONTRACT_DB_URL"


class TestSqlSourceContract(SourceContract):
    cxpipe = get_source_test_class(
        SqlSource, config=sample_tickets_source(ENV), since=datetime(2024, 4, 1, tzinfo=UTC)
    ).cxpipe

    @pytest.fixture(scope="class")
    @classmethod
    def cxpipe_source_config(cls, postgres: PostgresServer) -> Iterator[dict[str, object]]:
        """The server must be up and its URL in the environment before anything is read."""
        create_sample_tickets(postgres, "helpdesk_tickets")
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv(ENV, postgres.url())
            yield sample_tickets_source(ENV)


def test_plugin_loads() -> None:
    registered = assert_plugin_loads("cxpipe-sql")
    assert [(r.kind, r.name) for r in registered] == [("source", "sql")]
