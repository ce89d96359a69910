"""``trend``: change vs the previous period, polarity, band, two-proportion test, gaps."""

from __future__ import annotations

import math
import random
from datetime import date
from statistics import NormalDist
from typing import Any

import polars as pl
import pytest

from cxpipe.signals.trend import trend
from tests.signals import catalog, compute, context, info, month, one, series, values

HIGHER = info("score", "0-100", "higher_is_better")
LOWER = info("hours", "hours", "lower_is_better")
VOLUME = info("volume", "count", "neutral")
SHARE = info("share_pct", "%", "higher_is_better")


def run(rows: list[dict[str, Any]], **signals: Any) -> pl.DataFrame:
    ctx = context(values(rows), metrics=catalog(HIGHER, LOWER, VOLUME, SHARE), signals=signals)
    return compute(trend, ctx)


def test_change_against_the_previous_period_judged_by_polarity() -> None:
    out = run(series("score", [10, 12, 12, 9]) + series("hours", [5, 4, 6]))
    assert out.height == 3 + 2  # the first period of a series has no previous one
    feb = one(out, metric="score", period_start=month(1))
    assert (feb["value"], feb["reference"], feb["change"]) == (12, 10, 2)
    assert (feb["direction"], feb["flagged"], feb["detail"]) == ("positive", False, None)
    mar = one(out, metric="score", period_start=month(2))
    assert (mar["direction"], mar["detail"]) == ("neutral", "change within trend_band ±0")
    apr = one(out, metric="score", period_start=month(3))
    assert (apr["change"], apr["direction"], apr["flagged"]) == (-3, "negative", True)
    # lower is better: fewer hours is positive, more is negative
    assert one(out, metric="hours", period_start=month(1))["direction"] == "positive"
    assert one(out, metric="hours", period_start=month(2))["direction"] == "negative"
    assert out.get_column("score").null_count() == out.height  # no test for non-proportions


def test_neutral_polarity_and_unknown_metrics_are_always_neutral() -> None:
    out = run(series("volume", [10, 30, 5]) + series("not_in_catalog", [1, 9]))
    assert set(out.get_column("direction")) == {"neutral"}
    assert not out.get_column("flagged").any()
    assert set(out.get_column("detail")) == {"metric has neutral polarity"}
    assert one(out, metric="volume", period_start=month(1))["change"] == 20


def test_band_makes_small_changes_neutral() -> None:
    out = run(series("score", [10, 12, 9.5, 6.5]), trend_band=2.5)
    assert one(out, period_start=month(1))["direction"] == "neutral"  # +2
    assert one(out, period_start=month(2))["direction"] == "neutral"  # −2.5, on the band
    assert one(out, period_start=month(3))["direction"] == "negative"  # −3


def test_a_gap_in_the_series_means_no_trend_row() -> None:
    out = run(series("score", [10, 12, None, 15, 16]))
    assert out.get_column("period_start").to_list() == [month(1), month(4)]
    assert one(out, period_start=month(4))["reference"] == 15


def test_series_are_kept_apart_by_client_and_segment() -> None:
    rows = (
        series("score", [10, 20])
        + series("score", [50, 40], client_id="A")
        + series("score", [7, 7], client_id="A", segment="kind=x")
    )
    out = run(rows)
    assert one(out, client_id=None, segment=None)["change"] == 10
    assert one(out, client_id="A", segment=None)["change"] == -10
    assert one(out, client_id="A", segment="kind=x")["change"] == 0


def share(n: float, d: float, i: int) -> dict[str, Any]:
    return {
        "metric": "share_pct",
        "period_start": month(i),
        "value": n / d * 100,
        "numerator": n,
        "denominator": d,
    }


def test_two_proportion_test_with_a_hand_computed_z() -> None:
    # 40/100 → 55/100: pooled p = 95/200 = 0.475,
    # se = √(0.475 · 0.525 · (1/100 + 1/100)) = √0.0049875 = 0.0706222, z = 0.15 / se = 2.12398
    rows = [share(40, 100, 0), share(55, 100, 1)]
    out = run(rows)
    row = one(out, period_start=month(1))
    assert row["score"] == pytest.approx(0.15 / math.sqrt(0.0049875))
    assert row["score"] == pytest.approx(2.12398, abs=1e-5)
    assert row["change"] == pytest.approx(15.0)
    assert (row["direction"], row["detail"]) == ("positive", None)  # 2.124 > 1.960
    strict = one(run(rows, trend_alpha=0.01), period_start=month(1))  # 2.124 < 2.576
    assert strict["direction"] == "neutral"
    assert strict["detail"] == "not significant at 99 % (two-proportion z-test)"


