"""The ``sql`` source against a real PostgreSQL server (started by ``conftest.py``).

What is checked: the options and the SQL they build, typed Arrow reads with lineage,
incremental reads on a bound watermark, injection attempts through every value and
identifier the config can carry, the read-only session, and error messages that name
the source and the variable but never a credential.
"""

from __future__ import annotations

import importlib
import sys
import types
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest
from cxpipe_sql import SqlOptions, SqlSource, build_statement
from cxpipe_sql.credentials import redact, secret_fragments
from cxpipe_sql.testing import PostgresServer

from cxpipe.config import SourceConfig
from cxpipe.errors import ConfigError, CxpipeError, SourceError
from cxpipe.plugins import build_registry, describe_plugins, get_plugin_manager

ENV = "CXPIPE_TEST_DB_URL"
PLANTED = "Pl4nted:Xq9zK@Vb7w"
"""A wrong password with the characters that break naive URL handling (``:`` and ``@``)."""
INJECTION = "'; DROP TABLE helpdesk_tickets; --"


def make_source(name: str = "helpdesk.tickets", timezone: str = "UTC", **options: Any) -> SqlSource:
    config = SourceConfig.model_validate(
        {
            "name": name,
            "kind": "sql",
            "entity": "tickets",
            "timezone": timezone,
            "options": {"dsn_env": ENV, **options},
        }
    )
    return SqlSource(config)


def rows(source: SqlSource, since: datetime | None = None) -> pl.DataFrame:
    return source.extract(since).frame.collect()


def table_rows(postgres: PostgresServer, table: str = "helpdesk_tickets") -> object:
    return postgres.scalar(f'SELECT count(*) FROM "{table}"')


def all_messages(error: BaseException) -> str:
    """The error's text, its repr, and that of every exception chained as its cause."""
    parts: list[str] = []
    current: BaseException | None = error
    while current is not None:
        parts += [str(current), repr(current)]
        current = current.__cause__
    return "\n".join(parts)


# --- options and the statement they build (no server) ---------------------------------------


