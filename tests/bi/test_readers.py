"""Every table a run writes, read back by the four readers BI stacks are built on.

One output root per module: the seeded demo (``demo_dir``) with a few planted rows so that
every kind of table exists — three bad tickets and one out-of-range survey go to
``quarantine/``, and the tickets and surveys sources are incremental, so their
``_entities/`` snapshots are written. The tickets source also keeps one extra column of
every ``keep`` type, and the surveys file carries an unsigned ``uint8`` column, so the
test sees what a real export's odd types become.

The tables are discovered from the output root (any folder holding Parquet, its trailing
``key=value`` folders being hive partitions) and must be exactly the ones this module
declares a schema for: a new table fails here until it is covered. Each is then read by
DuckDB (``read_parquet``), pyarrow (a hive-partitioned dataset), pandas
(``pd.read_parquet``, pyarrow engine) and Spark (local mode), and for each reader the
columns, the row count, the reader's own types and a per-column profile (non-null count,
sum, character count, min and max) must match what the files hold, the profile as polars
computes it. The Parquet types themselves are pinned to the set all four readers were
seen to accept.

Spark needs Java and pyspark: without them its tests skip locally and fail under
``CI=true``.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import math
import os
import re
import shutil
import sys
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd  # type: ignore[import-untyped, unused-ignore]  # no stubs installed
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from cxpipe.config import parse_config
from cxpipe.demo.config import demo_config_text
from cxpipe.plugins import build_registry, get_plugin_manager
from cxpipe.run import run_pipeline
from cxpipe.schemas import (
    ACTION_PLAN,
    DIM_CLIENT,
    DIM_METRIC,
    ENTITIES,
    METRIC_VALUES,
    SIGNALS,
    UTC_TIMESTAMP,
)
from cxpipe.sinks.parquet import period_key

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "bi-tools.md"
DOCS_ROOT = "/srv/cxpipe/output"
"""The output root the SQL in ``docs/bi-tools.md`` is written against."""

# ---------------------------------------------------------------------------------------------
# The planted output root: which sources quarantine rows and keep snapshots, and their columns.

KNOWN_TICKET = "BAD-1"
KNOWN_OPENED_AT = datetime(2025, 1, 10, 10, 0, tzinfo=UTC)
"""A quarantined ticket (unknown priority ``P9``) and the instant it was opened: the
timestamp each reader must give back exactly."""

TICKET_KEEP = {
    "sys_mod_count": "int",
    "effort_hours": "float",
    "sys_created_on": "datetime",
    "due_date": "date",
    "vip": "bool",
    "location": "string",
}
SURVEY_KEEP = {"wave": "int"}
"""``wave`` is ``uint8`` in the surveys file: an unsigned source type must not leak out."""

SOURCES = {"tickets": ("tickets", TICKET_KEEP), "survey_responses": ("surveys", SURVEY_KEEP)}
"""Entity → (source name, keep columns): each quarantines rows and is incremental."""

KEEP_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "datetime": UTC_TIMESTAMP,
    "date": pa.date32(),
    "bool": pa.bool_(),
}
LINEAGE = [pa.field("_cx_file", pa.string()), pa.field("_cx_row", pa.int64())]
LINEAGE += [pa.field("_cx_source", pa.string())]
REASONS = [pa.field("quarantine_reason", pa.string()), pa.field("quarantine_details", pa.string())]

# ---------------------------------------------------------------------------------------------
# The tables a run writes, each with its declared schema.


@dataclass(frozen=True)
class Table:
    """One output table: a folder under the output root, read as a whole."""

    name: str
    """Its folder under the output root (``metric_values``, ``quarantine/tickets``)."""
    schema: pa.Schema
    """The declared columns, as written in every file."""
    partition: str | None = None
    """The hive key of its ``key=value`` sub-folders (path only, not in the files)."""
    fixed: bool = True
    """Column order and nullability are declared too (not only names and types)."""

    @property
    def columns(self) -> list[str]:
        """What a hive-aware reader shows: the file columns, then the partition key."""
        return [*self.schema.names, *([self.partition] if self.partition else [])]


def _rows_table(prefix: str, entity: str, keep: dict[str, str]) -> Table:
    """``quarantine/<entity>`` or ``_entities/<entity>``: the entity's columns, the keep
    columns, lineage (and the reasons, in quarantine), partitioned by ``source=``."""
    columns = [pa.field(f.name, f.type) for f in ENTITIES[entity].schema]
    columns += [pa.field(name, KEEP_TYPES[kind]) for name, kind in keep.items()]
    columns += LINEAGE + (REASONS if prefix == "quarantine" else [])
    return Table(f"{prefix}/{entity}", pa.schema(columns), partition="source", fixed=False)


def _declared_tables() -> dict[str, Table]:
    registry = build_registry(get_plugin_manager())
    tables = [
        Table("metric_values", METRIC_VALUES, partition="period"),
        Table("dim_metric", DIM_METRIC),
        Table("dim_client", DIM_CLIENT),
        Table("signals", SIGNALS),
        Table("action_plan", ACTION_PLAN),
        *(Table(name, spec.schema) for name, spec in sorted(registry.tables.items())),
    ]
    for prefix in ("quarantine", "_entities"):
        for entity, (_source, keep) in SOURCES.items():
            tables.append(_rows_table(prefix, entity, keep))
    return {table.name: table for table in tables}


TABLES = _declared_tables()

# ---------------------------------------------------------------------------------------------
# The Parquet types every reader accepted, and how each reader names them.

BI_TYPES: dict[str, tuple[str, str | None, dict[str, Any]]] = {
    "string": ("BYTE_ARRAY", "UTF8", {"Type": "String"}),
    "bool": ("BOOLEAN", None, {"Type": "None"}),
    "int8": ("INT32", "INT_8", {"Type": "Int", "bitWidth": 8, "isSigned": True}),
    "int32": ("INT32", None, {"Type": "None"}),
    "int64": ("INT64", None, {"Type": "None"}),
    "double": ("DOUBLE", None, {"Type": "None"}),
    "date32[day]": ("INT32", "DATE", {"Type": "Date"}),
    "timestamp[us, tz=UTC]": (
        "INT64",
        "TIMESTAMP_MICROS",
        {"Type": "Timestamp", "isAdjustedToUTC": True, "timeUnit": "microseconds"},
    ),
}
"""Arrow type → (Parquet physical type, legacy converted type, logical type): the only
types the outputs may hold. Each was read by all four readers below; a new one must be
checked with them (and Power BI and Tableau) before it is added here."""

READER_TYPES: dict[str, dict[str, set[str]]] = {
    "duckdb": {
        "string": {"VARCHAR"},
        "bool": {"BOOLEAN"},
        "int8": {"TINYINT"},
        "int32": {"INTEGER"},
        "int64": {"BIGINT"},
        "double": {"DOUBLE"},
        "date32[day]": {"DATE"},
        "timestamp[us, tz=UTC]": {"TIMESTAMP WITH TIME ZONE"},
        "partition": {"VARCHAR"},
    },
    "pyarrow": {**{t: {t} for t in BI_TYPES}, "partition": {"string"}},
    "pandas": {
        "string": {"str", "object"},
        "bool": {"bool", "object"},  # object when the column holds nulls
        "int8": {"int8", "float64"},  # float64 when it holds nulls (pandas' default)
        "int32": {"int32", "float64"},
        "int64": {"int64", "float64"},
        "double": {"float64"},
        "date32[day]": {"object"},  # datetime.date values
        "timestamp[us, tz=UTC]": {"datetime64[us, UTC]"},
        "partition": {"category"},
    },
    "spark": {
        "string": {"string"},
        "bool": {"boolean"},
        "int8": {"tinyint"},
        "int32": {"int"},
        "int64": {"bigint"},
        "double": {"double"},
        "date32[day]": {"date"},
        "timestamp[us, tz=UTC]": {"timestamp"},  # an instant, not timestamp_ntz
        "partition": {"string"},
    },
}

# ---------------------------------------------------------------------------------------------
# Spark: skipped locally without Java or pyspark, a failure under CI=true.

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _spark_missing() -> str | None:
    java_home = Path(os.environ.get("JAVA_HOME", "/nonexistent"))
    if shutil.which("java") is None and not (java_home / "bin" / "java").is_file():
        return "no `java` on PATH or in $JAVA_HOME (Spark needs a JDK 17+)"
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed in this venv"
    return None


SPARK_MISSING = _spark_missing()
needs_spark = pytest.mark.skipif(
    SPARK_MISSING is not None and not IN_CI,
    reason=f"Spark reader not tested: {SPARK_MISSING} (under CI=true this fails instead)",
)
READERS = ["duckdb", "pyarrow", "pandas", pytest.param("spark", marks=needs_spark)]

# ---------------------------------------------------------------------------------------------
# Building the output root.


def _plant_tickets(path: Path) -> None:
    """Add the keep columns and three rows that break a rule each."""
    tickets = pl.read_csv(path, infer_schema=False)
    n = pl.int_range(pl.len())
    tickets = tickets.with_columns(
        sys_mod_count=n.cast(pl.String),
        effort_hours=pl.when(n % 7 == 0).then(None).otherwise(n / 4).cast(pl.String),
        sys_created_on=pl.col("opened_at"),
        due_date=pl.col("opened_at").str.slice(0, 10),
        vip=pl.when(n % 3 == 0).then(pl.lit("true")).otherwise(pl.lit("false")),
        location=pl.when(n % 3 == 0)
        .then(pl.lit("Montréal"))
        .when(n % 3 == 1)
        .then(pl.lit("Zürich"))
        .otherwise(None),
    )
    never = ("first_response_at", "resolved_at", "closed_at", "respond_due_at", "resolve_due_at")
    bad = tickets.head(3).with_columns(
        ticket_id=pl.Series(["BAD-1", "BAD-2", "BAD-3"]),
        priority=pl.Series(["P9", "high", "low"]),  # P9: not a known label
        opened_at=pl.Series(
            ["2025-01-10T10:00:00Z", "not a date", "2025-01-10T10:00:00Z"]  # BAD-2: unparseable
        ),
        **{column: pl.lit(None, pl.String) for column in never},
    )
    bad = bad.with_columns(  # BAD-3: resolved before it was opened
        resolved_at=pl.Series([None, None, "2025-01-01T10:00:00Z"], dtype=pl.String),
        updated_at=pl.lit("2025-01-10T11:00:00Z"),
    )
    path.write_bytes(gzip.compress(pl.concat([tickets, bad]).write_csv().encode("utf-8")))


def _plant_surveys(path: Path) -> None:
    """An unsigned extra column, and one CSAT out of its 1–5 range."""
    table = pq.read_table(path)
    wave = pa.array([i % 4 for i in range(table.num_rows)], pa.uint8())
    csat = table["csat"].to_pylist()
    csat[0] = 9
    index = table.schema.get_field_index("csat")
    table = table.set_column(index, "csat", pa.array(csat, pa.int8())).append_column("wave", wave)
    pq.write_table(table, path)


@pytest.fixture(scope="module")
def output(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The planted demo run's output root (one run for the whole module)."""
    data = tmp_path_factory.mktemp("bi-data")
    for file in demo_dir.iterdir():
        shutil.copy(file, data / file.name)
    _plant_tickets(data / "tickets.csv.gz")
    _plant_surveys(data / "survey_responses.parquet")
    config = tomllib.loads(demo_config_text())
    by_name = {source["name"]: source for source in config["sources"]}
    for source, keep in SOURCES.values():
        by_name[source]["incremental"] = True
        by_name[source]["keep"] = [{"column": c, "type": t} for c, t in keep.items()]
    root = tmp_path_factory.mktemp("bi-output")
    config["run"]["output"] = str(root)
    result = run_pipeline(parse_config(config, base_dir=data))
    quarantined = {s["name"]: s["rows_quarantined"] for s in result.manifest["sources"]}
    assert quarantined["tickets"] == 3
    assert quarantined["surveys"] == 1
    return root