def test_proportion_changes_that_are_not_significant_are_neutral() -> None:
    # 40/100 → 45/100: z = 0.05 / √(0.425 · 0.575 · 0.02) = 0.7152
    out = run([share(40, 100, 0), share(45, 100, 1), share(90, 200, 2)])
    feb = one(out, period_start=month(1))
    assert feb["score"] == pytest.approx(0.05 / math.sqrt(0.425 * 0.575 * 0.02))
    assert feb["direction"] == "neutral"
    assert feb["detail"] == "not significant at 95 % (two-proportion z-test)"
    # equal shares: no change, neutral by the band before any test
    assert one(out, period_start=month(2))["direction"] == "neutral"


def test_proportions_without_counts_or_at_0_and_100_are_judged_by_the_band() -> None:
    no_counts = [{**share(40, 100, 0), "numerator": None}, share(55, 100, 1)]
    row = one(run(no_counts), period_start=month(1))
    assert (row["score"], row["direction"]) == (None, "positive")
    # pooled share 0 (0/10 → 0/20): nothing to test, no z, and the change is 0
    row = one(run([share(0, 10, 0), share(0, 20, 1)]), period_start=month(1))
    assert (row["score"], row["direction"]) == (None, "neutral")


@pytest.mark.parametrize(
    ("grain", "starts", "rows_expected"),
    [
        ("quarter", [date(2024, 10, 1), date(2025, 1, 1), date(2025, 7, 1)], [date(2025, 1, 1)]),
        (
            "year",
            [date(2023, 1, 1), date(2024, 1, 1), date(2025, 1, 1)],
            [date(2024, 1, 1), date(2025, 1, 1)],
        ),
        (
            "week",
            [date(2024, 12, 23), date(2024, 12, 30), date(2025, 1, 6), date(2025, 1, 20)],
            [date(2024, 12, 30), date(2025, 1, 6)],
        ),
        ("month", [date(2024, 12, 1), date(2025, 1, 1), date(2025, 3, 1)], [date(2025, 1, 1)]),
    ],
)
def test_previous_period_follows_the_grain(
    grain: str, starts: list[date], rows_expected: list[date]
) -> None:
    rows = [
        {"metric": "score", "period_grain": grain, "period_start": s, "value": float(i)}
        for i, s in enumerate(starts)
    ]
    out = run(rows)
    assert sorted(out.get_column("period_start").to_list()) == rows_expected
    assert set(out.get_column("period_grain")) == {grain}


def test_empty_input_gives_an_empty_result() -> None:
    assert run([]).height == 0


def reference_trend(rows: list[dict[str, Any]], alpha: float) -> dict[tuple[Any, ...], str]:
    """A row-by-row reimplementation, to check the vectorised one on random data."""
    z_crit = NormalDist().inv_cdf(1 - alpha / 2)
    by_key = {(r["metric"], r["client_id"], r["period_start"]): r for r in rows}
    out = {}
    for (metric, client, start), r in by_key.items():
        prev_start = month(-1, start)
        p = by_key.get((metric, client, prev_start))
        if p is None:
            continue
        change = r["value"] - p["value"]
        direction = "positive" if change > 0 else "negative" if change < 0 else "neutral"
        n1, d1, n2, d2 = p["numerator"], p["denominator"], r["numerator"], r["denominator"]
        pooled = (n1 + n2) / (d1 + d2)
        se = math.sqrt(pooled * (1 - pooled) * (1 / d1 + 1 / d2))
        if change == 0 or se == 0 or abs((n2 / d2 - n1 / d1) / se) <= z_crit:
            direction = "neutral"
        out[(metric, client, start)] = direction
    return out


def test_vectorised_trend_matches_a_row_by_row_reference() -> None:
    rng = random.Random(5)
    rows = []
    for client in (None, "A", "B", "C"):
        for i in range(30):
            if rng.random() < 0.15:
                continue  # gaps
            d = rng.randint(5, 200)
            n = rng.randint(0, d)
            rows.append({**share(n, d, i), "client_id": client})
    rng.shuffle(rows)  # the signal must not rely on input order
    out = run(rows)
    got = {
        (r["metric"], r["client_id"], r["period_start"]): r["direction"]
        for r in out.iter_rows(named=True)
    }
    assert got == reference_trend(rows, 0.05)
    assert len(got) > 60