def test_dsn_env_must_be_a_variable_name_and_a_pasted_url_is_not_echoed() -> None:
    url = f"postgresql://reader:{PLANTED}@db:5432/helpdesk"
    with pytest.raises(ConfigError) as caught:
        make_source(dsn_env=url, table="t")
    assert "options.dsn_env" in str(caught.value)
    assert "NAME of an environment variable" in str(caught.value)
    assert PLANTED not in str(caught.value)
    assert "reader" not in str(caught.value)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"table": "t", "query": "SELECT 1"}, "exactly one of query or table"),
        ({}, "exactly one of query or table"),
        ({"query": "SELECT 1", "columns": ["a"]}, "columns goes with table"),
        ({"table": "t", "columns": []}, "columns is empty"),
        ({"query": " ; "}, "is empty"),
        ({"table": "t", "dsn": "postgresql://x"}, "unknown key 'dsn'"),
        ({"table": "t", "batch_size_bytes": 0}, "batch_size_bytes"),
    ],
)
def test_invalid_options_say_what_is_wrong(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make_source(**options)


def test_a_dsn_env_or_a_secret_block_is_required() -> None:
    config = SourceConfig.model_validate(
        {"name": "s", "kind": "sql", "entity": "tickets", "options": {"table": "t"}}
    )
    with pytest.raises(ConfigError, match="give dsn_env"):
        SqlSource(config)


def test_statement_wraps_the_query_and_binds_the_watermark_after_the_parameters() -> None:
    options = SqlOptions(
        dsn_env=ENV,
        query="SELECT * FROM t WHERE client = $1 -- a trailing comment;",
        parameters=["acme"],
        updated_at_column="modified",
        lookback_seconds=0,
    )
    since = datetime(2024, 3, 1, 12, tzinfo=UTC)
    statement = build_statement(options, since)
    assert statement.sql == (
        "SELECT * FROM (\nSELECT * FROM t WHERE client = $1 -- a trailing comment\n) AS q\n"
        'WHERE q."modified" > CAST($2 AS timestamptz)\nORDER BY q."modified"'
    )
    assert statement.parameters == ("acme", "2024-03-01T12:00:00+00:00")
    first_run = build_statement(options, None)
    assert "WHERE q." not in first_run.sql
    assert first_run.parameters == ("acme",)
    # by default the bound is five minutes before the watermark (late commits)
    default = build_statement(options.model_copy(update={"lookback_seconds": 300}), since)
    assert default.parameters == ("acme", "2024-03-01T11:55:00+00:00")
    assert SqlOptions(dsn_env=ENV, table="t").lookback_seconds == 300


def test_statement_quotes_identifiers_and_reads_a_naive_watermark_as_utc() -> None:
    options = SqlOptions(
        dsn_env=ENV,
        table='support.Tickets"; DROP TABLE x; --',
        columns=["Id", 'a"b'],
        updated_at_column="Last Change",
        lookback_seconds=0,
    )
    statement = build_statement(options, datetime(2024, 1, 1))
    assert 'FROM "support"."Tickets""; DROP TABLE x; --"' in statement.sql
    assert 'SELECT "Id", "a""b" FROM' in statement.sql
    assert 'q."Last Change" > CAST($1 AS timestamptz)' in statement.sql
    assert statement.parameters == ("2024-01-01T00:00:00+00:00",)


def test_redact_removes_the_url_and_every_fragment_of_its_password() -> None:
    url = "postgresql://reader:Pl4nted%3AXq9zK%40Vb7w@db:5432/x"
    text = f"failed for {url}; also Pl4nted:Xq9zK@Vb7w and Xq9zK and Pl4nted alone"
    cleaned = redact(text, url)
    for fragment in ("Pl4nted", "Xq9zK", "Vb7w", url):
        assert fragment not in cleaned
    assert "reader" in redact("user reader failed", url)  # the user name is kept
    keyword = "host=db user=reader password='s3cr et' dbname=x"
    assert "s3cr et" not in redact(f"bad: {keyword}", keyword)
    assert set(secret_fragments("postgresql://db/x")) == {"postgresql://db/x"}


# --- reading ----------------------------------------------------------------------------------


def test_full_read_keeps_database_types_and_adds_lineage(fresh_tickets: str, db_url: str) -> None:
    source = make_source(table=fresh_tickets)
    extract = source.extract()
    frame = extract.frame.collect()
    assert frame.height == 240
    assert frame["_cx_row"].dtype == pl.Int64
    assert sorted(frame["_cx_row"].to_list()) == list(range(1, 241))
    assert set(frame["_cx_file"]) == {"sql:helpdesk.tickets"}
    schema = frame.schema
    assert schema["Reopens"] == pl.Int32
    assert schema["Hops"] == pl.Int16
    assert schema["OpenedAt"] == pl.Datetime("us")  # naive: conform applies the timezone
    assert schema["LastChange"] == pl.Datetime("us", "UTC")
    assert schema["Cost"] == pl.String  # numeric: exact decimal text, not a float
    assert frame.filter(pl.col("TicketNo") == "T-00002")["Cost"].item() == "25.00"
    assert [i.path for i in extract.inputs] == ["sql:helpdesk.tickets"]
    assert db_url not in repr(extract)
    assert extract.warnings == []


def test_columns_and_a_query_with_bound_parameters(fresh_tickets: str, db_url: str) -> None:
    picked = rows(make_source(table=fresh_tickets, columns=["TicketNo", "Prio"]))
    assert picked.columns == ["_cx_row", "TicketNo", "Prio", "_cx_file"]
    query = f'SELECT "TicketNo", "Customer" FROM {fresh_tickets} WHERE "Customer" = $1;'
    acme = rows(make_source(query=query, parameters=["acme"]))
    assert acme.height == 80
    assert set(acme["Customer"]) == {"acme"}


def test_small_batches_give_the_same_rows(fresh_tickets: str, db_url: str) -> None:
    source = make_source(table=fresh_tickets, batch_size_bytes=512)
    table = source.read_arrow()
    assert table.num_rows == 240
    assert len(table.to_batches()) > 1  # the driver honoured the size hint
    assert (
        rows(source)
        .sort("TicketNo")
        .equals(rows(make_source(table=fresh_tickets)).sort("TicketNo"))
    )


def test_incremental_reads_only_rows_changed_after_the_watermark(
    fresh_tickets: str, db_url: str, postgres: PostgresServer
) -> None:
    source = make_source(table=fresh_tickets, updated_at_column="LastChange", lookback_seconds=0)
    first = rows(source)
    assert first["LastChange"].is_sorted()  # ORDER BY the updated-at column
    watermark = first["LastChange"].max()
    assert isinstance(watermark, datetime)
    assert rows(source, since=watermark).height == 0

    postgres.execute(
        f'UPDATE {fresh_tickets} SET "State" = \'closed\', "SolvedAt" = "OpenedAt" + '
        f"interval '2 hours', \"LastChange\" = '2024-07-01 09:00+00' "
        f"WHERE \"TicketNo\" IN ('T-00010', 'T-00020')",
        f'INSERT INTO {fresh_tickets} SELECT \'T-99999\', "Customer", "Kind", "Prio", "State", '
        f'"OpenedAt", "FirstReplyAt", "SolvedAt", "ClosedAt", \'2024-07-02 09:00+00\', '
        f'"Reopens", "Hops", "Queue", "Via", "Cost" FROM {fresh_tickets} '
        f"WHERE \"TicketNo\" = 'T-00001'",
    )
    second = rows(source, since=watermark)
    assert second["TicketNo"].to_list() == ["T-00010", "T-00020", "T-99999"]
    assert set(second["State"]) == {"closed"}  # the updated rows are re-read with new values
    assert second["_cx_row"].to_list() == [1, 2, 3]
    later = rows(source, since=datetime(2024, 7, 1, 9, tzinfo=UTC))
    assert later["TicketNo"].to_list() == ["T-99999"]  # strictly after the watermark


def test_a_row_committed_late_with_an_earlier_stamp_is_read_by_the_lookback(
    fresh_tickets: str, db_url: str, postgres: PostgresServer
) -> None:
    """A writer stamps ``now()`` in a transaction that commits after a run has read: its
    row is older than the watermark that run committed. The lookback re-reads it."""
    source = make_source(table=fresh_tickets, updated_at_column="LastChange")
    strict = make_source(table=fresh_tickets, updated_at_column="LastChange", lookback_seconds=0)
    slow = importlib.import_module("adbc_driver_postgresql.dbapi").connect(postgres.url())
    try:
        with slow.cursor() as cursor:  # not autocommit: the change waits for commit()
            cursor.execute(
                f'UPDATE {fresh_tickets} SET "State" = \'closed\', "LastChange" = now() '
                f"WHERE \"TicketNo\" = 'T-00010'"
            )
        postgres.execute(
            f'UPDATE {fresh_tickets} SET "State" = \'closed\', "LastChange" = now() '
            f"WHERE \"TicketNo\" = 'T-00020'"
        )
        read = rows(source)  # a run reads now: T-00010's change is not committed yet
        watermark = read["LastChange"].max()
        assert isinstance(watermark, datetime)
        assert read.filter(pl.col("TicketNo") == "T-00010")["State"].to_list() != ["closed"]
        slow.commit()
    finally:
        slow.close()
    assert "T-00010" not in rows(strict, since=watermark)["TicketNo"].to_list()  # the gap
    again = rows(source, since=watermark)
    assert again.filter(pl.col("TicketNo") == "T-00010")["State"].to_list() == ["closed"]


def test_naive_timestamps_compare_in_the_sources_timezone(fresh_tickets: str, db_url: str) -> None:
    # OpenedAt is a naive local time; in Paris (UTC+1 in winter) 2024-01-02 01:00 local is
    # 2024-01-02 00:00 UTC, so a watermark of 00:00 UTC excludes that first ticket.
    paris = make_source(
        table=fresh_tickets,
        updated_at_column="OpenedAt",
        timezone="Europe/Paris",
        lookback_seconds=0,
    )
    since = datetime(2024, 1, 2, 0, 0, tzinfo=UTC)
    assert "T-00001" not in rows(paris, since)["TicketNo"].to_list()
    utc = make_source(table=fresh_tickets, updated_at_column="OpenedAt", lookback_seconds=0)
    assert rows(utc, since)["TicketNo"][0] == "T-00001"


def test_no_updated_at_column_reads_everything_and_says_so(fresh_tickets: str, db_url: str) -> None:
    extract = make_source(table=fresh_tickets).extract(since=datetime(2030, 1, 1, tzinfo=UTC))
    assert extract.frame.collect().height == 240
    assert "no updated_at_column" in extract.warnings[0]


def test_empty_result_keeps_the_columns(fresh_tickets: str, db_url: str) -> None:
    query = f'SELECT "TicketNo", "OpenedAt" FROM {fresh_tickets} WHERE false'
    frame = rows(make_source(query=query))
    assert frame.height == 0
    assert frame.schema["OpenedAt"] == pl.Datetime("us")


def test_uuid_numeric_and_json_arrive_as_text(postgres: PostgresServer, db_url: str) -> None:
    query = (
        "SELECT 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS id, NULL::uuid AS parent, "
        """12.50::numeric(6, 2) AS cost, '{"tags": ["vip"]}'::jsonb AS extra"""
    )
    frame = rows(make_source(query=query))
    assert frame.select("id", "parent", "cost", "extra").row(0) == (
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        None,
        "12.50",
        '{"tags": ["vip"]}',
    )


def test_a_type_polars_cannot_hold_is_named(postgres: PostgresServer, db_url: str) -> None:
    query = "SELECT 1 AS fine, interval '2 days' AS waited"
    with pytest.raises(SourceError, match=r"cannot read column\(s\) 'waited' \(month_day_nano"):
        make_source(query=query).extract()


def test_duplicate_column_names_are_an_error(fresh_tickets: str, db_url: str) -> None:
    query = f'SELECT "TicketNo" AS id, "Customer" AS id FROM {fresh_tickets}'
    with pytest.raises(SourceError, match="more than one column named 'id'"):
        make_source(query=query).extract()


# --- injection and writes -----------------------------------------------------------------


def test_a_malicious_parameter_is_only_a_value(
    fresh_tickets: str, db_url: str, postgres: PostgresServer
) -> None:
    query = f'SELECT * FROM {fresh_tickets} WHERE "Customer" = $1'
    assert rows(make_source(query=query, parameters=[INJECTION])).height == 0
    postgres.execute(
        f'UPDATE {fresh_tickets} SET "Customer" = $${INJECTION}$$ WHERE "TicketNo" = \'T-00003\''
    )
    matched = rows(make_source(query=query, parameters=[INJECTION]))
    assert matched["Customer"].to_list() == [INJECTION]  # matched as a plain string
    assert table_rows(postgres) == 240


def test_a_malicious_watermark_is_only_a_value(
    fresh_tickets: str, db_url: str, postgres: PostgresServer
) -> None:
    source = make_source(table=fresh_tickets, updated_at_column="LastChange")
    malicious: Any = f"2024-01-01{INJECTION}"  # not a datetime: what a careless caller might pass
    with pytest.raises(SourceError) as caught:
        source.extract(since=malicious)
    assert "helpdesk.tickets" in str(caught.value)
    assert table_rows(postgres) == 240
    assert rows(source, since=datetime(2024, 6, 19, tzinfo=UTC)).height > 0  # still readable


@pytest.mark.parametrize(
    "options",
    [
        {"table": 'helpdesk_tickets"; DROP TABLE helpdesk_tickets; --'},
        {
            "table": "helpdesk_tickets",
            "columns": ['TicketNo" FROM x; DROP TABLE helpdesk_tickets; --'],
        },
        {"table": "helpdesk_tickets", "updated_at_column": f'LastChange" > now(); {INJECTION}'},
        {"query": "SELECT 1; DROP TABLE helpdesk_tickets"},
        {"query": "DELETE FROM helpdesk_tickets RETURNING *"},
        {"query": "WITH gone AS (DELETE FROM helpdesk_tickets RETURNING *) SELECT * FROM gone"},
        {"query": "SELECT * FROM helpdesk_tickets FOR UPDATE"},
    ],
    ids=[
        "table",
        "columns",
        "updated_at_column",
        "two-statements",
        "delete",
        "with-delete",
        "lock",
    ],
)
def test_config_cannot_change_the_database(
    options: dict[str, Any], fresh_tickets: str, db_url: str, postgres: PostgresServer
) -> None:
    with pytest.raises(SourceError, match=r"source 'helpdesk\.tickets': the query failed: ERROR"):
        make_source(**options).extract(since=datetime(2024, 1, 1, tzinfo=UTC))
    assert table_rows(postgres) == 240


def test_the_session_is_read_only(
    fresh_tickets: str, db_url: str, postgres: PostgresServer
) -> None:
    postgres.execute(
        "CREATE OR REPLACE FUNCTION wipe() RETURNS integer LANGUAGE sql AS "
        "$$ DELETE FROM helpdesk_tickets; SELECT 1 $$"
    )
    with pytest.raises(SourceError, match="read-only transaction"):
        make_source(query="SELECT wipe()").extract()
    assert table_rows(postgres) == 240


# --- errors and secrets -------------------------------------------------------------------------


def test_missing_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    with pytest.raises(SourceError) as caught:
        make_source(table="t").extract()
    assert str(caught.value).startswith("source 'helpdesk.tickets': environment variable")
    assert ENV in str(caught.value)


def test_wrong_password_names_source_and_variable_never_the_password(
    postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, postgres.url(password=PLANTED))
    with pytest.raises(SourceError) as caught:
        make_source(table="helpdesk_tickets").extract()
    message = all_messages(caught.value)
    assert "source 'helpdesk.tickets'" in message
    assert f"${ENV}" in message
    assert "password authentication failed" in message  # the server's own words
    for fragment in ("Pl4nted", "Xq9zK", "Vb7w", "Xq9zK%40Vb7w"):
        assert fragment not in message


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://reader:{PLANTED}@127.0.0.1:1/db",  # unescaped @ and : in the password
        "postgresql://reader:Pl4nted%3AXq9zK%40Vb7w@127.0.0.1:1/db",  # refused port
        "host=127.0.0.1 port=1 user=reader password=Pl4nted:Xq9zK@Vb7w dbname=db",
        "mysql://reader:Pl4nted:Xq9zK@Vb7w@127.0.0.1/db",
    ],
    ids=["raw", "escaped", "keywords", "other-scheme"],
)
def test_unreachable_server_messages_never_hold_the_password(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, url)
    with pytest.raises(SourceError) as caught:
        make_source(table="t").extract()
    message = all_messages(caught.value)
    assert "source 'helpdesk.tickets'" in message
    assert f"${ENV}" in message
    for fragment in ("Pl4nted", "Xq9zK", "Vb7w"):
        assert fragment not in message, message


