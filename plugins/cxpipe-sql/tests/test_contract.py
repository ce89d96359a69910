"""cxpipe's contract test kit (``cxpipe.testing``) on the ``sql`` source: every source rule,
run against the helpdesk table of the session's PostgreSQL server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from cxpipe_sql import SqlOptions, SqlSource
from cxpipe_sql.testing import PostgresServer, create_sample_tickets, sample_tickets_source

from cxpipe.testing import assert_plugin_loads, get_source_test_class

ENV = "CXPIPE_CONTRACT_DB_URL"


@pytest.fixture(scope="class")
def contract_database(postgres: PostgresServer) -> Iterator[None]:
    """The sample table on the server, and its URL in the environment, for the class."""
    create_sample_tickets(postgres, "helpdesk_tickets")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ENV, postgres.url())
        yield


TestSqlSourceContract = get_source_test_class(
    SqlSource,
    config=lambda contract_database: sample_tickets_source(ENV),
    since=datetime(2024, 4, 1, tzinfo=UTC),
    # by design the read starts options.lookback_seconds before the watermark (late commits)
    since_tolerance=timedelta(seconds=SqlOptions.model_fields["lookback_seconds"].default),
)


def test_plugin_loads() -> None:
    registered = assert_plugin_loads("cxpipe-sql")
    assert [(r.kind, r.name) for r in registered] == [("source", "sql")]