def _discover(root: Path) -> dict[str, list[Path]]:
    """Table folder → its Parquet files; trailing ``key=value`` folders are partitions."""
    found: dict[str, list[Path]] = {}
    for file in sorted(root.rglob("*.parquet")):
        parts = list(file.relative_to(root).parent.parts)
        while parts and "=" in parts[-1]:
            parts.pop()
        found.setdefault("/".join(parts), []).append(file)
    return found


@pytest.fixture(scope="module")
def files(output: Path) -> dict[str, list[Path]]:
    return _discover(output)


# ---------------------------------------------------------------------------------------------
# What a reader gives back, and the polars reference.

Stats = dict[str, Any]
"""Per column: ``count`` (non-null), and when there are values ``sum`` (numbers, booleans as
0/1), ``chars`` (total characters of strings), ``min`` and ``max`` (strings, dates, and
timestamps as microseconds since the epoch)."""


@dataclass(frozen=True)
class Readback:
    columns: list[str]
    rows: int
    types: dict[str, str]
    profile: dict[str, Stats]
    partitions: set[str]


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(value: datetime) -> int:
    return (value - EPOCH) // timedelta(microseconds=1)


def _kind(typ: pa.DataType) -> str:
    if pa.types.is_timestamp(typ):
        return "timestamp"
    if pa.types.is_date(typ):
        return "date"
    if pa.types.is_boolean(typ):
        return "bool"
    if pa.types.is_integer(typ):
        return "int"
    if pa.types.is_floating(typ):
        return "float"
    assert pa.types.is_string(typ), typ
    return "string"


