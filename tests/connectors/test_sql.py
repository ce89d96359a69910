"""The ``cxpipe-sql`` connector inside cxpipe, against a real PostgreSQL server.

The server is a private one these tests start from the machine's PostgreSQL binaries
(``cxpipe_sql.testing``): about 2 s, stopped and deleted at the end. Without the binaries
the tests skip, except under ``CI=true`` where they fail (CI installs ``postgresql``).

What is checked here is the connector as cxpipe sees it: installed through its entry
point, configured in a ``cxpipe.toml`` with a ``[sources.columns]`` mapping, conformed to
the canonical ``tickets`` entity, read incrementally, run end to end into Parquet metrics,
and never leaking its credentials. The connector's own unit tests live in
``plugins/cxpipe-sql/tests``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import quote

import polars as pl
import pytest
from cxpipe_sql import SqlOptions, SqlSource
from cxpipe_sql.testing import (
    SAMPLE_TICKET_COLUMNS,
    PostgresServer,
    create_sample_tickets,
    postgres_or_skip,
    sample_tickets_source,
)
from typer.testing import CliRunner

from cxpipe.cli import app
from cxpipe.config import CxpipeConfig, SourceConfig, load_config
from cxpipe.conform import conform
from cxpipe.errors import SourceError
from cxpipe.plugins import build_registry, describe_plugins, get_plugin_manager
from cxpipe.run import run_pipeline
from cxpipe.schemas import TICKETS
from cxpipe.sources.base import Source
from cxpipe.testing import assert_plugin_loads, get_source_test_class

ENV = "CXPIPE_HELPDESK_DB_URL"
TABLE = "helpdesk_tickets"
PLANTED = "Pl4nted:Xq9zK@Vb7w"
PASSWORD_PIECES = ("Pl4nted", "Xq9zK", "Vb7w")
INJECTION = "'; DROP TABLE helpdesk_tickets; --"


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    with postgres_or_skip() as server:
        yield server


@pytest.fixture
def helpdesk(postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> PostgresServer:
    """A freshly loaded helpdesk table (240 tickets) and its URL in ``$CXPIPE_HELPDESK_DB_URL``."""
    create_sample_tickets(postgres, TABLE)
    monkeypatch.setenv(ENV, postgres.url())
    return postgres


def toml_value(value: object) -> str:
    return json.dumps(value)  # a JSON string or number is a valid TOML one


def write_config(
    folder: Path, *, metrics: list[str] | None = None, incremental: bool = False, **options: Any
) -> Path:
    """A ``cxpipe.toml`` reading the helpdesk table with ``kind = "sql"``."""
    options = {"dsn_env": ENV, "table": TABLE, "updated_at_column": "LastChange", **options}
    options = {key: value for key, value in options.items() if value is not None}
    columns = "\n".join(f"{k} = {toml_value(v)}" for k, v in SAMPLE_TICKET_COLUMNS.items())
    only = f"only = {toml_value(metrics)}" if metrics else ""
    text = f"""
[run]
period_grain = "month"
output = "output"

[metrics]
{only}

[[sources]]
name = "helpdesk.tickets"
kind = "sql"
entity = "tickets"
timezone = "Europe/Paris"
{"incremental = true" if incremental else ""}

[sources.options]
{chr(10).join(f"{k} = {toml_value(v)}" for k, v in options.items())}

[sources.columns]
{columns}
source_system = {{ value = "helpdesk" }}
"""
    path = folder / "cxpipe.toml"
    path.write_text(text, encoding="utf-8")
    return path


def sql_source(config: CxpipeConfig) -> tuple[SqlSource, SourceConfig]:
    source_config = config.sources[0]
    source_cls = build_registry(get_plugin_manager()).source(source_config.kind)
    source = source_cls(source_config, resolve_path=config.resolve)
    assert isinstance(source, SqlSource)
    return source, source_config


def canonical(
    source: Source, source_config: SourceConfig, since: datetime | None = None
) -> pl.DataFrame:
    return conform(source.extract(since).frame, source_config, TICKETS).collect()


def message_of(error: BaseException) -> str:
    """The error's text and repr, and those of every exception it was raised from."""
    parts: list[str] = []
    current: BaseException | None = error
    while current is not None:
        parts += [str(current), repr(current)]
        current = current.__cause__
    return "\n".join(parts)


# --- installed as a plugin ------------------------------------------------------------------


def test_installed_distribution_registers_sql_through_its_entry_point() -> None:
    entry_points = metadata.distribution("cxpipe-sql").entry_points
    assert [(e.group, e.name, e.value) for e in entry_points] == [("cxpipe", "sql", "cxpipe_sql")]
    pm = get_plugin_manager()
    origins = {plugin.name: plugin.origin for plugin in describe_plugins(pm)}
    assert origins["sql"] == f"entry point of cxpipe-sql {metadata.version('cxpipe-sql')}"
    registry = build_registry(pm)
    assert registry.source("sql") is SqlSource
    assert {(r.kind, r.name) for r in registry.registrations if r.plugin == "sql"} == {
        ("source", "sql")
    }


