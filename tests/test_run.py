"""End to end: ``run_pipeline`` on the small seeded demo, read back as a BI tool would.

Real parts throughout (file source, conform, Great Expectations, polars metrics, the
Parquet sink); the outputs are read with DuckDB and ``pyarrow.dataset``, never through
cxpipe itself.
"""

from __future__ import annotations

import gzip
import json
import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.json as pa_json
import pyarrow.parquet as pq
import pytest
from polars.testing import assert_frame_equal

from cxpipe.config import parse_config
from cxpipe.errors import CxpipeError
from cxpipe.metrics.base import Polarity
from cxpipe.report import HEADLINES
from cxpipe.run import RunResult, run_pipeline
from cxpipe.schemas import DIM_CLIENT, DIM_METRIC, METRIC_VALUES, PROXIES
from tests.conftest import DEMO_TICKETS, DemoConfigData

pytestmark = pytest.mark.slow

ISO_UTC = "%Y-%m-%dT%H:%M:%SZ"
GRAIN_KEY = ("metric", "period_grain", "period_start", "client_id", "segment")


# --- reading outputs back -------------------------------------------------------------------


def duckdb_parquet(pattern: Path) -> pl.DataFrame:
    """Rows of every file ``pattern`` globs, as DuckDB reads them (file columns only)."""
    relation = duckdb.sql(f"select * from read_parquet('{pattern}', hive_partitioning = false)")
    assert relation is not None
    frame = relation.pl()
    assert isinstance(frame, pl.DataFrame)
    return frame


def arrow_dataset(folder: Path) -> pa.Table:
    """The folder as ``pyarrow.dataset`` reads it, hive partition keys included."""
    return ds.dataset(folder, format="parquet", partitioning="hive").to_table()


def assert_bi_friendly(schema: pa.Schema, where: str) -> None:
    """Types every BI reader maps: no unsigned ints, UTC microsecond timestamps, date32."""
    for field in schema:
        kind = field.type
        assert not pa.types.is_unsigned_integer(kind), f"{where}: {field.name} is {kind}"
        assert not pa.types.is_large_string(kind), f"{where}: {field.name} is {kind}"
        assert not pa.types.is_string_view(kind), f"{where}: {field.name} is {kind}"
        assert not pa.types.is_date64(kind), f"{where}: {field.name} is {kind}"
        if pa.types.is_timestamp(kind):
            assert kind == pa.timestamp("us", tz="UTC"), f"{where}: {field.name} is {kind}"


def without_run(frame: pl.DataFrame) -> pl.DataFrame:
    """Metric values minus what differs between two runs of the same data, in key order."""
    return frame.drop("run_id", "computed_at").sort(GRAIN_KEY, nulls_last=False)


