"""``expectation_gap``: standardised satisfaction minus standardised delivery per client."""

from __future__ import annotations

import math
from datetime import date
from typing import Any

import polars as pl
import pytest

from cxpipe.signals.expectation_gap import expectation_gap
from tests.signals import compute, context, one, values

JAN, FEB = date(2026, 1, 1), date(2026, 2, 1)


def rows(metric: str, start: date, **by_client: float) -> list[dict[str, Any]]:
    return [
        {"metric": metric, "period_start": start, "client_id": client, "value": value}
        for client, value in by_client.items()
    ]


def run(data: list[dict[str, Any]], **signals: Any) -> pl.DataFrame:
    return compute(expectation_gap, context(values(data), signals=signals))


FOUR_CLIENTS = (
    rows("client_experience_rating", JAN, A=80, B=60, C=70, D=50)
    + rows("sla_resolution_compliance_pct", JAN, A=70, B=90, C=80, D=60)
    + rows("projects_on_time_pct", JAN, A=50, B=100, C=75)
    + rows("commitment_kept_ratio", JAN, A=0.1, B=1.0)  # two clients: not standardised
    # rows that must be ignored: all clients, a segment, another metric
    + [
        {"metric": "client_experience_rating", "period_start": JAN, "value": 1.0},
        {
            "metric": "client_experience_rating",
            "period_start": JAN,
            "client_id": "A",
            "segment": "respondent_level=company",
            "value": 0.0,
        },
    ]
    + rows("csat_pct", JAN, A=0, B=100, C=0, D=100)
)


def test_gap_with_four_clients_by_hand() -> None:
    out = run(FOUR_CLIENTS)
    # satisfaction: mean 65, population sd √125 → z A 3/√5, B −1/√5, C 1/√5, D −3/√5
    # SLA: mean 75, sd √125 → z A −1/√5, B 3/√5, C 1/√5, D −3/√5
    # on time (A, B, C): mean 75, sd 25·√(2/3) → z A −√1.5, B √1.5, C 0
    r5, r15 = math.sqrt(5), math.sqrt(1.5)
    expected = {
        "A": (3 / r5, (-1 / r5 - r15) / 2),
        "B": (-1 / r5, (3 / r5 + r15) / 2),
        "C": (1 / r5, (1 / r5 + 0) / 2),
        "D": (-3 / r5, -3 / r5),
    }
    assert sorted(out.get_column("client_id")) == ["A", "B", "C", "D"]
    for client, (sat, delivery) in expected.items():
        row = one(out, client_id=client)
        assert row["value"] == pytest.approx(sat)
        assert row["reference"] == pytest.approx(delivery)
        assert row["change"] == pytest.approx(sat - delivery)
        assert row["score"] == pytest.approx(sat - delivery)
        assert (row["lower"], row["upper"]) == (-1.0, 1.0)
        assert row["metric"] == "client_experience_rating"
        assert row["segment"] is None
    a, b, c, d = (one(out, client_id=x) for x in "ABCD")
    assert a["change"] == pytest.approx(2.17762, abs=1e-5)
    assert (a["flagged"], a["direction"]) == (True, "positive")  # perception ahead
    assert b["change"] == pytest.approx(-1.73041, abs=1e-5)
    assert (b["flagged"], b["direction"]) == (True, "negative")  # perception lags delivery
    assert (c["flagged"], c["direction"]) == (False, "neutral")
    assert (d["change"], d["flagged"]) == (pytest.approx(0.0, abs=1e-12), False)
    assert a["detail"] == (
        "delivery: projects_on_time_pct, sla_resolution_compliance_pct; 4 clients standardised"
    )
    assert d["detail"] == "delivery: sla_resolution_compliance_pct; 4 clients standardised"


def test_threshold_is_configurable() -> None:
    out = run(FOUR_CLIENTS, expectation_gap_threshold=2.0)
    assert out.filter("flagged").get_column("client_id").to_list() == ["A"]
    assert set(out.get_column("upper")) == {2.0}


def test_fewer_than_three_clients_or_no_spread_give_no_rows() -> None:
    two = rows("client_experience_rating", JAN, A=80, B=60) + rows(
        "sla_resolution_compliance_pct", JAN, A=70, B=90
    )
    flat = rows("client_experience_rating", FEB, A=80, B=60, C=70) + rows(
        "sla_resolution_compliance_pct", FEB, A=90, B=90, C=90
    )
    assert run(two + flat).height == 0


def test_periods_are_standardised_separately_and_need_a_delivery_measure() -> None:
    jan = rows("client_experience_rating", JAN, A=1, B=2, C=3) + rows(
        "sla_resolution_compliance_pct", JAN, A=3, B=2, C=1
    )
    feb = rows("client_experience_rating", FEB, A=10, B=20, C=30, D=40) + rows(
        "sla_resolution_compliance_pct", FEB, A=10, B=20, C=30
    )
    out = run(jan + feb)
    assert out.filter(pl.col("period_start") == JAN).height == 3
    # D has satisfaction in February but no delivery measure: no row
    assert sorted(out.filter(pl.col("period_start") == FEB)["client_id"]) == ["A", "B", "C"]
    sd = math.sqrt(2 / 3)  # population sd of 1, 2, 3
    assert one(out, client_id="A", period_start=JAN)["change"] == pytest.approx(-2 / sd)


def test_empty_input_gives_an_empty_result() -> None:
    assert run([]).height == 0