def _stats(count: int, kind: str, values: dict[str, Any]) -> Stats:
    """Normalise one column's aggregates: nothing but the count when it has no values."""
    if count == 0:
        return {"count": 0}
    out: Stats = {"count": count}
    if kind in ("int", "bool"):
        out["sum"] = int(values["sum"])
    elif kind == "float":
        out["sum"] = float(values["sum"])
    else:
        out["min"], out["max"] = values["min"], values["max"]
        if kind == "string":
            out["chars"] = int(values["chars"])
    return out


def _polars_profile(table: Table, paths: list[Path]) -> dict[str, Stats]:
    frame = pl.concat([pl.read_parquet(p, hive_partitioning=False) for p in paths])
    profile = {}
    for field in table.schema:
        column, kind = frame[field.name], _kind(field.type)
        values = column.drop_nulls()
        if kind == "timestamp":
            values = values.dt.epoch("us")
        elif kind == "bool":
            values = values.cast(pl.Int64)
        aggregates: dict[str, Any] = {}
        if kind in ("int", "bool", "float"):
            aggregates["sum"] = values.sum()
        else:
            aggregates["min"], aggregates["max"] = values.min(), values.max()
        if kind == "string":
            aggregates["chars"] = values.str.len_chars().sum()
        profile[field.name] = _stats(values.len(), kind, aggregates)
    return profile


