"""The ``sql`` source: one query per entity, read from PostgreSQL straight into Arrow.

The driver is ADBC (``adbc-driver-postgresql``): libpq underneath, and result sets
arrive as Arrow record batches with their database types (integers, timestamps with
time zone, dates, booleans), so nothing is converted row by row in Python. Conform then
maps the columns onto the canonical entity exactly as it does for a file export.

Every value that comes from outside the SQL text is a bound parameter: the incremental
watermark and the ``parameters`` option. Identifiers named in the config (``table``,
``columns``, ``updated_at_column``) are quoted. The session is read-only, and the query
runs as a subquery, so it can only be one ``SELECT`` (or ``WITH … SELECT``/``VALUES``).
"""

from __future__ import annotations

import contextlib
import importlib
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Self

import polars as pl
import pyarrow as pa
from pydantic import Field, field_validator, model_validator

from cxpipe.errors import SourceError
from cxpipe.sources.base import Extract, InputFile, Source, SourceOptions
from cxpipe_sql.credentials import redact, resolve_dsn

if TYPE_CHECKING:
    from adbc_driver_manager.dbapi import Connection

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_STATUS_PREFIX = re.compile(r"^[A-Z_]+: (\[libpq\] )?(Failed to connect: )?")
_QUERY_ECHO = re.compile(r"\s*Query was: .*?(\. SQLSTATE: (\w+))?\s*$", re.DOTALL)
_POSTGRES_SCHEMES = ("postgresql://", "postgres://")
BATCH_SIZE_HINT_BYTES = "adbc.postgresql.batch_size_hint_bytes"
"""``adbc_driver_postgresql.StatementOptions.BATCH_SIZE_HINT_BYTES``."""

Parameter = str | int | float | bool | date | datetime | None


class SqlOptions(SourceOptions):
    """The ``options`` table of a ``kind = "sql"`` source."""

    dsn_env: str | None = None
    """Name of the environment variable holding the connection URL
    (``postgresql://user:password@host:5432/db``). Never the URL itself."""
    secret_block: str | None = None
    """Name of a Prefect Secret block holding the URL, used when ``dsn_env`` is unset or
    names a variable that is not set. Prefect is imported only when it is needed."""
    query: str | None = None
    """One SELECT (or WITH … SELECT). Use ``$1``, ``$2``… for ``parameters``."""
    table: str | None = None
    """Instead of ``query``: a table or view (``schema.table`` allowed), read whole."""
    columns: list[str] | None = None
    """With ``table``: the columns to read (all when unset). The mapping onto the canonical
    entity is the source's own ``[sources.columns]`` table, as for files."""
    parameters: list[Parameter] = Field(default_factory=list)
    """Values bound to ``$1``, ``$2``… of ``query``; never pasted into the SQL text."""
    updated_at_column: str | None = None
    """A timestamp column of the result; with a watermark only rows with a later value are
    read (``WHERE col > $n``, bound), ordered by it."""
    lookback_seconds: float = Field(default=300.0, ge=0)
    """With a watermark, also re-read rows stamped up to this long before it. A writer's
    transaction that stamps ``now()`` but commits after a run has read leaves a row older
    than the new watermark; without a lookback that row is never read. Re-read rows are
    merged by key (the latest ``updated_at`` wins), never duplicated. Set it above your
    longest writing transaction; 0 reads strictly after the watermark."""
    batch_size_bytes: int | None = Field(default=None, gt=0)
    """Size hint of each Arrow batch the driver fetches (ADBC sizes batches in bytes, not
    rows); the driver's default (16 MiB) when unset."""
    statement_timeout_seconds: float | None = Field(default=None, gt=0)
    """Cancel the query on the server after this long (PostgreSQL ``statement_timeout``)."""

    @field_validator("dsn_env")
    @classmethod
    def _is_a_variable_name(cls, value: str | None) -> str | None:
        # The message never repeats the value: it may be a pasted URL with its password.
        if value is not None and not _ENV_NAME.match(value):
            raise ValueError(
                "must be the NAME of an environment variable (letters, digits, _) that holds "
                "the connection URL, not the URL itself; keep credentials out of the config"
            )
        return value

    @field_validator("query")
    @classmethod
    def _one_statement(cls, value: str | None) -> str | None:
        if value is None:
            return None
        stripped = value.strip().rstrip(";").rstrip()
        if not stripped:
            raise ValueError("is empty")
        return stripped

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.dsn_env is None and self.secret_block is None:
            raise ValueError(
                "give dsn_env (an environment variable holding the connection URL) or "
                "secret_block (a Prefect Secret block)"
            )
        if (self.query is None) == (self.table is None):
            raise ValueError("give exactly one of query or table")
        if self.columns is not None and self.table is None:
            raise ValueError("columns goes with table; with query, select the columns in it")
        if self.columns == []:
            raise ValueError("columns is empty; leave it out to read every column")
        return self