def test_sql_error_gives_the_servers_message(postgres: PostgresServer, db_url: str) -> None:
    with pytest.raises(SourceError) as caught:
        make_source(table="helpdesk_tickts").extract()
    message = str(caught.value)
    assert message.startswith("source 'helpdesk.tickets': the query failed: ERROR:")
    assert 'relation "helpdesk_tickts" does not exist' in message
    assert "SQLSTATE 42P01" in message
    assert postgres.password not in message
    assert isinstance(caught.value, CxpipeError)  # the CLI prints it without a traceback


def test_statement_timeout(postgres: PostgresServer, db_url: str) -> None:
    slow = make_source(query="SELECT pg_sleep(5) AS slept", statement_timeout_seconds=0.2)
    with pytest.raises(SourceError, match="statement timeout"):
        slow.extract()


def _fake_prefect_secret(monkeypatch: pytest.MonkeyPatch, store: dict[str, str]) -> None:
    """Stand in for ``prefect.blocks.system.Secret`` (``Secret.load(name).get()``)."""

    class Secret:
        def __init__(self, value: str) -> None:
            self.value = value

        @classmethod
        def load(cls, name: str, *, _sync: bool | None = None) -> Secret:
            assert _sync is True  # never a coroutine, even under an event loop
            if name not in store:
                raise ValueError(f"Unable to find block document named {name}")
            return cls(store[name])

        def get(self) -> str:
            return self.value

    module = types.ModuleType("prefect.blocks.system")
    module.Secret = Secret  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "prefect.blocks.system", module)