def _unpack(table: Table, values: Iterator[Any]) -> dict[str, Stats]:
    """The profile from one row of aggregates, in the order the SQL readers select them:
    per column the count, then the sum, or min and max (and the characters of strings)."""
    profile = {}
    for field in table.schema:
        kind = _kind(field.type)
        count = next(values)
        aggregates: dict[str, Any] = {}
        if kind in ("bool", "int", "float"):
            aggregates["sum"] = next(values)
        else:
            aggregates["min"], aggregates["max"] = next(values), next(values)
            if kind == "string":
                aggregates["chars"] = next(values)
        profile[field.name] = _stats(count, kind, aggregates)
    return profile


def _glob(root: Path, table: Table) -> str:
    return str(root / table.name / ("*/*.parquet" if table.partition else "*.parquet"))


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def read_duckdb(root: Path, table: Table) -> Readback:
    """``read_parquet`` over the table's glob, hive partitions on, in one aggregate query."""
    hive = "true" if table.partition else "false"
    source = f"read_parquet('{_glob(root, table)}', hive_partitioning = {hive})"
    with duckdb.connect() as con:
        described = con.sql(f"DESCRIBE SELECT * FROM {source}").fetchall()
        types = {str(row[0]): str(row[1]) for row in described}
        selects = ["count(*)"]
        for field in table.schema:
            c, kind = _quote(field.name), _kind(field.type)
            selects.append(f"count({c})")
            if kind == "bool":
                selects += [f"sum({c}::INTEGER)"]
            elif kind == "int":
                selects += [f"sum({c})::HUGEINT"]
            elif kind == "float":
                selects += [f"sum({c})"]
            elif kind == "timestamp":
                selects += [f"epoch_us(min({c}))", f"epoch_us(max({c}))"]
            else:
                selects += [f"min({c})", f"max({c})"]
                if kind == "string":
                    selects += [f"sum(length({c}))"]
        [row] = con.execute(f"SELECT {', '.join(selects)} FROM {source}").fetchall()
        partitions: set[str] = set()
        if table.partition:
            key = _quote(table.partition)
            partitions = {
                str(r[0]) for r in con.sql(f"SELECT DISTINCT {key} FROM {source}").fetchall()
            }
    profile = _unpack(table, iter(row[1:]))
    return Readback([str(r[0]) for r in described], row[0], types, profile, partitions)


def _arrow_profile(data: pa.Table, table: Table) -> dict[str, Stats]:
    profile = {}
    for field in table.schema:
        column, kind = data[field.name], _kind(field.type)
        if kind in ("timestamp", "bool"):
            column = column.cast(pa.int64())
        aggregates: dict[str, Any] = {}
        if kind in ("int", "bool", "float"):
            aggregates["sum"] = pc.sum(column).as_py()
        else:
            aggregates.update(pc.min_max(column).as_py())
        if kind == "string":
            aggregates["chars"] = pc.sum(pc.utf8_length(column)).as_py()
        profile[field.name] = _stats(pc.count(column).as_py(), kind, aggregates)
    return profile


def read_pyarrow(root: Path, table: Table) -> Readback:
    """A ``pyarrow.dataset`` over the folder, hive partitioning when the table has one."""
    dataset = ds.dataset(
        root / table.name, format="parquet", partitioning="hive" if table.partition else None
    )
    data = dataset.to_table()
    types = {f.name: str(f.type) for f in data.schema}
    partitions = set()
    if table.partition:
        partitions = {str(v) for v in pc.unique(data[table.partition]).to_pylist()}
    return Readback(
        data.column_names, data.num_rows, types, _arrow_profile(data, table), partitions
    )


def read_pandas(root: Path, table: Table) -> Readback:
    """``pd.read_parquet`` on the folder with the pyarrow engine and default dtypes."""
    frame = pd.read_parquet(root / table.name, engine="pyarrow")
    profile = {}
    for field in table.schema:
        kind = _kind(field.type)
        values = frame[field.name].dropna()
        aggregates: dict[str, Any] = {}
        if kind in ("int", "bool", "float"):
            aggregates["sum"] = values.astype("float64" if kind == "float" else "int64").sum()
        elif kind == "timestamp":
            if len(values):
                aggregates["min"] = _micros(values.min().to_pydatetime())
                aggregates["max"] = _micros(values.max().to_pydatetime())
        else:
            aggregates["min"], aggregates["max"] = (
                (values.min(), values.max()) if len(values) else (None, None)
            )
            if kind == "string":
                aggregates["chars"] = values.str.len().sum()
        profile[field.name] = _stats(len(values), kind, aggregates)
    partitions = set()
    if table.partition:
        partitions = {str(v) for v in frame[table.partition].dropna().unique()}
    types = {str(name): str(dtype) for name, dtype in frame.dtypes.items()}
    return Readback([str(c) for c in frame.columns], len(frame), types, profile, partitions)


