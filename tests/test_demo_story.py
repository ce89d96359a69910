"""The demo tells its story: each effect planted in the demo data shows where it should.

One full-size demo run (what `make demo` produces), then one test per planted effect,
reading the Parquet outputs as a BI tool would.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from cxpipe.demo.config import demo_config
from cxpipe.demo.generator import (
    CHURN_CLIENT,
    CHURN_END,
    DECLINE_CLIENT,
    DECLINE_MONTHS,
    PERCEPTION_CLIENT,
    SPIKE_MONTH,
    write_demo_files,
)
from cxpipe.run import run_pipeline

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def output(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("story-data")
    root = tmp_path_factory.mktemp("story-output")
    write_demo_files(data)  # the default size: what `make demo` runs on
    run_pipeline(demo_config(data, str(root)))
    return root


def _read(root: Path, table: str) -> pl.DataFrame:
    pattern = "*/*.parquet" if table == "metric_values" else "*.parquet"
    return pl.read_parquet(root / table / pattern)


def _month(text: str) -> date:
    year, month = map(int, text.split("-"))
    return date(year, month, 1)


def test_good_delivery_poor_perception_is_an_expectation_gap(output: Path) -> None:
    gaps = _read(output, "signals").filter(pl.col("signal") == "expectation_gap")
    ours = gaps.filter(pl.col("client_id") == PERCEPTION_CLIENT)
    # Flagged in every month, always perception below delivery ...
    assert ours.height == 24
    assert ours["flagged"].all()
    assert (ours["change"] < 0).all()
    # ... and no other client (but the churned one, whose satisfaction was planted to
    # fall) is flagged that way in more than a third of its months.
    others = (
        gaps.filter(~pl.col("client_id").is_in([PERCEPTION_CLIENT, CHURN_CLIENT]))
        .group_by("client_id")
        .agg(share=(pl.col("flagged") & (pl.col("change") < 0)).mean())
    )
    assert others["share"].max() < 1 / 3  # type: ignore[operator]


def test_the_perception_client_gets_partnership_and_communication_actions(output: Path) -> None:
    plan = _read(output, "action_plan").filter(pl.col("client_id") == PERCEPTION_CLIENT)
    rules = set(plan["rule"].to_list())
    assert "partnership.expectation_gap" in rules
    assert "communication.cx_communication_below_target" in rules
    assert plan.filter(pl.col("rule") == "partnership.expectation_gap").height == 24


def test_the_critical_spike_month_is_an_anomaly_and_a_process_signal(output: Path) -> None:
    critical = _read(output, "signals").filter(
        (pl.col("metric") == "ticket_volume")
        & (pl.col("segment") == "priority=critical")
        & pl.col("client_id").is_null()
    )
    spike = _month(SPIKE_MONTH)
    anomalies = critical.filter((pl.col("signal") == "anomaly") & pl.col("flagged"))
    top = anomalies.sort("score", descending=True).row(0, named=True)
    assert top["period_start"] == spike
    assert top["value"] > 3 * top["reference"]  # about four times the usual month
    process = critical.filter(
        (pl.col("signal") == "process_signal") & (pl.col("period_start") == spike)
    ).row(0, named=True)
    assert process["flagged"]
    assert process["value"] > process["upper"]  # outside the natural process limits


def test_the_churned_client_lowers_retention_in_its_last_month(output: Path) -> None:
    retention = _read(output, "metric_values").filter(
        pl.col("metric") == "client_retention_rate_pct"
    )
    below = retention.filter(pl.col("value") < 100)
    assert below["period_start"].to_list() == [CHURN_END.replace(day=1)]
    assert below["value"].item() == pytest.approx(11 / 12 * 100)
    # Its satisfaction fell before it left: the last months before the end are flagged
    # negative expectation gaps while delivery held.
    gaps = _read(output, "signals").filter(
        (pl.col("signal") == "expectation_gap") & (pl.col("client_id") == CHURN_CLIENT)
    )
    late = gaps.filter(pl.col("period_start") >= date(2026, 1, 1))
    assert (late["change"] < 0).all()


def test_it_rates_its_communication_well_above_its_clients(output: Path) -> None:
    gap = _read(output, "metric_values").filter(
        (pl.col("metric") == "perception_gap")
        & pl.col("client_id").is_null()
        & (pl.col("segment") == "proxy=communication")
    )
    assert gap.height > 0
    assert 12 <= gap["value"].mean() <= 22  # type: ignore[operator]
    plan = _read(output, "action_plan")
    assert plan.filter(pl.col("rule") == "communication.perception_gap_above_target").height > 0


def test_the_communication_decline_is_a_run_of_negative_trends(output: Path) -> None:
    first, last = (_month(m) for m in DECLINE_MONTHS)
    trends = _read(output, "signals").filter(
        (pl.col("signal") == "trend")
        & (pl.col("metric") == "cx_communication")
        & (pl.col("client_id") == DECLINE_CLIENT)
        & pl.col("period_start").is_between(first, last)
    )
    negative = trends.filter(pl.col("direction") == "negative")
    assert negative.height >= 4  # most of the six declining months
    values = _read(output, "metric_values").filter(
        (pl.col("metric") == "cx_communication") & (pl.col("client_id") == DECLINE_CLIENT)
    )
    start = values.filter(pl.col("period_start") == first)["value"].item()
    end = values.filter(pl.col("period_start") == last)["value"].item()
    assert end < start - 20