def connect_postgres(dsn: str) -> Connection:
    """An autocommit ADBC connection. ``adbc_driver_postgresql`` ships no type information
    (no ``py.typed``), so it is imported by name; what it returns is the typed
    ``adbc_driver_manager.dbapi.Connection``."""
    driver = importlib.import_module("adbc_driver_postgresql.dbapi")
    connection: Connection = driver.connect(dsn, autocommit=True)
    return connection


def quote_identifier(name: str) -> str:
    """``name`` as a PostgreSQL quoted identifier (case kept, ``"`` doubled)."""
    if not name or "\x00" in name:
        raise SourceError(f"invalid SQL identifier {name!r}")
    return '"' + name.replace('"', '""') + '"'


def quote_qualified(name: str) -> str:
    """``schema.table`` → ``"schema"."table"``; each dotted part quoted on its own."""
    return ".".join(quote_identifier(part) for part in name.split("."))


@dataclass(frozen=True)
class Statement:
    sql: str
    parameters: tuple[Parameter, ...]


def watermark_text(since: datetime | str) -> str:
    """The watermark as ISO 8601 text with its offset (naive means UTC), bound as a
    parameter and cast to ``timestamptz`` in SQL. Text rather than an Arrow timestamp
    because the driver evaluates statements with timestamp parameters in UTC, whereas a
    naive ``timestamp`` column must be compared in the session's (the source's) time zone.
    Anything else a caller passes is bound as given: the cast rejects it."""
    if isinstance(since, datetime):
        return (since if since.tzinfo else since.replace(tzinfo=UTC)).isoformat()
    return str(since)


def build_statement(options: SqlOptions, since: datetime | None) -> Statement:
    """The SQL text and bound parameters of one extract.

    The base query is wrapped as a subquery (on lines of its own, so a trailing ``--``
    comment cannot swallow the wrapper); the watermark, less ``lookback_seconds``, is the
    parameter after the configured ones (see :func:`watermark_text`).
    """
    if options.query is not None:
        base = options.query
    else:
        assert options.table is not None
        selected = (
            ", ".join(quote_identifier(c) for c in options.columns) if options.columns else "*"
        )
        base = f"SELECT {selected} FROM {quote_qualified(options.table)}"
    parameters: list[Parameter] = list(options.parameters)
    sql = f"SELECT * FROM (\n{base}\n) AS q"
    if options.updated_at_column is not None:
        column = f"q.{quote_identifier(options.updated_at_column)}"
        if since is not None:
            if isinstance(since, datetime):
                since = since - timedelta(seconds=options.lookback_seconds)
            parameters.append(watermark_text(since))
            sql += f"\nWHERE {column} > CAST(${len(parameters)} AS timestamptz)"
        sql += f"\nORDER BY {column}"
    return Statement(sql, tuple(parameters))


def _uuid_text(column: str) -> pl.Expr:
    """16 raw bytes → the canonical ``8-4-4-4-12`` hex text of a UUID."""
    hex_digits = pl.col(column).bin.encode("hex")
    parts = [hex_digits.str.slice(start, length) for start, length in _UUID_GROUPS]
    return pl.concat_str(parts, separator="-").alias(column)


_UUID_GROUPS = ((0, 8), (8, 4), (12, 4), (16, 4), (20, 12))


def to_polars(table: pa.Table, source: str) -> pl.DataFrame:
    """The driver's Arrow table as a polars frame.

    Extension columns are replaced by their storage (PostgreSQL ``numeric`` arrives as an
    opaque type over its exact decimal text, ``json`` over text), and ``uuid`` columns
    become their usual text form, so an id column reads as it prints. A column type
    polars cannot hold (``interval``) is an error that names the column.
    """
    uuids = [f.name for f in table.schema if isinstance(f.type, pa.UuidType)]
    columns = [
        pa.chunked_array([c.storage for c in col.chunks], type=col.type.storage_type)
        if isinstance(col.type, pa.BaseExtensionType)
        else col
        for col in table.columns
    ]
    plain = pa.table(columns, names=table.column_names)
    try:
        frame = pl.from_arrow(plain)
    except (pl.exceptions.PolarsError, TypeError, ValueError):
        unreadable = []
        for name, column in zip(plain.column_names, plain.columns, strict=True):
            try:
                pl.from_arrow(column.slice(0, 0))
            except (pl.exceptions.PolarsError, TypeError, ValueError):
                unreadable.append(f"{name!r} ({column.type})")
        raise SourceError(
            f"source {source!r}: cannot read column(s) {', '.join(unreadable) or '?'} of the "
            f"query result; cast them in the query (col::text, EXTRACT(epoch FROM col)…)"
        ) from None
    assert isinstance(frame, pl.DataFrame)
    return frame.with_columns(_uuid_text(name) for name in uuids) if uuids else frame