def test_secret_block_when_the_variable_is_unset(
    fresh_tickets: str, postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV, raising=False)
    _fake_prefect_secret(monkeypatch, {"helpdesk-db": postgres.url()})
    source = make_source(table=fresh_tickets, secret_block="helpdesk-db")
    assert rows(source).height == 240
    only_block = SqlSource(
        SourceConfig.model_validate(
            {
                "name": "helpdesk.tickets",
                "kind": "sql",
                "entity": "tickets",
                "options": {"secret_block": "missing-block", "table": fresh_tickets},
            }
        )
    )
    with pytest.raises(
        SourceError, match="Prefect Secret block 'missing-block' could not be loaded"
    ):
        only_block.extract()


def test_secret_block_with_a_wrong_password_is_redacted(
    postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV, raising=False)
    _fake_prefect_secret(monkeypatch, {"helpdesk-db": postgres.url(password=PLANTED)})
    with pytest.raises(SourceError) as caught:
        make_source(table="t", secret_block="helpdesk-db").extract()
    message = all_messages(caught.value)
    assert "Prefect Secret block 'helpdesk-db'" in message
    assert "Pl4nted" not in message
    assert "Xq9zK" not in message


# --- the plugin ---------------------------------------------------------------------------------


def test_installed_plugin_registers_the_sql_kind() -> None:
    pm = get_plugin_manager()
    origins = {p.name: p.origin for p in describe_plugins(pm)}
    assert origins["sql"].startswith("entry point of cxpipe-sql")
    assert build_registry(pm).source("sql") is SqlSource


def test_watermark_type_is_timezone_aware(fresh_tickets: str, db_url: str) -> None:
    frame = rows(make_source(table=fresh_tickets, updated_at_column="LastChange"))
    newest = frame["LastChange"].max()
    assert isinstance(newest, datetime)
    assert newest.utcoffset() == timedelta(0)