def read_spark(spark: SparkSession, root: Path, table: Table) -> Readback:
    """``spark.read.parquet`` on the folder (partition discovery on), one aggregate job."""
    from pyspark.sql import functions as F

    frame = spark.read.parquet(str(root / table.name))
    selects = [F.count(F.lit(1)), F.collect_set(table.partition or F.lit(None))]
    for field in table.schema:
        column, kind = F.col(f"`{field.name}`"), _kind(field.type)
        selects.append(F.count(column))
        if kind == "bool":
            selects.append(F.sum(column.cast("int")))
        elif kind in ("int", "float"):
            selects.append(F.sum(column))
        elif kind == "timestamp":
            selects += [F.unix_micros(F.min(column)), F.unix_micros(F.max(column))]
        else:
            selects += [F.min(column), F.max(column)]
            if kind == "string":
                selects.append(F.sum(F.char_length(column)))
    row = list(frame.agg(*selects).collect()[0])
    profile = _unpack(table, iter(row[2:]))
    partitions = {str(value) for value in row[1]}
    types = {f.name: f.dataType.simpleString() for f in frame.schema.fields}
    return Readback(frame.columns, row[0], types, profile, partitions)


@pytest.fixture(scope="module")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkSession]:
    """One local Spark session for the module: one core, small heap, no UI, loopback only,
    UTC session time zone; stopped (and its JVM ended) afterwards."""
    if SPARK_MISSING is not None:
        pytest.fail(f"CI=true but the Spark reader cannot run: {SPARK_MISSING}", pytrace=False)
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    scratch = tmp_path_factory.mktemp("spark")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SPARK_LOCAL_IP", "127.0.0.1")
        patch.setenv("PYSPARK_PYTHON", sys.executable)
        session = (
            SparkSession.builder.master("local[1]")
            .appName("cxpipe-bi-readers")
            .config("spark.driver.memory", "512m")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.shuffle.partitions", "1")
            # Small data, short-lived JVM: skip C2 compilation and query re-planning.
            .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
            .config("spark.sql.adaptive.enabled", "false")
            .config("spark.sql.codegen.wholeStage", "false")
            .config("spark.sql.catalogImplementation", "in-memory")
            .config("spark.sql.warehouse.dir", str(scratch / "warehouse"))
            .config("spark.local.dir", str(scratch / "local"))
            .getOrCreate()
        )
    session.sparkContext.setLogLevel("ERROR")
    try:
        yield session
    finally:
        session.stop()
        gateway = SparkContext._gateway
        process = getattr(gateway, "proc", None)
        if gateway is not None:
            gateway.shutdown()
        if process is not None:  # the JVM exits when its stdin closes
            process.stdin.close()
            process.wait(timeout=30)
        SparkContext._gateway = None
        SparkContext._jvm = None


def _reader(name: str, request: pytest.FixtureRequest) -> Callable[[Path, Table], Readback]:
    if name == "spark":
        session = request.getfixturevalue("spark")
        return lambda root, table: read_spark(session, root, table)
    readers: dict[str, Callable[[Path, Table], Readback]] = {
        "duckdb": read_duckdb,
        "pyarrow": read_pyarrow,
        "pandas": read_pandas,
    }
    return readers[name]


# ---------------------------------------------------------------------------------------------
# The layout.


def test_the_output_root_holds_exactly_the_declared_tables(files: dict[str, list[Path]]) -> None:
    unknown = sorted(set(files) - set(TABLES))
    assert not unknown, (
        f"new output table(s) {unknown}: declare them in tests/bi/test_readers.py (TABLES) so "
        "that every reader is checked against them, and document them in docs/bi-tools.md"
    )
    assert sorted(files) == sorted(TABLES)


@pytest.mark.parametrize("name", sorted(TABLES))
def test_partition_layout(files: dict[str, list[Path]], output: Path, name: str) -> None:
    table = TABLES[name]
    for path in files[name]:
        parts = path.relative_to(output / name).parts
        assert parts[-1] == "part-0.parquet"
        if table.partition is None:
            assert len(parts) == 1, path
        else:
            assert len(parts) == 2, path
            assert re.fullmatch(rf"{table.partition}=[^=/]+", parts[0]), path
    if name == "metric_values":  # the key is the month of period_start, in the path only
        for path in files[name]:
            starts = pl.read_parquet(path, hive_partitioning=False)["period_start"]
            months = set(starts.dt.strftime("%Y-%m").to_list())
            assert months == {path.parent.name.removeprefix("period=")}, path
    if name.startswith(("quarantine/", "_entities/")):
        entity = name.split("/", 1)[1]
        assert {p.parent.name for p in files[name]} == {f"source={SOURCES[entity][0]}"}


# ---------------------------------------------------------------------------------------------
# The types, as the files hold them.