class SqlSource(Source):
    """Reads one entity from PostgreSQL with one query."""

    kind = "sql"
    Options = SqlOptions
    options: SqlOptions

    @property
    def lineage(self) -> str:
        """What ``_cx_file`` and the manifest call this input: no host, user or password."""
        return f"sql:{self.name}"

    def _where(self) -> str:
        if self.options.dsn_env and self.options.secret_block:
            return (
                f"the URL in ${self.options.dsn_env} "
                f"(or Prefect Secret block {self.options.secret_block!r})"
            )
        if self.options.dsn_env:
            return f"the URL in ${self.options.dsn_env}"
        return f"the URL in Prefect Secret block {self.options.secret_block!r}"

    def _connect(self, dsn: str) -> Connection:
        if "://" in dsn and not dsn.startswith(_POSTGRES_SCHEMES):
            scheme = dsn.split("://", 1)[0]
            raise SourceError(
                f"source {self.name!r}: {self._where()} is a {scheme}:// URL; cxpipe-sql reads "
                f"PostgreSQL (postgresql://user:password@host:5432/db)"
            )
        try:
            connection = connect_postgres(dsn)
        except Exception as exc:
            raise SourceError(
                f"source {self.name!r}: cannot connect to PostgreSQL with {self._where()}: "
                f"{self._message(exc, dsn)}"
            ) from None
        return connection

    def _message(self, exc: Exception, dsn: str) -> str:
        """The driver's message without its status prefix and its echo of the SQL text,
        with every credential removed."""
        text = _STATUS_PREFIX.sub("", str(exc).strip())
        if (server := text.find("ERROR:")) > 0:  # drop the driver's "Failed to prepare…: "
            text = text[server:]
        text = _QUERY_ECHO.sub(lambda m: f" (SQLSTATE {m.group(2)})" if m.group(2) else "", text)
        return redact(text.strip(), dsn)

    def _prepare_session(self, connection: Connection, dsn: str) -> None:
        """Read-only session in the source's time zone: naive ``timestamp`` columns then
        compare with the (UTC) watermark as conform interprets them."""
        timeout_ms = (
            str(int(self.options.statement_timeout_seconds * 1000))
            if self.options.statement_timeout_seconds
            else "0"
        )
        try:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT set_config('default_transaction_read_only', 'on', false), "
                    "set_config('TimeZone', $1, false), "
                    "set_config('statement_timeout', $2, false)",
                    parameters=(self.config.timezone, timeout_ms),
                )
                cursor.fetchall()
        except Exception as exc:
            raise SourceError(
                f"source {self.name!r}: cannot set up the session: {self._message(exc, dsn)}"
            ) from None

    def read_arrow(self, since: datetime | None = None) -> pa.Table:
        """The query's rows as one Arrow table (the batches the driver streamed)."""
        statement = build_statement(self.options, since)
        dsn = resolve_dsn(self.name, self.options.dsn_env, self.options.secret_block)
        connection = self._connect(dsn)
        try:
            self._prepare_session(connection, dsn)
            with connection.cursor() as cursor:
                if self.options.batch_size_bytes is not None:
                    cursor.adbc_statement.set_options(
                        **{BATCH_SIZE_HINT_BYTES: str(self.options.batch_size_bytes)}
                    )
                try:
                    cursor.execute(statement.sql, parameters=statement.parameters or None)
                    table = cursor.fetch_record_batch().read_all()
                except Exception as exc:
                    raise SourceError(
                        f"source {self.name!r}: the query failed: {self._message(exc, dsn)}"
                    ) from None
        finally:
            with contextlib.suppress(Exception):  # a broken connection must not hide the error
                connection.close()
        return table

    def extract(self, since: datetime | None = None) -> Extract:
        table = self.read_arrow(since)
        duplicates = [name for name, n in Counter(table.column_names).items() if n > 1]
        if duplicates:
            raise SourceError(
                f"source {self.name!r}: the query returns more than one column named "
                f"{', '.join(map(repr, duplicates))}; give them distinct aliases (AS …)"
            )
        lazy = to_polars(table, self.name).lazy().with_row_index("_cx_row", offset=1)
        lazy = lazy.with_columns(
            _cx_row=pl.col("_cx_row").cast(pl.Int64),
            _cx_file=pl.lit(self.lineage, dtype=pl.String),
        )
        warnings: list[str] = []
        if since is not None and self.options.updated_at_column is None:
            warnings.append(
                f"source {self.name!r}: no updated_at_column, so every row is read again "
                f"(the run deduplicates by key)"
            )
        return Extract(
            frame=lazy,
            inputs=[InputFile(self.lineage, size_bytes=table.nbytes)],
            warnings=warnings,
        )

    def explain(self, error: Exception) -> str:
        return f"source {self.name!r} ({self.lineage}): cannot convert its rows: {error}"
