"""``benchmark``: the shipped table, the signal rows, a user table and its errors."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from cxpipe.errors import ConfigError
from cxpipe.metrics.builtin import CORE_METRICS
from cxpipe.signals.benchmark import BENCHMARK_COLUMNS, benchmark, load_benchmarks
from tests.signals import catalog, compute, context, info, one, values

JAN = date(2026, 1, 1)
CORE_CATALOG = {i.name: i for spec in CORE_METRICS for i in spec.emits}


def mv(metric: str, value: float, client: str | None = None, segment: str | None = None) -> Any:
    return {
        "metric": metric,
        "period_start": JAN,
        "client_id": client,
        "segment": segment,
        "value": value,
    }


def test_the_shipped_table_holds_the_cited_figures() -> None:
    table = load_benchmarks()
    assert table.columns == list(BENCHMARK_COLUMNS)
    rows = {r["benchmark"]: r for r in table.iter_rows(named=True)}
    figures = {name: (r["metric"], r["value"], r["year"]) for name, r in rows.items()}
    assert figures == {
        "happysignals_incidents_2019": ("nps", 67.0, 2019),
        "happysignals_requests_2019": (None, 76.0, 2019),
        "metricnet_first_contact_resolution": ("one_touch_resolution_pct", 67.0, None),
        "pmi_pulse_2017_original_goals": ("success_criteria_rate_pct", 69.0, 2017),
        "pmi_pulse_2017_within_budget": ("projects_on_budget_pct", 57.0, 2017),
    }
    for row in rows.values():
        for column in ("source", "url", "definition", "caveat", "unit"):
            assert row[column], (row["benchmark"], column)


def test_shipped_mappings_name_core_metrics_in_their_unit() -> None:
    for row in load_benchmarks().filter(pl.col("metric").is_not_null()).iter_rows(named=True):
        assert row["metric"] in CORE_CATALOG, row["metric"]
        assert row["unit"] == CORE_CATALOG[row["metric"]].unit, row["metric"]


def test_values_against_the_shipped_benchmark() -> None:
    data = values(
        [
            mv("nps", 50, "A"),
            mv("nps", 70),
            mv("nps", 90, "A", "respondent_level=company"),  # no benchmark for a segment
            mv("one_touch_resolution_pct", 67, "A"),
            mv("csat_pct", 80, "A"),  # no benchmark
        ]
    )
    out = compute(benchmark, context(data, metrics=CORE_CATALOG))
    assert out.height == 3
    a = one(out, metric="nps", client_id="A")
    assert (a["value"], a["reference"], a["change"]) == (50, 67, -17)
    assert (a["direction"], a["flagged"]) == ("negative", True)
    assert (
        a["detail"]
        == "HappySignals, Happiness Score: The ITSM Benchmark Q4/2019 (IT incidents) (2019)"
    )
    assert (a["score"], a["lower"], a["upper"]) == (None, None, None)
    everyone = one(out, metric="nps", client_id=None)
    assert (everyone["change"], everyone["direction"]) == (3, "positive")
    fcr = one(out, metric="one_touch_resolution_pct")
    assert (fcr["direction"], fcr["flagged"]) == ("neutral", False)
    shipped = load_benchmarks().filter(pl.col("metric") == "one_touch_resolution_pct")
    assert fcr["detail"] == shipped["source"][0]  # no year: the source alone


USER_TABLE = """benchmark,metric,segment,value,p25,p50,p75,unit,year,source
ours_csat,csat_pct,,80,70,80,90,%,2024,Our survey panel
ours_support,ticket_volume,request_type=support,100,,,,count,,Capacity plan
"""


def write(tmp_path: Path, text: str, name: str = "bench.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def run_with(tmp_path: Path, setting: str, rows: list[dict[str, Any]]) -> pl.DataFrame:
    metrics = catalog(info("csat_pct", "%"), info("ticket_volume", "count", "neutral"))
    ctx = context(values(rows), metrics=metrics, signals={"benchmarks": setting}, base_dir=tmp_path)
    return compute(benchmark, ctx)


def test_a_user_table_replaces_the_shipped_one(tmp_path: Path) -> None:
    (tmp_path / "tables").mkdir()
    write(tmp_path, USER_TABLE, "tables/bench.csv")
    rows = [
        mv("csat_pct", 65, "A"),
        mv("csat_pct", 75, "B"),
        mv("csat_pct", 85, "C"),
        mv("csat_pct", 95, "D"),
        mv("nps", 10, "A"),  # the shipped nps benchmark is gone
        mv("ticket_volume", 120, None, "request_type=support"),
        mv("ticket_volume", 500),  # the benchmark is for the support segment only
    ]
    out = run_with(tmp_path, "tables/bench.csv", rows)  # relative to the config's folder
    assert set(out["metric"]) == {"csat_pct", "ticket_volume"}
    quartiles = {
        r["client_id"]: r["score"]
        for r in out.filter(pl.col("metric") == "csat_pct").iter_rows(named=True)
    }
    assert quartiles == {"A": 1, "B": 2, "C": 3, "D": 4}
    c = one(out, client_id="C", metric="csat_pct")
    assert (c["lower"], c["upper"], c["reference"], c["detail"]) == (
        70,
        90,
        80,
        "Our survey panel (2024)",
    )
    volume = one(out, metric="ticket_volume")
    assert (volume["segment"], volume["change"]) == ("request_type=support", 20)
    assert (volume["direction"], volume["detail"]) == ("neutral", "Capacity plan")


def test_an_absolute_user_path_is_used_as_is(tmp_path: Path) -> None:
    path = write(tmp_path, USER_TABLE)
    out = run_with(tmp_path / "elsewhere", str(path), [mv("csat_pct", 60)])
    assert one(out)["change"] == -20


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "benchmark,metric,source\nx,nps,S\n",
            r"missing column\(s\) value; the columns are: benchmark, metric",
        ),
        ("benchmark,metric,valeu,value,source\nx,nps,1,1,S\n", r"unknown column\(s\) valeu"),
        (
            "benchmark,metric,value,source\nx,nps,1,S\ny,csat_pct,abc,S\n",
            r"column 'value' on line 3: 'abc' is not a number",
        ),
        (
            "benchmark,metric,value,year,source\nx,nps,1,2019.5,S\n",
            r"column 'year' on line 2: '2019.5' is not a whole number",
        ),
        ("benchmark,metric,value,source\nx,nps,1,\n", r"column 'source' is empty on line 2"),
        (
            "benchmark,metric,value,source\nx,nps,1,S\ny,nps,2,T\n",
            r"column 'metric': nps has more than one benchmark \(lines 2, 3\)",
        ),
    ],
)
def test_a_bad_user_table_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as raised:
        run_with(tmp_path, "bench.csv", [mv("nps", 1)])
    assert str(path) in str(raised.value)


def test_a_missing_user_table_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"nope\.csv does not exist \(set by \[signals\]\.benchmarks"
    ):
        run_with(tmp_path, "nope.csv", [])


def test_empty_input_gives_an_empty_result() -> None:
    assert compute(benchmark, context(values([]))).height == 0
