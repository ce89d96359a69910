"""``process_signal``: XmR centre line and limits, points outside them, runs."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from cxpipe.signals.process import D2, process_signal
from tests.signals import catalog, compute, context, info, month, one, series, values

SCORE = info("score", "0-100", "higher_is_better")
MTTR = info("mttr", "hours", "lower_is_better")


def run(rows: list[dict[str, Any]], **signals: Any) -> pl.DataFrame:
    return compute(
        process_signal, context(values(rows), metrics=catalog(SCORE, MTTR), signals=signals)
    )


def test_limits_from_mean_and_mean_moving_range_and_a_point_outside() -> None:
    out = run(series("mttr", [10, 11, 10, 11, 10, 11, 10, 20]))
    # centre = 93/8 = 11.625; moving ranges 1,1,1,1,1,1,10 → mean 16/7
    centre, mmr = 93 / 8, 16 / 7
    assert out.height == 8  # every point is emitted, so a chart can draw the limits
    for row in out.iter_rows(named=True):
        assert row["reference"] == pytest.approx(centre)
        assert row["lower"] == pytest.approx(centre - 2.66 * mmr)  # 5.545
        assert row["upper"] == pytest.approx(centre + 2.66 * mmr)  # 17.705
    spike = one(out, period_start=month(7))
    assert spike["flagged"]
    assert spike["change"] == pytest.approx(20 - centre)
    assert spike["score"] == pytest.approx((20 - centre) / (mmr / D2))
    assert spike["direction"] == "negative"  # lower is better
    assert spike["detail"] == "outside the limits (above centre)"
    assert out.get_column("flagged").sum() == 1
    quiet = one(out, period_start=month(0))
    assert (quiet["direction"], quiet["detail"]) == ("neutral", None)


def test_a_run_of_eight_on_one_side_is_a_signal_and_seven_is_not() -> None:
    below, above = [1, 3, 1, 3, 1, 3, 1], [7, 9, 7, 9, 7, 9, 7, 9, 7]
    out = run(series("score", below + above))
    # centre 84/16 = 5.25; moving ranges 2 ×6, 6, 2 ×8 → 34/15; limits 5.25 ± 6.03: none out
    assert one(out, period_start=month(0))["upper"] == pytest.approx(5.25 + 2.66 * 34 / 15)
    flags = out.sort("period_start").get_column("flagged").to_list()
    assert flags == [False] * 7 + [True] * 9  # the whole run of 9 above, not the 7 below
    row = one(out, period_start=month(10))
    assert (row["direction"], row["detail"]) == ("positive", "run of 9 above centre")
    # with a run length of 10, neither run is a signal
    assert not run(series("score", below + above), process_run_length=10)["flagged"].any()


def test_a_point_on_the_centre_line_breaks_a_run() -> None:
    # centre (4 · (1 + 3) + 5 + 4 · (7 + 9)) / 17 = 5: the middle point sits on it; moving
    # ranges are all 2, so the limits 5 ± 5.32 hold every point
    points = [1, 3, 1, 3, 1, 3, 1, 3, 5, 7, 9, 7, 9, 7, 9, 7, 9]
    out = run(series("score", points), process_run_length=9)
    assert one(out, period_start=month(8))["change"] == 0
    assert not out.get_column("flagged").any()
    assert run(series("score", points))["flagged"].sum() == 16


def test_short_series_get_no_chart_and_series_are_charted_separately() -> None:
    rows = series("score", [1, 2, 3, 4, 5, 6, 7], client_id="short") + series(
        "score", [5, 6, 5, 6, 5, 6, 5, 6], client_id="steady"
    )
    out = run(rows)
    assert set(out.get_column("client_id")) == {"steady"}
    assert run(rows, process_min_periods=7).get_column("client_id").n_unique() == 2


def test_a_constant_series_has_no_signals_and_no_score() -> None:
    out = run(series("score", [4.0] * 9))
    assert not out.get_column("flagged").any()
    assert out.get_column("score").null_count() == 9
    assert set(out.get_column("upper")) == {4.0}


def test_empty_input_gives_an_empty_result() -> None:
    assert run([]).height == 0
