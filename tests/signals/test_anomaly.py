"""``anomaly``: robust z against the trailing window, the MAD = 0 fallbacks, gaps."""

from __future__ import annotations

import random
import statistics
from typing import Any

import polars as pl
import pytest

from cxpipe.signals.anomaly import MAD_FACTOR, MEAN_AD_FACTOR, anomaly, min_history
from tests.signals import catalog, compute, context, info, month, one, series, values

MTTR = info("mttr", "hours", "lower_is_better")
SCORE = info("score", "0-100", "higher_is_better")
BASE = [10, 11, 9, 10, 12, 10, 11, 9, 10, 11, 10, 12]


def run(rows: list[dict[str, Any]], **signals: Any) -> pl.DataFrame:
    return compute(anomaly, context(values(rows), metrics=catalog(MTTR, SCORE), signals=signals))


def test_a_planted_spike_is_flagged_with_a_hand_computed_score() -> None:
    out = run(series("mttr", [*BASE, 30]))
    # the default window is 12 and a point needs 6 of them: periods 6..12 are scored
    assert sorted(out.get_column("period_start")) == [month(i) for i in range(6, 13)]
    spike = one(out, period_start=month(12))
    # trailing 12: median of 9,9,10,10,10,10,10,11,11,11,12,12 = 10; |deviations| sorted
    # 0,0,0,0,0,1,1,1,1,1,2,2 → MAD 1; z = 0.6745 · (30 − 10) / 1
    assert spike["reference"] == 10
    assert spike["change"] == 20
    assert spike["score"] == pytest.approx(0.6745 * 20)
    assert spike["lower"] == pytest.approx(10 - 3.5 / 0.6745)
    assert spike["upper"] == pytest.approx(10 + 3.5 / 0.6745)
    assert (spike["flagged"], spike["direction"]) == (True, "negative")  # more hours is worse
    assert spike["detail"] == "12 trailing periods"
    before = one(out, period_start=month(11))  # 12 against 11 points: median 10, MAD 1
    assert before["score"] == pytest.approx(0.6745 * 2)
    assert (before["flagged"], before["direction"]) == (False, "neutral")
    assert out.get_column("flagged").sum() == 1


def test_direction_follows_polarity_and_the_threshold_is_configurable() -> None:
    out = run(series("score", [*BASE, 30]))
    assert one(out, period_start=month(12))["direction"] == "positive"
    relaxed = run(series("score", [*BASE, 30]), anomaly_threshold=14.0)
    assert not relaxed.get_column("flagged").any()


def test_the_window_excludes_the_current_point_and_older_periods() -> None:
    # window 3: at period 3 the window is [100, 1, 2] (median 2, |dev| 98, 1, 0 → MAD 1);
    # at period 4 it is [1, 2, 3]: the 100 has left the window
    out = run(series("score", [100, 1, 2, 3, 2]), anomaly_window=3)
    p3 = one(out, period_start=month(3))
    assert (p3["reference"], p3["score"]) == (2, pytest.approx(MAD_FACTOR * 1 / 1))
    p4 = one(out, period_start=month(4))
    assert (p4["reference"], p4["score"]) == (2, 0)
    assert p4["detail"] == "3 trailing periods"


def test_mad_is_taken_around_each_windows_own_median() -> None:
    # window 4 at period 4: [1, 2, 3, 10] → median 2.5, |dev| 1.5, 0.5, 0.5, 7.5 → MAD 1.0
    out = run(series("score", [1, 2, 3, 10, 6]), anomaly_window=4)
    row = one(out, period_start=month(4))
    assert row["reference"] == 2.5
    assert row["score"] == pytest.approx(MAD_FACTOR * 3.5 / 1.0)


def test_mad_zero_falls_back_to_the_mean_absolute_deviation() -> None:
    # window [5, 5, 5, 9]: median 5, MAD 0, mean |dev| 1 → z = (10 − 5) / 1.253314 = 3.99
    out = run(series("score", [5, 5, 5, 9, 10]), anomaly_window=4)
    row = one(out, period_start=month(4))
    assert row["score"] == pytest.approx(5 / MEAN_AD_FACTOR)
    assert row["flagged"]
    assert row["detail"] == "4 trailing periods; MAD is 0, mean absolute deviation used"


def test_a_constant_window_flags_any_change_without_a_score() -> None:
    out = run(series("score", [5, 5, 5, 6, 5]), anomaly_window=3)
    changed = one(out, period_start=month(3))
    assert (changed["score"], changed["flagged"]) == (None, True)
    assert (changed["lower"], changed["upper"]) == (5, 5)
    assert changed["detail"].endswith("constant window, any change is an anomaly")
    # period 4: window [5, 5, 6] → median 5, MAD 0, mean |dev| 1/3; x = 5 → z = 0
    same = one(out, period_start=month(4))
    assert (same["score"], same["flagged"]) == (0, False)


def test_gaps_leave_fewer_observations_in_the_calendar_window() -> None:
    assert (min_history(3), min_history(4), min_history(12)) == (3, 3, 6)
    points: list[float | None] = [1, 2, 3, 4, None, 5, 6]
    # window 3: period 5's window is periods 2..4, of which only 2 and 3 exist: too few
    out = run(series("score", points), anomaly_window=3)
    assert sorted(out.get_column("period_start")) == [month(3)]
    # window 4: period 5 sees periods 1..4 (three observations), period 6 sees 2..5
    out = run(series("score", points), anomaly_window=4)
    assert sorted(out.get_column("period_start")) == [month(3), month(5), month(6)]
    assert one(out, period_start=month(5))["detail"] == "3 trailing periods"
    assert one(out, period_start=month(5))["reference"] == 3


def test_empty_input_gives_an_empty_result() -> None:
    assert run([]).height == 0


def reference(points: list[float | None], window: int, threshold: float) -> dict[int, bool]:
    """Row-by-row robust z, to check the vectorised rolling computation."""
    out = {}
    for i, x in enumerate(points):
        history = [p for p in points[max(0, i - window) : i] if p is not None]
        if x is None or len(history) < min_history(window):
            continue
        med = statistics.median(history)
        mad = statistics.median(abs(h - med) for h in history)
        mean_ad = statistics.fmean(abs(h - med) for h in history)
        if mad > 0:
            out[i] = abs(MAD_FACTOR * (x - med) / mad) > threshold
        elif mean_ad > 0:
            out[i] = abs((x - med) / (MEAN_AD_FACTOR * mean_ad)) > threshold
        else:
            out[i] = x != med
    return out


def test_vectorised_scores_match_a_row_by_row_reference() -> None:
    rng = random.Random(11)
    rows, expected = [], {}
    for client in (None, "A", "B"):
        points: list[float | None] = [
            None if rng.random() < 0.1 else float(rng.choice([rng.randint(0, 6), 40]))
            for _ in range(36)
        ]
        rows += series("score", points, client_id=client)
        for i, flag in reference(points, 8, 2.0).items():
            expected[(client, month(i))] = flag
    out = run(rows, anomaly_window=8, anomaly_threshold=2.0)
    got = {(r["client_id"], r["period_start"]): r["flagged"] for r in out.iter_rows(named=True)}
    assert got == expected
    assert any(expected.values())
    assert not all(expected.values())