def _bi_type_problems(path: Path) -> list[str]:
    """What in one Parquet file a BI reader might refuse or misread: any column type outside
    :data:`BI_TYPES` (unsigned, large or view strings, nested, dictionary, timestamps not
    ``[us, UTC]``, ``date64``…), Parquet annotations other than the pinned ones, and column
    chunks (of non-empty row groups) without zstd or statistics."""
    problems = []
    parquet = pq.ParquetFile(path)
    for index, field in enumerate(parquet.schema_arrow):
        where = f"{field.name}: {field.type}"
        if str(field.type) not in BI_TYPES:
            problems.append(f"{where} is not a type the BI readers were checked with")
            continue
        physical, converted, logical = BI_TYPES[str(field.type)]
        column = parquet.schema.column(index)
        written = json.loads(column.logical_type.to_json())
        annotation = (column.physical_type, column.converted_type)
        if annotation != (physical, converted or "NONE"):
            problems.append(f"{where} is stored as {annotation}")
        if {key: written.get(key) for key in logical} != logical:
            problems.append(f"{where} has the logical type {written}")
    for group in range(parquet.metadata.num_row_groups):
        row_group = parquet.metadata.row_group(group)
        for index in range(row_group.num_columns if row_group.num_rows else 0):
            chunk = row_group.column(index)
            if chunk.compression != "ZSTD" or not chunk.is_stats_set:
                problems.append(f"{chunk.path_in_schema}: {chunk.compression}, statistics?")
    return [f"{path}: {problem}" for problem in problems]


def test_the_pinned_types_are_the_bi_friendly_ones() -> None:
    """No unsigned integers, no large or view strings, nothing nested; timestamps are
    microseconds in UTC, dates are date32."""
    for name in BI_TYPES:
        typ = pa.type_for_alias(name) if name != str(UTC_TIMESTAMP) else UTC_TIMESTAMP
        assert not pa.types.is_unsigned_integer(typ)
        assert not pa.types.is_large_string(typ)
        assert not pa.types.is_string_view(typ)
        assert not pa.types.is_nested(typ)
        assert not pa.types.is_dictionary(typ)
        assert not pa.types.is_timestamp(typ) or typ == UTC_TIMESTAMP
        assert not pa.types.is_date(typ) or typ == pa.date32()


@pytest.mark.parametrize("name", sorted(TABLES))
def test_parquet_types_are_ones_every_bi_reader_accepts(
    files: dict[str, list[Path]], name: str
) -> None:
    problems = [problem for path in files[name] for problem in _bi_type_problems(path)]
    assert problems == []


ROW_INDEX_PLUGIN = """
import polars as pl

from cxpipe import hookimpl
from cxpipe.sources.base import Extract, Source


class RowIndexSource(Source):
    kind = "row_index"

    def extract(self, since=None):
        frame = pl.DataFrame(
            {
                "ticket_id": ["T1", "T2"],
                "client_id": ["C1", "C2"],
                "opened_at": ["2026-01-05T09:00:00Z", "2026-01-06T09:00:00Z"],
                "resolved_at": ["2026-01-05T12:00:00Z", "2026-01-01T09:00:00Z"],
            }
        )
        # polars numbers rows as UInt32: what a plugin author writes first.
        frame = frame.with_row_index("_cx_row", offset=1).with_columns(_cx_file=pl.lit("api"))
        return Extract(frame.lazy())


@hookimpl
def cxpipe_register_sources(registry):
    registry.add_source(RowIndexSource)
"""


def test_a_source_plugins_odd_lineage_types_are_written_bi_friendly(tmp_path: Path) -> None:
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "row_index.py").write_text(ROW_INDEX_PLUGIN, encoding="utf-8")
    constant = {"value": "support"}
    config = {
        "run": {"output": str(tmp_path / "out"), "plugins_dir": str(tmp_path / "plugins")},
        "metrics": {"only": ["ticket_volume"]},
        "sources": [
            {
                "name": "api",
                "kind": "row_index",
                "entity": "tickets",
                "incremental": True,  # so the snapshot is written too
                "columns": {
                    "request_type": constant,
                    "priority": {"value": "high"},
                    "status": {"value": "open"},
                    "reopen_count": {"value": 0},
                    "reassignment_count": {"value": 0},
                },
            }
        ],
    }
    result = run_pipeline(parse_config(config, base_dir=tmp_path))
    assert result.manifest["sources"][0]["rows_quarantined"] == 1  # T2: resolved before opened
    written = _discover(tmp_path / "out")
    assert {"quarantine/tickets", "_entities/tickets"} <= set(written)
    problems = [
        problem
        for paths in written.values()
        for path in paths
        for problem in _bi_type_problems(path)
    ]
    assert problems == []


@pytest.mark.parametrize("name", sorted(TABLES))
def test_files_hold_the_declared_schema(files: dict[str, list[Path]], name: str) -> None:
    table = TABLES[name]
    for path in files[name]:
        schema = pq.read_schema(path)
        if table.fixed:
            assert schema.names == table.schema.names, path
            for field in table.schema:
                written = schema.field(field.name)
                assert written.type == field.type, f"{path}: {field.name}"
                assert written.nullable == field.nullable, f"{path}: {field.name} nullability"
        else:
            assert sorted(schema.names) == sorted(table.schema.names), path
            for field in table.schema:
                assert schema.field(field.name).type == field.type, f"{path}: {field.name}"


# ---------------------------------------------------------------------------------------------
# Each reader, each table.


@dataclass(frozen=True)
class Written:
    """The output root, its files per table, and per table what the files hold: the rows
    their footers count and the polars profile."""

    root: Path
    files: dict[str, list[Path]]
    rows: dict[str, int]
    profiles: dict[str, dict[str, Stats]]


