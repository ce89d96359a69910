"""The Parquet star schema: readable by DuckDB and pyarrow, atomic, idempotent."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from cxpipe.errors import OutputError
from cxpipe.schemas import DIM_METRIC, METRIC_VALUES
from cxpipe.sinks.base import RunOutputs
from cxpipe.sinks.parquet import ParquetSink


def _values(run_id: str, value: float, months: tuple[int, ...] = (1, 2)) -> pl.DataFrame:
    rows = []
    for month in months:
        for client in ("C01", None):
            rows.append(
                {
                    "metric": "csat_pct",
                    "period_grain": "month",
                    "period_start": date(2026, month, 1),
                    "period_end": date(2026, month, 28),
                    "client_id": client,
                    "segment": None,
                    "value": value,
                    "numerator": 3.0,
                    "denominator": 4.0,
                    "sample_size": 4,
                    "unit": "%",
                    "run_id": run_id,
                    "computed_at": datetime(2026, 11, 1, tzinfo=UTC),
                }
            )
    frame = pl.from_arrow(pa.Table.from_pylist(rows, schema=METRIC_VALUES))
    assert isinstance(frame, pl.DataFrame)
    return frame


def _outputs(run_id: str, value: float, months: tuple[int, ...] = (1, 2)) -> RunOutputs:
    dim_metric = pl.DataFrame(
        [
            {
                "metric": "csat_pct",
                "title": "CSAT",
                "description": "d",
                "unit": "%",
                "polarity": "higher_is_better",
                "plugin": "builtin",
            }
        ],
        schema=dict.fromkeys(DIM_METRIC.names, pl.String),
    )
    dim_client = pl.DataFrame(
        {
            "client_id": ["C01"],
            "name": ["Acme"],
            "segment": [None],
            "relationship_start": [date(2020, 1, 1)],
            "relationship_end": [None],
        },
        schema={
            "client_id": pl.String,
            "name": pl.String,
            "segment": pl.String,
            "relationship_start": pl.Date,
            "relationship_end": pl.Date,
        },
    )
    reasons = pl.DataFrame(
        {
            "ticket_id": ["T9"],
            "_cx_row": [7],
            "quarantine_reason": ["csat = 0 is outside 1..5"],
            "quarantine_reasons": [
                [
                    {
                        "check": "between",
                        "column": "csat",
                        "value": "0",
                        "message": "csat = 0 is outside 1..5",
                    }
                ]
            ],
        }
    )
    return RunOutputs(
        run_id=run_id,
        period_grain="month",
        metric_values=_values(run_id, value, months),
        dim_metric=dim_metric,
        dim_client=dim_client,
        quarantine={("tickets", "itsm"): reasons},
        manifest={"run_id": run_id, "status": "succeeded"},
    )


def _duck(root: Path, query: str) -> list[Any]:
    con = duckdb.connect()
    return con.execute(query.replace("ROOT", str(root))).fetchall()


def test_star_schema_reads_back_in_duckdb_and_pyarrow(tmp_path: Path) -> None:
    paths = ParquetSink(str(tmp_path)).write(_outputs("r1", 75.0))
    assert (tmp_path / "metric_values" / "period=2026-01" / "part-0.parquet").exists()
    assert str(tmp_path / "_runs" / "r1.json") == paths[-1]
    # A reader that ignores partitions still sees every column in the files.
    rows = _duck(
        tmp_path,
        "select count(*), sum(value), min(period_start) "
        "from read_parquet('ROOT/metric_values/*/*.parquet')",
    )
    assert rows == [(4, 300.0, date(2026, 1, 1))]
    dataset = ds.dataset(tmp_path / "metric_values", format="parquet", partitioning="hive")
    table = dataset.to_table()
    assert table.num_rows == 4
    assert table.schema.field("computed_at").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("period_start").type == pa.date32()
    file_schema = ds.dataset(tmp_path / "metric_values", format="parquet").schema
    assert file_schema.equals(METRIC_VALUES, check_metadata=False)
    assert _duck(tmp_path, "select title from 'ROOT/dim_metric/part-0.parquet'") == [("CSAT",)]
    quarantine = _duck(
        tmp_path,
        "select quarantine_reason, quarantine_details "
        "from 'ROOT/quarantine/tickets/source=itsm/part-0.parquet'",
    )
    assert quarantine[0][0] == "csat = 0 is outside 1..5"
    assert json.loads(quarantine[0][1])[0]["column"] == "csat"


def test_rerun_replaces_periods_never_duplicates(tmp_path: Path) -> None:
    sink = ParquetSink(str(tmp_path))
    sink.write(_outputs("r1", 75.0))
    sink.write(_outputs("r2", 80.0, months=(2, 3)))
    rows = _duck(
        tmp_path,
        "select period_start, run_id, count(*) from 'ROOT/metric_values/*/*.parquet' "
        "group by all order by 1",
    )
    assert rows == [
        (date(2026, 1, 1), "r1", 2),  # untouched period keeps the earlier run
        (date(2026, 2, 1), "r2", 2),  # replaced, not duplicated
        (date(2026, 3, 1), "r2", 2),
    ]
    assert sorted(p.name for p in (tmp_path / "_runs").iterdir()) == ["r1.json", "r2.json"]


def test_failure_mid_publish_is_rolled_forward_by_the_next_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = ParquetSink(str(tmp_path))
    sink.write(_outputs("r1", 75.0))
    calls = {"n": 0}
    real_move = sink._move

    def flaky_move(src: str, dest: str) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk went away")
        real_move(src, dest)

    monkeypatch.setattr(sink, "_move", flaky_move)
    with pytest.raises(OutputError, match="rolls the publish forward"):
        sink.write(_outputs("r2", 80.0))
    # Whatever is visible is whole: every file parses, each period from one run only.
    visible = _duck(
        tmp_path,
        "select period_start, count(distinct run_id), count(*) "
        "from 'ROOT/metric_values/*/*.parquet' group by all",
    )
    assert all(runs == 1 and n == 2 for _, runs, n in visible)
    assert not (tmp_path / "_runs" / "r2.json").exists()  # the run did not commit
    monkeypatch.undo()
    rolled = ParquetSink(str(tmp_path)).recover()
    assert len(rolled) == 1
    runs = _duck(tmp_path, "select distinct run_id from 'ROOT/metric_values/*/*.parquet'")
    assert runs == [("r2",)]
    leftovers = [p.name for p in tmp_path.rglob(".*") if p.is_file()]
    assert leftovers == []


def test_unwritable_root_is_an_output_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(OutputError):
        ParquetSink(str(blocker / "out")).write(_outputs("r1", 1.0))