def test_contract_kit_says_the_plugin_loads() -> None:
    registered = assert_plugin_loads("cxpipe-sql")
    assert [(r.kind, r.name) for r in registered] == [("source", "sql")]


def test_cxpipe_plugins_lists_sql() -> None:
    result = CliRunner().invoke(app, ["plugins"], terminal_width=200)
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if "cxpipe-sql" in line)
    assert "sql" in line
    assert "source sql" in line


def test_blocking_the_plugin_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXPIPE_DISABLED_PLUGINS", "sql")
    assert "sql" not in build_registry(get_plugin_manager()).sources


# --- the contract kit ---------------------------------------------------------------------------


@pytest.fixture(scope="class")
def contract_database(postgres: PostgresServer) -> Iterator[None]:
    """The helpdesk table on the server, and its URL in the environment, for the class."""
    create_sample_tickets(postgres, TABLE)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ENV, postgres.url())
        yield


# Every rule of ``cxpipe.testing`` (lineage, canonical dtypes, no parse errors, unique key,
# watermark, ``since`` filtering…) on the helpdesk table.
TestSqlSourceContract = get_source_test_class(
    SqlSource,
    config=lambda contract_database: sample_tickets_source(ENV, TABLE),
    since=datetime(2024, 4, 1, tzinfo=UTC),
    # by design the read starts options.lookback_seconds before the watermark (late commits)
    since_tolerance=timedelta(seconds=SqlOptions.model_fields["lookback_seconds"].default),
)


# --- through conform --------------------------------------------------------------------------


def test_full_read_conforms_to_the_canonical_tickets(
    tmp_path: Path, helpdesk: PostgresServer
) -> None:
    source, source_config = sql_source(load_config(write_config(tmp_path)))
    tickets = canonical(source, source_config)
    assert tickets.height == 240
    assert tickets.filter(pl.col("_cx_errors").list.len() > 0).height == 0
    for name, dtype in TICKETS.polars_schema.items():
        assert tickets.schema[name] == dtype, name
    first = tickets.filter(pl.col("ticket_id") == "T-00001").row(0, named=True)
    # OpenedAt 2024-01-02 01:00 is a naive Paris time: 00:00 UTC.
    assert first["opened_at"] == datetime(2024, 1, 2, 0, 0, tzinfo=UTC)
    assert first["source_system"] == "helpdesk"
    assert first["client_id"] == "globex"
    assert first["priority"] == "high"
    assert first["reassignment_count"] == 1
    assert tickets.filter(pl.col("status") == "open")["resolved_at"].null_count() == 24
    assert set(tickets["_cx_file"]) == {"sql:helpdesk.tickets"}
    assert set(tickets["_cx_source"]) == {"helpdesk.tickets"}
    assert tickets.select(pl.struct(TICKETS.primary_key).is_unique().all()).item()


def test_incremental_second_read_returns_only_rows_updated_after_the_watermark(
    tmp_path: Path, helpdesk: PostgresServer
) -> None:
    # strictly after the watermark (the lookback that re-reads before it is tested in
    # plugins/cxpipe-sql/tests)
    source, source_config = sql_source(load_config(write_config(tmp_path, lookback_seconds=0)))
    first = canonical(source, source_config)
    watermark = first["updated_at"].max()  # what the run commits as the source's watermark
    assert isinstance(watermark, datetime)
    assert canonical(source, source_config, since=watermark).height == 0

    helpdesk.execute(
        f'UPDATE {TABLE} SET "State" = \'closed\', "SolvedAt" = "OpenedAt" + interval \'5 hours\','
        f' "ClosedAt" = "OpenedAt" + interval \'6 hours\', "LastChange" = now() '
        f"WHERE \"TicketNo\" IN ('T-00010', 'T-00200')"
    )
    second = canonical(source, source_config, since=watermark)
    assert sorted(second["ticket_id"]) == ["T-00010", "T-00200"]
    assert set(second["status"]) == {"closed"}  # the updated rows, re-read with new values
    assert second["resolved_at"].null_count() == 0
    assert (second["updated_at"] > watermark).all()
    assert second.filter(pl.col("_cx_errors").list.len() > 0).height == 0


# --- injection and secrets --------------------------------------------------------------------