def all_clients(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.filter(pl.col("client_id").is_null() & pl.col("segment").is_null())


# --- the run every read-only test shares ------------------------------------------------------


@pytest.fixture(scope="module")
def demo_run(
    demo_dir: Path, demo_config_data: DemoConfigData, tmp_path_factory: pytest.TempPathFactory
) -> RunResult:
    """The whole demo config run once into a fresh output root; tests only read it."""
    config = parse_config(demo_config_data(), base_dir=demo_dir, origin="demo")
    return run_pipeline(config, output=str(tmp_path_factory.mktemp("demo-run") / "out"))


def test_manifest_row_accounting_balances_per_source_and_per_entity(
    demo_run: RunResult, demo_dir: Path
) -> None:
    manifest = demo_run.manifest
    assert manifest["status"] == "succeeded"
    for source in manifest["sources"]:
        assert source["rows_read"] > 0, source["name"]
        assert source["rows_read"] == source["rows_kept"] + source["rows_quarantined"], source
    for entity, totals in manifest["entities"].items():
        of_entity = [s for s in manifest["sources"] if s["entity"] == entity]
        for key in ("rows_read", "rows_kept", "rows_quarantined"):
            assert totals[key] == sum(s[key] for s in of_entity), (entity, key)
        assert totals["rows_read"] == totals["rows_kept"] + totals["rows_quarantined"], entity

    # rows read are the rows in the files, not what survived some early step
    by_name = {s["name"]: s for s in manifest["sources"]}
    assert by_name["tickets"]["rows_read"] == DEMO_TICKETS
    assert by_name["clients"]["rows_read"] == pl.read_csv(demo_dir / "clients.csv").height
    assert by_name["projects"]["rows_read"] == pl.read_csv(demo_dir / "projects.csv").height
    surveys = pq.read_metadata(demo_dir / "survey_responses.parquet").num_rows
    assert by_name["surveys"]["rows_read"] == surveys


def demo_inputs(demo_dir: Path) -> dict[str, pl.DataFrame]:
    """The demo files read directly with polars, timestamps parsed as UTC."""
    tickets = pl.read_csv(demo_dir / "tickets.csv.gz", infer_schema=False).with_columns(
        pl.col("opened_at", "resolved_at").str.to_datetime(ISO_UTC, time_zone="UTC")
    )
    invitations = pl.read_ndjson(demo_dir / "survey_invitations.jsonl").with_columns(
        pl.col("sent_at").str.to_datetime(ISO_UTC, time_zone="UTC")
    )
    return {
        "tickets": tickets,
        "surveys": pl.read_parquet(demo_dir / "survey_responses.parquet"),
        "projects": pl.read_csv(demo_dir / "projects.csv", try_parse_dates=True),
        "clients": pl.read_csv(demo_dir / "clients.csv", try_parse_dates=True),
        "invitations": invitations,
    }


def months(column: pl.Series) -> set[date]:
    return set(column.drop_nulls().dt.truncate("1mo").cast(pl.Date).to_list())


def eligible_periods(inputs: dict[str, pl.DataFrame]) -> dict[str, set[date]]:
    """Per headline metric, the months in which the inputs hold rows it can count
    (METRICS.md: period assignment, and client-side responses only for survey scores)."""
    tickets, projects, clients = inputs["tickets"], inputs["projects"], inputs["clients"]
    responses = inputs["surveys"].filter(pl.col("respondent_side") == "client")
    resolved = tickets.get_column("resolved_at")
    window = (
        months(tickets["opened_at"])
        | months(resolved)
        | months(inputs["surveys"]["submitted_at"])
        | months(projects["actual_end"])
        | months(inputs["invitations"]["sent_at"])
    )
    retained = {
        month
        for month in pl.date_range(min(window), max(window), "1mo", eager=True).to_list()
        if clients.filter(
            (pl.col("relationship_start") < month)
            & (pl.col("relationship_end").is_null() | (pl.col("relationship_end") >= month))
        ).height
    }
    return {
        "ticket_volume": months(tickets["opened_at"]),
        "mttr_critical_hours": months(resolved.filter(tickets["priority"] == "critical")),
        "sla_resolution_compliance_pct": months(resolved),
        "csat_pct": months(responses.filter(pl.col("csat").is_not_null())["submitted_at"]),
        "nps": months(responses.filter(pl.col("nps_score").is_not_null())["submitted_at"]),
        "client_experience_rating": months(
            responses.filter(pl.any_horizontal(pl.col(PROXIES).is_not_null()))["submitted_at"]
        ),
        "projects_on_time_pct": months(projects["actual_end"]),
        "client_retention_rate_pct": retained,
    }


def test_every_headline_has_an_all_clients_row_in_every_period_with_eligible_data(
    demo_run: RunResult, demo_dir: Path
) -> None:
    values = duckdb_parquet(Path(demo_run.output_root) / "metric_values" / "*" / "*.parquet")
    eligible = eligible_periods(demo_inputs(demo_dir))
    assert set(eligible) == set(HEADLINES)
    for metric in HEADLINES:
        rows = values.filter(pl.col("metric") == metric)
        overall = all_clients(rows)
        assert eligible[metric], f"the demo gives {metric} no data at all"
        assert set(overall["period_start"].to_list()) == eligible[metric], metric
        assert overall["period_start"].is_unique().all(), metric
        # a client's row never appears in a period that lacks the all-clients row
        assert set(rows["period_start"].to_list()) <= eligible[metric], metric


def test_metric_values_hold_no_nan_or_null_and_dim_metric_gives_units_and_polarity(
    demo_run: RunResult,
) -> None:
    root = Path(demo_run.output_root)
    values = duckdb_parquet(root / "metric_values" / "*" / "*.parquet")
    assert values.height == demo_run.metric_values.height > 0
    for column in ("metric", "period_grain", "period_start", "period_end", "value", "unit"):
        assert values[column].null_count() == 0, column
    for column in ("value", "numerator", "denominator"):
        finite = values[column].drop_nulls().to_list()
        assert all(math.isfinite(x) for x in finite), f"{column} holds NaN or inf"
    assert (values["sample_size"] > 0).all()
    assert values.select(pl.struct(GRAIN_KEY).is_unique().all()).item(), "duplicate grain keys"
    assert set(values["run_id"].to_list()) == {demo_run.run_id}

    catalog = duckdb_parquet(root / "dim_metric" / "*.parquet")
    assert catalog["metric"].is_unique().all()
    units = dict(zip(catalog["metric"], catalog["unit"], strict=True))
    assert set(values["metric"].to_list()) <= set(units)
    assert set(HEADLINES) <= set(units)
    assert all(units[m] for m in units), "a metric without a unit"
    assert set(catalog["polarity"].to_list()) <= {str(p) for p in Polarity}
    assert all(catalog["title"].to_list())
    assert all(catalog["description"].to_list())
    mismatched = values.filter(
        pl.col("unit") != pl.col("metric").replace_strict(units, return_dtype=pl.String)
    )
    assert mismatched.is_empty(), mismatched.head()


def test_every_output_table_reads_back_with_duckdb_and_pyarrow_dataset(
    demo_run: RunResult,
) -> None:
    root = Path(demo_run.output_root)
    in_memory = without_run(demo_run.metric_values)

    by_duckdb = duckdb_parquet(root / "metric_values" / "*" / "*.parquet")
    assert_frame_equal(without_run(by_duckdb), in_memory)
    by_arrow = arrow_dataset(root / "metric_values")
    assert by_arrow.num_rows == in_memory.height
    periods = set(by_arrow.column("period").to_pylist())
    assert len(periods) == len(list((root / "metric_values").iterdir()))
    from_arrow = pl.from_arrow(by_arrow.drop_columns(["period"]))
    assert isinstance(from_arrow, pl.DataFrame)
    assert_frame_equal(without_run(from_arrow), in_memory)

    for table, schema in (("dim_metric", DIM_METRIC), ("dim_client", DIM_CLIENT)):
        rows = duckdb_parquet(root / table / "*.parquet")
        dataset = ds.dataset(root / table, format="parquet")
        assert dataset.schema.equals(schema), table
        assert dataset.to_table().num_rows == rows.height > 0, table
    clients = duckdb_parquet(root / "dim_client" / "*.parquet")
    assert clients["client_id"].is_unique().all()

    manifest_path = root / "_runs" / f"{demo_run.run_id}.json"
    summary = duckdb.execute(
        f"select run_id, status, entities.tickets.rows_read from read_json_auto('{manifest_path}')"
    ).fetchall()
    assert summary == [(demo_run.run_id, "succeeded", DEMO_TICKETS)]
    json_format = ds.JsonFileFormat(parse_options=pa_json.ParseOptions(newlines_in_values=True))
    manifest = ds.dataset(manifest_path, format=json_format).to_table()
    assert manifest.column("run_id").to_pylist() == [demo_run.run_id]
    on_disk = json.loads(manifest_path.read_text(encoding="utf-8"))
    assert on_disk["sources"] == json.loads(json.dumps(demo_run.manifest["sources"], default=str))

    assert not (root / "quarantine").exists(), "the clean demo quarantines nothing"
    assert not list(root.rglob(".*")), "hidden staging files left behind"


def test_the_manifest_a_run_returns_is_the_manifest_it_wrote(demo_run: RunResult) -> None:
    path = Path(demo_run.output_root) / "_runs" / f"{demo_run.run_id}.json"
    on_disk = json.loads(path.read_text(encoding="utf-8"))
    assert on_disk == json.loads(json.dumps(demo_run.manifest, default=str))


def test_output_types_are_exactly_the_documented_schemas(demo_run: RunResult) -> None:
    root = Path(demo_run.output_root)
    files = sorted((root / "metric_values").glob("period=*/part-0.parquet"))
    assert files
    for path in files:
        schema = pq.read_schema(path)
        assert schema.equals(METRIC_VALUES), f"{path}: {schema}"
        assert_bi_friendly(schema, str(path))
    assert pq.read_schema(root / "dim_metric" / "part-0.parquet").equals(DIM_METRIC)
    assert pq.read_schema(root / "dim_client" / "part-0.parquet").equals(DIM_CLIENT)

    described = duckdb.execute(
        f"describe select * from read_parquet('{root}/metric_values/*/*.parquet', "
        "hive_partitioning = false)"
    ).fetchall()
    types = {row[0]: row[1] for row in described}
    assert types["period_start"] == types["period_end"] == "DATE"
    assert types["computed_at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["sample_size"] == "BIGINT"
    assert types["value"] == "DOUBLE"
    assert not [c for c, t in types.items() if t.startswith("U")], types


def test_rerun_into_the_same_root_replaces_periods_instead_of_adding_rows(
    demo_run: RunResult,
    demo_dir: Path,
    demo_config_data: DemoConfigData,
    tmp_path: Path,
) -> None:
    root = tmp_path / "out"
    shutil.copytree(demo_run.output_root, root)
    pattern = root / "metric_values" / "*" / "*.parquet"
    before = duckdb_parquet(pattern)
    files_before = sorted(p.relative_to(root) for p in root.rglob("*.parquet"))

    config = parse_config(demo_config_data(), base_dir=demo_dir, origin="demo")
    second = run_pipeline(config, output=str(root))

    after = duckdb_parquet(pattern)
    assert second.run_id != demo_run.run_id
    assert after.height == before.height
    assert set(after["run_id"].to_list()) == {second.run_id}
    assert_frame_equal(without_run(after), without_run(before))
    assert sorted(p.relative_to(root) for p in root.rglob("*.parquet")) == files_before
    manifests = {p.name for p in (root / "_runs").glob("*.json")}
    assert manifests == {f"{demo_run.run_id}.json", f"{second.run_id}.json"}


# --- bad rows go to quarantine -----------------------------------------------------------------


@dataclass(frozen=True)
class BadRow:
    """One row broken on purpose in a copy of the demo data."""

    source: str
    entity: str
    key_column: str
    column: str
    raw: str
    """The bad value as written into the file."""
    shown: str
    """How the quarantine reason must show that value."""


BAD_ROWS = {
    "unknown_priority_label": BadRow(
        "tickets", "tickets", "ticket_id", "priority", "P0 - Panic", "'P0 - Panic'"
    ),
    "resolved_before_opened": BadRow(
        "tickets", "tickets", "ticket_id", "resolved_at", "2020-01-01T00:00:00Z", "2020-01-01"
    ),
    "unparseable_opened_at": BadRow(
        "tickets", "tickets", "ticket_id", "opened_at", "31/02/2025 noon", "'31/02/2025 noon'"
    ),
    "csat_out_of_range": BadRow("surveys", "survey_responses", "response_id", "csat", "9", "9"),
}


@dataclass(frozen=True)
class BadRun:
    result: RunResult
    keys: dict[str, str]
    """BAD_ROWS name → the key of the row broken that way."""


def _break_tickets(source: Path, target: Path, bad: dict[str, BadRow]) -> dict[str, str]:
    tickets = pl.read_csv(source, infer_schema=False)
    keys = dict(zip(bad, tickets["ticket_id"].head(len(bad)), strict=True))
    tickets = tickets.with_columns(
        pl.when(pl.col("ticket_id") == keys[name])
        .then(pl.lit(row.raw))
        .otherwise(pl.col(row.column))
        .alias(row.column)
        for name, row in bad.items()
    )
    target.write_bytes(gzip.compress(tickets.write_csv().encode("utf-8")))
    return keys


def _break_surveys(source: Path, target: Path, bad: dict[str, BadRow]) -> dict[str, str]:
    surveys = pl.read_parquet(source)
    rated = surveys.filter(pl.col("csat").is_not_null())["response_id"]
    keys = dict(zip(bad, rated.head(len(bad)), strict=True))
    surveys = surveys.with_columns(
        pl.when(pl.col("response_id") == keys[name])
        .then(pl.lit(int(row.raw), dtype=surveys.schema[row.column]))
        .otherwise(pl.col(row.column))
        .alias(row.column)
        for name, row in bad.items()
    )
    surveys.write_parquet(target)
    return keys


@pytest.fixture(scope="module")
def bad_run(
    demo_dir: Path, demo_config_data: DemoConfigData, tmp_path_factory: pytest.TempPathFactory
) -> BadRun:
    """The demo's clients, tickets and surveys with every BAD_ROWS row broken, run once."""
    data = tmp_path_factory.mktemp("bad-data")
    shutil.copy(demo_dir / "clients.csv", data / "clients.csv")
    tickets = {n: r for n, r in BAD_ROWS.items() if r.source == "tickets"}
    surveys = {n: r for n, r in BAD_ROWS.items() if r.source == "surveys"}
    keys = _break_tickets(demo_dir / "tickets.csv.gz", data / "tickets.csv.gz", tickets)
    keys |= _break_surveys(
        demo_dir / "survey_responses.parquet", data / "survey_responses.parquet", surveys
    )
    config = parse_config(
        demo_config_data("clients", "tickets", "surveys"), base_dir=data, origin="bad"
    )
    result = run_pipeline(config, output=str(tmp_path_factory.mktemp("bad-run") / "out"))
    return BadRun(result, keys)


@pytest.mark.parametrize("case", list(BAD_ROWS))
def test_a_bad_row_lands_in_quarantine_with_a_reason_naming_column_and_value(
    bad_run: BadRun, case: str
) -> None:
    bad = BAD_ROWS[case]
    folder = Path(bad_run.result.output_root) / "quarantine" / bad.entity / f"source={bad.source}"
    rows = duckdb_parquet(folder / "*.parquet").filter(pl.col(bad.key_column) == bad_run.keys[case])
    assert rows.height == 1, f"{case}: row {bad_run.keys[case]} is not quarantined once"
    reason = rows["quarantine_reason"].item()
    assert bad.column in reason, reason
    assert bad.shown in reason, reason
    details = json.loads(rows["quarantine_details"].item())
    assert any(bad.column in d["column"] for d in details), details


def test_quarantine_keeps_the_accounting_balanced_and_bad_rows_out_of_metrics(
    bad_run: BadRun,
) -> None:
    result = bad_run.result
    expected = {"clients": 0, "tickets": 3, "surveys": 1}
    for source in result.manifest["sources"]:
        assert source["rows_quarantined"] == expected[source["name"]], source["name"]
        assert source["rows_read"] == source["rows_kept"] + source["rows_quarantined"]
    tickets = result.manifest["entities"]["tickets"]
    assert tickets == {
        "rows_read": DEMO_TICKETS,
        "rows_kept": DEMO_TICKETS - 3,
        "rows_quarantined": 3,
    }

    volume = all_clients(result.metric_values.filter(pl.col("metric") == "ticket_volume"))
    assert volume["value"].sum() == DEMO_TICKETS - 3

    root = Path(result.output_root) / "quarantine"
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*.parquet")) == [
        "survey_responses/source=surveys/part-0.parquet",
        "tickets/source=tickets/part-0.parquet",
    ]
    for entity, source, count in (("tickets", "tickets", 3), ("survey_responses", "surveys", 1)):
        table = arrow_dataset(root / entity)
        assert table.num_rows == count
        assert set(table.column("source").to_pylist()) == {source}
        assert duckdb_parquet(root / entity / "*" / "*.parquet").height == count
        for path in (root / entity).rglob("*.parquet"):
            assert_bi_friendly(pq.read_schema(path), str(path))


# --- table-level failures stop the run ---------------------------------------------------------


@dataclass(frozen=True)
class TableFailure:
    """A tickets export broken as a whole, and what the error must name besides the source."""

    damage: Callable[[pl.DataFrame], pl.DataFrame]
    file_name: str
    named: str


TABLE_FAILURES = {
    "required_column_missing": TableFailure(lambda t: t.drop("priority"), "export.csv", "priority"),
    "zero_rows_with_expect_rows": TableFailure(lambda t: t.head(0), "empty.csv", "empty.csv"),
}


@pytest.mark.parametrize("case", list(TABLE_FAILURES))
def test_a_table_level_failure_raises_a_cxpipe_error_naming_source_and_cause(
    demo_dir: Path, demo_config_data: DemoConfigData, tmp_path: Path, case: str
) -> None:
    failure = TABLE_FAILURES[case]
    file_name = failure.file_name
    tickets = pl.read_csv(demo_dir / "tickets.csv.gz", infer_schema=False)
    (tmp_path / file_name).write_text(failure.damage(tickets).write_csv(), encoding="utf-8")
    data = demo_config_data()
    data["sources"] = [
        {"name": "itsm_export", "kind": "file", "entity": "tickets", "options": {"path": file_name}}
    ]
    output = tmp_path / "out"

    with pytest.raises(CxpipeError) as raised:
        run_pipeline(parse_config(data, base_dir=tmp_path), output=str(output))

    assert type(raised.value) is not CxpipeError, "raise the specific subclass"
    message = str(raised.value)
    assert "itsm_export" in message
    assert failure.named in message
    assert not output.exists() or not [p for p in output.rglob("*") if p.is_file()]


# --- plugins: lifecycle hooks and added expectations --------------------------------------------

RECORDER_PLUGIN = """
import json
from pathlib import Path

from cxpipe import hookimpl

EVENTS = Path(__file__).with_name("events.jsonl")


def record(**event):
    with EVENTS.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(event) + "\\n")


@hookimpl
def cxpipe_before_run(run):
    record(hook="before_run", run_id=run.run_id)


@hookimpl
def cxpipe_after_run(run, result):
    record(
        hook="after_run",
        run_id=run.run_id,
        result_run_id=result.run_id,
        rows=result.metric_values.height,
        status=result.manifest["status"],
    )


@hookimpl
def cxpipe_on_run_error(run, error):
    record(hook="on_run_error", run_id=run.run_id, error=type(error).__name__)
"""


def recorded(plugins: Path) -> list[dict[str, Any]]:
    lines = (plugins / "events.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


@pytest.fixture
def recorder_dir(tmp_path: Path) -> Path:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "recorder.py").write_text(RECORDER_PLUGIN, encoding="utf-8")
    return plugins


def test_a_local_plugin_sees_before_run_and_after_run_with_the_result(
    demo_dir: Path, demo_config_data: DemoConfigData, recorder_dir: Path, tmp_path: Path
) -> None:
    data = demo_config_data("clients", "tickets", plugins_dir=recorder_dir)
    result = run_pipeline(parse_config(data, base_dir=demo_dir), output=str(tmp_path / "out"))

    assert recorded(recorder_dir) == [
        {"hook": "before_run", "run_id": result.run_id},
        {
            "hook": "after_run",
            "run_id": result.run_id,
            "result_run_id": result.run_id,
            "rows": result.metric_values.height,
            "status": "succeeded",
        },
    ]
    assert "recorder" in {p["name"] for p in result.manifest["plugins"]}


def test_a_local_plugin_sees_on_run_error_when_the_run_fails(
    demo_dir: Path, demo_config_data: DemoConfigData, recorder_dir: Path, tmp_path: Path
) -> None:
    data = demo_config_data("clients", "tickets", plugins_dir=recorder_dir)
    tickets = next(s for s in data["sources"] if s["name"] == "tickets")
    tickets["options"]["path"] = "no-such-export.csv"

    with pytest.raises(CxpipeError, match="no-such-export") as raised:
        run_pipeline(parse_config(data, base_dir=demo_dir), output=str(tmp_path / "out"))

    events = recorded(recorder_dir)
    assert [e["hook"] for e in events] == ["before_run", "on_run_error"]
    assert events[0]["run_id"] == events[1]["run_id"]
    assert events[1]["error"] == type(raised.value).__name__


NO_PHONE_PLUGIN = """
from cxpipe import hookimpl


@hookimpl
def cxpipe_add_expectations(entity, suite):
    if entity == "tickets":
        suite.in_set(
            "channel",
            ["email", "portal", "chat"],
            description="phone tickets belong to the telephony export",
        )
"""


def test_an_expectation_added_by_a_plugin_quarantines_the_rows_it_rejects(
    demo_dir: Path, demo_config_data: DemoConfigData, tmp_path: Path
) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "no_phone.py").write_text(NO_PHONE_PLUGIN, encoding="utf-8")
    data = demo_config_data("clients", "tickets", plugins_dir=plugins)

    result = run_pipeline(parse_config(data, base_dir=demo_dir), output=str(tmp_path / "out"))

    channels = pl.read_csv(demo_dir / "tickets.csv.gz", infer_schema=False)["channel"]
    phone = int((channels == "phone").sum())
    assert phone > 0
    tickets = result.manifest["entities"]["tickets"]
    assert tickets == {
        "rows_read": DEMO_TICKETS,
        "rows_kept": DEMO_TICKETS - phone,
        "rows_quarantined": phone,
    }
    quarantined = duckdb_parquet(
        Path(result.output_root) / "quarantine" / "tickets" / "source=tickets" / "*.parquet"
    )
    assert quarantined.height == phone
    assert set(quarantined["channel"].to_list()) == {"phone"}
    reasons = quarantined["quarantine_reason"]
    assert reasons.str.contains("channel").all()
    assert reasons.str.contains("phone").all()
    assert reasons.str.contains("telephony export").all()
    volume = all_clients(result.metric_values.filter(pl.col("metric") == "ticket_volume"))
    assert volume["value"].sum() == DEMO_TICKETS - phone


def test_a_scorecard_that_fails_leaves_the_run_committed_and_plugins_told(
    demo_dir: Path,
    demo_config_data: DemoConfigData,
    recorder_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(output_root: str, path: str | None = None) -> str:
        raise RuntimeError("the page could not be rendered")

    monkeypatch.setattr("cxpipe.scorecard.write_scorecard", broken)
    data = demo_config_data("clients", "tickets", plugins_dir=recorder_dir)
    output = tmp_path / "out"
    with pytest.raises(RuntimeError, match="could not be rendered"):
        run_pipeline(parse_config(data, base_dir=demo_dir), output=str(output))
    assert len(list((output / "_runs").glob("*.json"))) == 1  # committed before the page
    assert list((output / "metric_values").glob("period=*/part-0.parquet"))
    assert [event["hook"] for event in recorded(recorder_dir)] == ["before_run", "after_run"]
    assert not (output / "scorecards").exists()