@pytest.fixture(scope="module")
def written(output: Path, files: dict[str, list[Path]]) -> Written:
    rows, profiles = {}, {}
    for name, table in TABLES.items():
        paths = files.get(name, [])
        rows[name] = sum(pq.ParquetFile(p).metadata.num_rows for p in paths)
        profiles[name] = _polars_profile(table, paths) if paths else {}
    return Written(output, files, rows, profiles)


def _same(expected: Stats, got: Stats, where: str) -> None:
    assert got.keys() == expected.keys(), where
    for key, value in expected.items():
        if isinstance(value, float):
            assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-6), f"{where} {key}"
        else:
            assert got[key] == value, f"{where} {key}"


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("name", sorted(TABLES))
def test_reader_reads_the_table_whole(
    request: pytest.FixtureRequest, written: Written, reader: str, name: str
) -> None:
    table, profile = TABLES[name], written.profiles[name]
    assert written.rows[name] > 0, f"{name} is empty: the planted run should fill every table"
    got = _reader(reader, request)(written.root, table)
    assert got.columns == table.columns
    assert got.rows == written.rows[name]
    pinned = READER_TYPES[reader]
    for field in table.schema:
        assert got.types[field.name] in pinned[str(field.type)], (
            f"{reader} reads {name}.{field.name} ({field.type}) as {got.types[field.name]}"
        )
    if table.partition:
        assert got.types[table.partition] in pinned["partition"]
        keys = {p.parent.name.split("=", 1)[1] for p in written.files[name]}
        assert got.partitions == keys
    for column, expected in profile.items():
        _same(expected, got.profile[column], f"{reader} {name}.{column}")


# ---------------------------------------------------------------------------------------------
# Time zones: a known instant, read back exactly.


def _known_micros() -> int:
    return _micros(KNOWN_OPENED_AT)


def test_duckdb_reads_the_known_instant_in_any_session_time_zone(output: Path) -> None:
    source = f"read_parquet('{_glob(output, TABLES['quarantine/tickets'])}')"
    query = (
        f"SELECT epoch_us(opened_at), strftime(timezone('UTC', opened_at), '%Y-%m-%d %H:%M:%S'),"
        f" strftime(opened_at, '%Y-%m-%d %H:%M:%S') FROM {source} WHERE ticket_id = ?"
    )
    with duckdb.connect() as con:
        for zone, shown in (
            ("UTC", "2025-01-10 10:00:00"),
            ("America/Toronto", "2025-01-10 05:00:00"),
        ):
            con.execute(f"SET TimeZone = '{zone}'")
            rows = con.execute(query, [KNOWN_TICKET]).fetchall()
            assert rows == [(_known_micros(), "2025-01-10 10:00:00", shown)], zone


def test_pyarrow_and_pandas_read_the_known_instant(output: Path) -> None:
    path = output / "quarantine" / "tickets"
    data = ds.dataset(path, format="parquet", partitioning="hive").to_table(
        filter=pc.field("ticket_id") == KNOWN_TICKET
    )
    assert data["opened_at"].to_pylist() == [KNOWN_OPENED_AT]
    frame = pd.read_parquet(path, engine="pyarrow")
    opened = frame.loc[frame["ticket_id"] == KNOWN_TICKET, "opened_at"].tolist()
    assert opened == [pd.Timestamp("2025-01-10T10:00:00Z")]


@needs_spark
def test_spark_reads_the_known_instant_as_an_instant(spark: SparkSession, output: Path) -> None:
    from pyspark.sql import functions as F
    from pyspark.sql.types import TimestampType

    frame = spark.read.parquet(str(output / "quarantine" / "tickets"))
    assert isinstance(frame.schema["opened_at"].dataType, TimestampType)  # not TimestampNTZ
    known = frame.filter(F.col("ticket_id") == KNOWN_TICKET)
    shown = F.date_format("opened_at", "yyyy-MM-dd HH:mm:ss")
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
    assert known.select(F.unix_micros("opened_at"), shown).collect()[0] == (
        _known_micros(),
        "2025-01-10 10:00:00",
    )
    spark.conf.set("spark.sql.session.timeZone", "America/Toronto")
    try:  # the same instant, shown in another zone: the files carry UTC, not wall time
        row = known.select(F.unix_micros("opened_at"), shown).collect()[0]
        assert tuple(row) == (_known_micros(), "2025-01-10 05:00:00")
    finally:
        spark.conf.set("spark.sql.session.timeZone", "UTC")
    months = spark.read.parquet(str(output / "metric_values"))
    first = months.filter(F.col("period") == "2024-11").select("period_start").first()
    assert first is not None
    assert first[0] == date(2024, 11, 1)


# ---------------------------------------------------------------------------------------------
# docs/bi-tools.md: the DuckDB SQL it shows runs as written.


def _docs_sql(tag: str) -> str:
    """The ```sql block under ``<!-- tested: {tag} -->`` in docs/bi-tools.md."""
    text = DOCS.read_text(encoding="utf-8")
    match = re.search(rf"<!-- tested: {re.escape(tag)} -->\s*```sql\n(.*?)```", text, re.DOTALL)
    assert match, f"docs/bi-tools.md has no ```sql block tagged {tag!r}"
    return match.group(1)