def test_parameters_and_watermark_cannot_inject_sql(
    tmp_path: Path, helpdesk: PostgresServer
) -> None:
    query = f'SELECT * FROM {TABLE} WHERE "Customer" = $1 OR "Customer" = $2'
    path = write_config(tmp_path, table=None, query=query, parameters=[INJECTION, "acme"])
    source, source_config = sql_source(load_config(path))
    tickets = canonical(source, source_config)
    assert set(tickets["client_id"]) == {"acme"}  # the injection matched nothing, as a value
    malicious: Any = f"2024-01-01{INJECTION}"
    with pytest.raises(SourceError, match=r"helpdesk\.tickets"):
        source.extract(since=malicious)
    assert helpdesk.scalar(f"SELECT count(*) FROM {TABLE}") == 240


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("unset", f"environment variable {ENV} is not set"),
        ("wrong-password", "password authentication failed"),
        ("refused", "Connection refused"),
        ("bad-sql", 'relation "helpdesk_tickts" does not exist'),
    ],
)
def test_errors_name_source_and_variable_never_the_password(
    setting: str,
    expected: str,
    tmp_path: Path,
    postgres: PostgresServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    table = "helpdesk_tickts" if setting == "bad-sql" else TABLE
    config = load_config(write_config(tmp_path, table=table))
    secrets = [*PASSWORD_PIECES, postgres.password]
    if setting == "unset":
        monkeypatch.delenv(ENV, raising=False)
    elif setting == "refused":
        monkeypatch.setenv(ENV, f"postgresql://cxpipe:{quote(PLANTED, safe='')}@127.0.0.1:1/x")
    elif setting == "wrong-password":
        monkeypatch.setenv(ENV, postgres.url(password=PLANTED))
    else:  # the right URL: its real password must not show either
        monkeypatch.setenv(ENV, postgres.url())
    with pytest.raises(SourceError) as caught:
        run_pipeline(config, output=str(tmp_path / "out"))
    message = message_of(caught.value)
    assert "source 'helpdesk.tickets'" in message
    assert expected in message
    if setting != "bad-sql":
        assert ENV in message
    for secret in secrets:
        assert secret not in message, message
    assert not any((tmp_path / "out").rglob("*.parquet"))


# --- end to end -------------------------------------------------------------------------------


@pytest.mark.slow
def test_run_pipeline_on_a_sql_source_writes_ticket_metrics(
    tmp_path: Path, helpdesk: PostgresServer
) -> None:
    config = load_config(write_config(tmp_path, metrics=["ticket_volume", "mttr_critical_hours"]))
    output = tmp_path / "output"
    result = run_pipeline(config, output=str(output))

    assert result.manifest["status"] == "succeeded"
    (source,) = result.manifest["sources"]
    assert source["name"] == "helpdesk.tickets"
    assert source["rows_read"] == 240
    assert source["rows_kept"] == 240
    assert [i["path"] for i in source["inputs"]] == ["sql:helpdesk.tickets"]

    values = result.metric_values
    overall = values.filter(pl.col("client_id").is_null() & pl.col("segment").is_null())
    volume = overall.filter(pl.col("metric") == "ticket_volume")
    assert volume["value"].sum() == 240
    assert volume["period_start"].min().month == 1  # type: ignore[union-attr]
    assert overall.filter(pl.col("metric").str.starts_with("mttr_critical_hours")).height > 0
    by_client = values.filter(
        (pl.col("metric") == "ticket_volume") & pl.col("client_id").is_not_null()
    )
    assert set(by_client["client_id"]) == {"acme", "globex"}

    written = [p for p in output.rglob("*") if p.is_file()]
    assert any(p.suffix == ".parquet" for p in written)
    url = helpdesk.url()
    for path in written:  # manifest, Parquet, everything the run wrote
        data = path.read_bytes()
        assert helpdesk.password.encode() not in data, path
        assert url.encode() not in data, path


@pytest.mark.slow
def test_incremental_runs_resume_from_the_committed_watermark(
    tmp_path: Path, helpdesk: PostgresServer
) -> None:
    # lookback 0: the second run reads exactly the changed rows (the lookback's re-reads
    # merge by key: see test_kill_resume.py and the plugin's own tests)
    config = load_config(
        write_config(tmp_path, metrics=["ticket_volume"], incremental=True, lookback_seconds=0)
    )
    output = str(tmp_path / "output")
    first = run_pipeline(config, output=output)
    (source,) = first.manifest["sources"]
    assert source["since"] is None
    assert source["rows_read"] == 240

    helpdesk.execute(
        f'UPDATE {TABLE} SET "State" = \'closed\', "LastChange" = now() '
        f"WHERE \"TicketNo\" IN ('T-00010', 'T-00020', 'T-00030')"
    )
    second = run_pipeline(config, output=output)
    (source,) = second.manifest["sources"]
    newest = helpdesk.scalar(
        f'SELECT max("LastChange") FROM {TABLE} WHERE "TicketNo" NOT IN '
        f"('T-00010', 'T-00020', 'T-00030')"
    )
    assert isinstance(newest, datetime)
    assert source["since"] == newest.astimezone(UTC).isoformat()  # the first run's watermark
    assert source["rows_read"] == 3  # only the rows changed since, through the bound WHERE
    volume = second.metric_values.filter(
        (pl.col("metric") == "ticket_volume")
        & pl.col("client_id").is_null()
        & pl.col("segment").is_null()
    )
    assert volume["value"].sum() == 240  # the metrics still cover every ticket, none twice
