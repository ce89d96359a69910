"""The example configs map the real exports in ../shared/data by configuration alone.

Each expected figure is computed here independently, with DuckDB straight on the raw
export, or taken from the export's SOURCE.md, never from cxpipe's own code.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

from cxpipe.config import load_config
from cxpipe.run import RunResult, run_pipeline

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"

pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data is not beside the repo")


def _run(example: str, output: Path) -> RunResult:
    return run_pipeline(
        load_config(ROOT / "examples" / example / "cxpipe.toml"), output=str(output)
    )


def _source(result: RunResult, name: str) -> dict[str, Any]:
    return next(s for s in result.manifest["sources"] if s["name"] == name)


def _combined(result: RunResult, metric: str) -> float:
    """Σ numerator ÷ Σ denominator over the all-clients rows: the whole export's figure."""
    rows = result.metric_values.filter(
        (pl.col("metric") == metric) & pl.col("client_id").is_null() & pl.col("segment").is_null()
    )
    return float(rows["numerator"].sum()) / float(rows["denominator"].sum())


def _quarantine(output: Path, entity: str) -> pl.DataFrame:
    return pl.read_parquet(output / "quarantine" / entity / "*" / "*.parquet")


def test_nps_survey_in_two_code_pages(tmp_path: Path) -> None:
    result = _run("nps-garden-centre-benavent", tmp_path)
    source = _source(result, "garden_centre_nps")
    assert (source["rows_read"], source["rows_kept"], source["rows_quarantined"]) == (
        13_954,
        13_954,
        0,
    )
    # SOURCE.md: 8,465 promoters, 1,194 detractors among 13,612 scores: NPS +53.4.
    assert _combined(result, "nps") * 100 == pytest.approx((8_465 - 1_194) / 13_612 * 100)
    assert round(_combined(result, "nps") * 100, 1) == 53.4
    [warning] = source["warnings"]
    assert "17 byte(s) not valid cp1252" in warning
    assert "decoded with fallback cp850" in warning


def test_event_log_folds_every_event_into_its_incident(tmp_path: Path) -> None:
    result = _run("uci-incident-event-log", tmp_path)
    source = _source(result, "servicenow_incidents")
    assert source["events_read"] == 141_712
    assert source["rows_read"] == 24_918
    assert source["rows_kept"] + source["rows_quarantined"] == 24_918
    con = duckdb.connect()
    raw = str(DATA / "uci-incident-event-log" / "incident_event_log.csv.gz")
    # Independent count: incidents whose last event is Critical and that were resolved.
    critical = con.execute(
        f"""
        with last as (
            select number, arg_max(priority, sys_mod_count::int) as priority,
                   arg_max(resolved_at, sys_mod_count::int) as resolved_at
            from read_csv('{raw}', all_varchar = true) group by number)
        select count(*) from last where priority = '1 - Critical' and resolved_at <> '?'
        """
    ).fetchone()
    assert critical is not None
    mttr_rows = result.metric_values.filter(
        (pl.col("metric") == "mttr_critical_hours") & pl.col("client_id").is_null()
    )
    quarantined = _quarantine(tmp_path, "tickets")
    quarantined_critical = quarantined.filter(
        (pl.col("priority") == "critical") & pl.col("resolved_at").is_not_null()
    ).height
    assert mttr_rows["sample_size"].sum() == critical[0] - quarantined_critical
    # The quarantined incidents are real data-quality cases, each with its reason.
    assert quarantined.height == source["rows_quarantined"]
    assert quarantined["quarantine_reason"].str.contains("is before opened_at").all()


def test_support_tickets_quarantine_impossible_durations(tmp_path: Path) -> None:
    result = _run("kaggle-customer-support-tickets", tmp_path)
    tickets = _source(result, "support_tickets")
    assert tickets["rows_read"] == 8_469
    assert tickets["rows_kept"] + tickets["rows_quarantined"] == 8_469
    reasons = _quarantine(tmp_path, "tickets")["quarantine_reason"]
    # SOURCE.md: resolution before first response in 1,365 of the 2,769 closed tickets.
    assert reasons.str.contains("resolved_at .* is before opened_at").sum() == 1_365
    # Open tickets have no first response, so no opening time to count them by.
    assert reasons.str.starts_with("opened_at is null").sum() == 2_819
    ratings = _source(result, "support_csat")
    assert ratings["rows_kept"] == 2_769
    with gzip.open(
        DATA / "kaggle-customer-support-tickets" / "customer_support_tickets.csv.gz"
    ) as f:
        raw = pl.read_csv(f.read(), infer_schema=False)
    scores = raw["Customer Satisfaction Rating"].drop_nulls().cast(pl.Float64)
    assert _combined(result, "csat_pct") == pytest.approx((scores >= 4).sum() / scores.len())


def test_projects_on_time_from_start_plus_duration(tmp_path: Path) -> None:
    result = _run("kitchenham-projects", tmp_path)
    source = _source(result, "kitchenham")
    assert (source["rows_read"], source["rows_kept"], source["rows_quarantined"]) == (145, 141, 4)
    quarantined = _quarantine(tmp_path, "projects").sort("project_id")
    assert quarantined["project_id"].to_list() == ["121", "141", "18", "54"]
    [reason_141] = quarantined.filter(pl.col("project_id") == "141")["quarantine_reason"]
    assert reason_141 == "planned_end (1995-03-03) is before planned_start (1995-06-19)"
    csv = DATA / "kitchenham-projects" / "kitchenham.csv"
    on_time = (
        duckdb.connect()
        .execute(
            f"""
        select count(*) filter (where start + duration <= planned), count(*)
        from (select cast("Actual.start.date" as date) as start,
                     cast("Actual.duration" as integer) as duration,
                     try_cast("Estimated.completion.date" as date) as planned
              from read_csv('{csv}', all_varchar = true))
        where planned is not null and planned >= start
        """
        )
        .fetchone()
    )
    assert on_time == (89, 141)  # SOURCE.md: 53 of 142 late; project 141 excluded
    assert _combined(result, "projects_on_time_pct") == pytest.approx(89 / 141)