def test_docs_duckdb_views_give_every_row(written: Written, tmp_path: Path) -> None:
    database = tmp_path / "cxpipe.duckdb"
    with duckdb.connect(str(database)) as con:
        con.execute(_docs_sql("duckdb-views").replace(DOCS_ROOT, str(written.root)))
    views = {
        "metric_values": "metric_values",
        "dim_metric": "dim_metric",
        "dim_client": "dim_client",
        "signals": "signals",
        "action_plan": "action_plan",
        "detractor_followups": "detractor_followups",
        "feedback_themes": "feedback_themes",
        "quarantine_tickets": "quarantine/tickets",
    }
    with duckdb.connect(str(database), read_only=True) as con:  # as a BI tool opens it
        for view, table in views.items():
            rows = con.execute(f"SELECT count(*) FROM {view}").fetchall()
            assert rows == [(written.rows[table],)], view
        columns = [r[0] for r in con.sql("DESCRIBE metric_values").fetchall()]
        assert columns == TABLES["metric_values"].columns


def test_docs_reaggregation_reproduces_the_all_clients_rows(output: Path) -> None:
    with duckdb.connect() as con:
        con.execute(_docs_sql("duckdb-views").replace(DOCS_ROOT, str(output)))
        rolled = con.sql(_docs_sql("reaggregate-clients")).pl()
        overall = con.sql(
            "SELECT metric, period_start, value FROM metric_values "
            "WHERE client_id IS NULL AND segment IS NULL AND numerator IS NOT NULL"
        ).pl()
    joined = overall.join(rolled, on=["metric", "period_start"], suffix="_rolled")
    assert joined.height > 400  # every ratio metric with per-client rows, every month
    assert joined["metric"].n_unique() >= 20
    worst = (joined["value"] - joined["value_rolled"]).abs().max()
    assert isinstance(worst, float)
    assert math.isfinite(worst)
    assert worst < 1e-9


# ---------------------------------------------------------------------------------------------
# docs/bi-tools.md: what readers make of the path-only period key, per grain.

GRAINS = ("week", "month", "quarter", "year")
TEXT_OR_NUMBER = {"duckdb": ("VARCHAR", "BIGINT"), "pyarrow": ("string", "int32")}
TEXT_OR_NUMBER["spark"] = ("string", "int")


@pytest.fixture(scope="module")
def grain_roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Per grain, a folder of two ``period=<key>`` partitions keyed as the sink keys them."""
    base = tmp_path_factory.mktemp("grains")
    starts = pl.DataFrame({"period_start": [date(2025, 10, 6), date(2026, 10, 5)]})
    roots = {}
    for grain in GRAINS:
        for key in starts.select(period_key(pl.col("period_start"), grain))["period_start"]:
            folder = base / grain / f"period={key}"
            folder.mkdir(parents=True)
            pq.write_table(pa.table({"value": [1.0]}), folder / "part-0.parquet")
        roots[grain] = base / grain
    return roots


def _period_types(
    reader: str, request: pytest.FixtureRequest, roots: dict[str, Path], *, infer: bool
) -> dict[str, str]:
    """The type each reader gives ``period`` per grain, with type inference on or off (the
    switch docs/bi-tools.md names for that reader)."""
    if reader == "duckdb":
        autocast = "true" if infer else "false"
        with duckdb.connect() as con:
            return {
                grain: str(
                    con.sql(
                        f"DESCRIBE SELECT period FROM read_parquet('{root}/*/*.parquet', "
                        f"hive_partitioning = true, hive_types_autocast = {autocast})"
                    ).fetchall()[0][1]
                )
                for grain, root in roots.items()
            }
    if reader == "pyarrow":
        flavor = (
            ds.partitioning(flavor="hive")
            if infer
            else ds.partitioning(pa.schema([("period", pa.string())]), flavor="hive")
        )
        return {
            grain: str(ds.dataset(root, partitioning=flavor).schema.field("period").type)
            for grain, root in roots.items()
        }
    session: SparkSession = request.getfixturevalue("spark")
    setting = "spark.sql.sources.partitionColumnTypeInference.enabled"
    session.conf.set(setting, "true" if infer else "false")
    try:
        return {
            grain: session.read.parquet(str(root)).schema["period"].dataType.simpleString()
            for grain, root in roots.items()
        }
    finally:
        session.conf.unset(setting)


@pytest.mark.parametrize("reader", ["duckdb", "pyarrow", pytest.param("spark", marks=needs_spark)])
def test_docs_only_a_yearly_period_key_reads_as_a_number(
    request: pytest.FixtureRequest, grain_roots: dict[str, Path], reader: str
) -> None:
    text, number = TEXT_OR_NUMBER[reader]
    inferred = _period_types(reader, request, grain_roots, infer=True)
    assert inferred == {"week": text, "month": text, "quarter": text, "year": number}
    switched = _period_types(reader, request, grain_roots, infer=False)
    assert switched == dict.fromkeys(GRAINS, text)
