"""Relationship metrics against hand-computed fixtures (expected numbers worked out in comments)."""

from __future__ import annotations

import polars as pl

from cxpipe.metrics.base import ElapsedClock, Grain, MetricContext
from cxpipe.metrics.builtin.clients import client_retention_rate_pct, detractor_followup_rate_pct

from .fixtures import clients, d, expect, followups, responses, run, ts

CLIENTS = clients(
    # A: a client throughout.
    {"client_id": "A", "relationship_start": d("2023-01-01"), "relationship_end": None},
    # B: active on 1 Jan 2024, leaves 15 Jan.
    {"client_id": "B", "relationship_start": d("2023-06-01"), "relationship_end": d("2024-01-15")},
    # C: starts on 1 Jan 2024 (not *before* January: new in January), leaves 20 March.
    {"client_id": "C", "relationship_start": d("2024-01-01"), "relationship_end": d("2024-03-20")},
    # D: leaves on 29 Feb, the last day of February (ended by February's end).
    {"client_id": "D", "relationship_start": d("2023-01-01"), "relationship_end": d("2024-02-29")},
    # E: a one-day client on 1 March: never active at any period's start.
    {"client_id": "E", "relationship_start": d("2024-03-01"), "relationship_end": d("2024-03-01")},
    # F: from June 2022 to the last day of 2023.
    {"client_id": "F", "relationship_start": d("2022-06-01"), "relationship_end": d("2023-12-31")},
)
R = "client_retention_rate_pct"
Q1 = (d("2024-01-01"), d("2024-03-31"))


def test_retention_by_month_in_window() -> None:
    # January: active at 1 Jan = A, B, D (C starts on it; F ended the day before).
    #   Still active after 31 Jan: A, D → 2/3.
    # February: active at 1 Feb = A, C, D (B ended 15 Jan). D ends 29 Feb → not retained.
    #   A, C → 2/3.
    # March: active at 1 Mar = A, C (D ended 29 Feb; E starts on 1 Mar). C ends 20 Mar → 1/2.
    # Only all-clients rows (client_id null).
    expect(
        run(client_retention_rate_pct, {"clients": CLIENTS}, window=Q1),
        {
            (R, d("2024-01-01"), None, None): (2 / 3 * 100, 2.0, 3.0, 3),
            (R, d("2024-02-01"), None, None): (2 / 3 * 100, 2.0, 3.0, 3),
            (R, d("2024-03-01"), None, None): (50.0, 1.0, 2.0, 2),
        },
    )


def test_retention_by_quarter() -> None:
    # Q1 2024: active at 1 Jan = A, B, D; still active after 31 Mar: A only → 1/3.
    expect(
        run(client_retention_rate_pct, {"clients": CLIENTS}, window=Q1, grain="quarter"),
        {(R, d("2024-01-01"), None, None): (100 / 3, 1.0, 3.0, 3)},
    )


def test_retention_by_week_window_touching_partial_weeks() -> None:
    # Window Wed 10 Jan – Wed 17 Jan touches the weeks of Mon 8 Jan and Mon 15 Jan.
    # Week of 8 Jan: active at its start = A, B, C, D; all still active after Sun 14 Jan
    #   → 4/4. Week of 15 Jan: A, B, C, D active at the start (B's end is the 15th, not
    #   before it); B ends in the week → 3/4.
    result = run(
        client_retention_rate_pct,
        {"clients": CLIENTS},
        window=(d("2024-01-10"), d("2024-01-17")),
        grain="week",
    )
    expect(
        result,
        {
            (R, d("2024-01-08"), None, None): (100.0, 4.0, 4.0, 4),
            (R, d("2024-01-15"), None, None): (75.0, 3.0, 4.0, 4),
        },
    )


def test_periods_without_active_clients_emit_nothing() -> None:
    # In 2022 only F exists, from 1 June: nobody is active at the start of January to June
    # (F starts *on* 1 June), so those months emit no row; July to December are 1/1.
    result = run(
        client_retention_rate_pct,
        {"clients": CLIENTS},
        window=(d("2022-01-01"), d("2022-12-31")),
    )
    expect(
        result,
        {(R, d(f"2022-{m:02d}-01"), None, None): (100.0, 1.0, 1.0, 1) for m in range(7, 13)},
    )


def test_without_window_the_clients_own_span_is_used() -> None:
    # Span: earliest start 1 Jun 2022 to the latest date, C's end on 20 Mar 2024 → months
    # June 2022 … March 2024. June 2022 has nobody active at its start; July 2022 …
    # March 2024 is 21 months. January 2024 matches the windowed run.
    result = run(client_retention_rate_pct, {"clients": CLIENTS})
    assert result.height == 21
    assert result["period_start"].min() == d("2022-07-01")
    assert result["period_start"].max() == d("2024-03-01")
    assert result["client_id"].null_count() == 21
    # December 2023: active at 1 Dec = A, B, D, F; F ends on 31 Dec (not after it) → 3/4.
    dec = result.filter(pl.col("period_start") == d("2023-12-01"))
    assert dec.select("value", "numerator", "denominator", "sample_size").row(0) == (
        75.0,
        3.0,
        4.0,
        4,
    )
    jan = result.filter(pl.col("period_start") == d("2024-01-01"))
    assert jan["value"].to_list() == [2 / 3 * 100]


# --- detractor_followup_rate_pct ---------------------------------------------------------

F = "detractor_followup_rate_pct"
JUN, JUL = d("2024-06-01"), d("2024-07-01")
DETRACTORS = responses(
    # r0 A, Mon 3 June 10:00, NPS 3: called back the next morning (due 5 June 10:00) → hit.
    {"client_id": "A", "submitted_at": ts("2024-06-03 10:00"), "nps_score": 3},
    # r1 A, NPS 9 but CSAT 2: a detractor; called back exactly at the deadline → hit.
    {"client_id": "A", "submitted_at": ts("2024-06-04 10:00"), "nps_score": 9, "csat": 2},
    # r2 A, NPS 6: called back one microsecond after the deadline, and again later → miss.
    {"client_id": "A", "submitted_at": ts("2024-06-05 10:00"), "nps_score": 6},
    # r3 A, NPS 0: never called back → miss.
    {"client_id": "A", "submitted_at": ts("2024-06-05 11:00"), "nps_score": 0},
    # r4 A, NPS 7 and CSAT 3: not a detractor (its call-back does not count anywhere).
    {"client_id": "A", "submitted_at": ts("2024-06-05 12:00"), "nps_score": 7, "csat": 3},
    # r5 A, no score at all: not a detractor.
    {"client_id": "A", "submitted_at": ts("2024-06-05 13:00")},
    # r6 A, IT's own low score: not a client's voice.
    {"client_id": "A", "submitted_at": ts("2024-06-05 14:00"), "nps_score": 0,
     "respondent_side": "it", "survey_kind": "self_assessment"},
    # r7 B, Fri 28 June 10:00, CSAT 1: called back Mon 1 July 09:00. Elapsed: 71 h > 48 h →
    #   miss. Two business days (Mon, Tue) end Tue 2 July 10:00 → hit on a business clock.
    {"client_id": "B", "submitted_at": ts("2024-06-28 10:00"), "csat": 1},
    # r8 B, Mon 1 July, NPS 2: a late call and an early one; the earliest counts → hit.
    {"client_id": "B", "submitted_at": ts("2024-07-01 08:00"), "nps_score": 2},
    # r9 A, NPS 5: the call-back is recorded an hour before the response → still in time.
    {"client_id": "A", "submitted_at": ts("2024-06-10 10:00"), "nps_score": 5},
)  # fmt: skip
CALLS = followups(
    {"response_id": "r0", "followed_up_at": ts("2024-06-04 09:00")},
    {"response_id": "r1", "followed_up_at": ts("2024-06-06 10:00")},
    {"response_id": "r2", "followed_up_at": ts("2024-06-07 10:00:00.000001")},
    {"response_id": "r2", "followed_up_at": ts("2024-06-10 10:00")},
    {"response_id": "r4", "followed_up_at": ts("2024-06-05 13:00")},
    {"response_id": "r6", "followed_up_at": ts("2024-06-05 15:00")},
    {"response_id": "r7", "followed_up_at": ts("2024-07-01 09:00")},
    {"response_id": "r8", "followed_up_at": ts("2024-07-20 09:00")},
    {"response_id": "r8", "followed_up_at": ts("2024-07-01 12:00")},
    {"response_id": "r9", "followed_up_at": ts("2024-06-10 09:00")},
    {"response_id": "nobody", "followed_up_at": ts("2024-06-10 09:00")},
)
FRAMES = {"survey_responses": DETRACTORS, "followups": CALLS}


def test_detractor_followup_rate_default_window() -> None:
    # Default window: 2 business days, days × 24 h on the default elapsed clock.
    # June — A: detractors r0, r1, r2, r3, r9; in time r0, r1, r9 → 3/5 = 60 %.
    #   B: r7 → 0/1 (a real 0). All: 3/6 = 50 %.
    # July — B: r8 → 1/1. All: 1/1.
    expect(
        run(detractor_followup_rate_pct, FRAMES),
        {
            (F, JUN, "A", None): (60.0, 3.0, 5.0, 5),
            (F, JUN, "B", None): (0.0, 0.0, 1.0, 1),
            (F, JUN, None, None): (50.0, 3.0, 6.0, 6),
            (F, JUL, "B", None): (100.0, 1.0, 1.0, 1),
            (F, JUL, None, None): (100.0, 1.0, 1.0, 1),
        },
    )


def test_detractor_followup_rate_configured_window() -> None:
    # Three days: r2's call (2 days + 1 µs) and r7's (71 h) are now in time; r3 still never.
    # A: 4/5 = 80 %. B June: 1/1. All June: 5/6.
    result = run(detractor_followup_rate_pct, FRAMES, settings={"followup_window_business_days": 3})
    expect(
        result.filter(pl.col("period_start") == JUN),
        {
            (F, JUN, "A", None): (80.0, 4.0, 5.0, 5),
            (F, JUN, "B", None): (100.0, 1.0, 1.0, 1),
            (F, JUN, None, None): (500 / 6, 5.0, 6.0, 6),
        },
    )


class WeekdayClock(ElapsedClock):
    """A stand-in business clock: ``days`` whole weekdays later, at the same time of day."""

    unit = "business hours"

    def with_deadline_days(
        self, frame: pl.LazyFrame, start: str, days: float, name: str
    ) -> pl.LazyFrame:
        return frame.with_columns(pl.col(start).dt.add_business_days(int(days)).alias(name))


def _run_with_clock(grain: Grain) -> pl.DataFrame:
    ctx = MetricContext(grain=grain, clock=WeekdayClock())
    lazy = {name: frame.lazy() for name, frame in FRAMES.items()}
    return detractor_followup_rate_pct.compute(ctx, lazy).collect()


def test_detractor_followup_deadline_comes_from_the_clock() -> None:
    # On the weekday clock r7 (Friday) is due Tuesday 2 July 10:00: Monday's call is in
    # time. Everything else is as with the elapsed clock (no weekend in the other windows).
    # Weeks: Mon 3 June (r0, r1, r2, r3: 2/4), Mon 10 June (r9: 1/1), Mon 24 June (r7: 1/1),
    # Mon 1 July (r8: 1/1).
    expect(
        _run_with_clock("week"),
        {
            (F, d("2024-06-03"), "A", None): (50.0, 2.0, 4.0, 4),
            (F, d("2024-06-03"), None, None): (50.0, 2.0, 4.0, 4),
            (F, d("2024-06-10"), "A", None): (100.0, 1.0, 1.0, 1),
            (F, d("2024-06-10"), None, None): (100.0, 1.0, 1.0, 1),
            (F, d("2024-06-24"), "B", None): (100.0, 1.0, 1.0, 1),
            (F, d("2024-06-24"), None, None): (100.0, 1.0, 1.0, 1),
            (F, JUL, "B", None): (100.0, 1.0, 1.0, 1),
            (F, JUL, None, None): (100.0, 1.0, 1.0, 1),
        },
    )


def test_detractor_followup_by_quarter() -> None:
    # Q2: A 3/5, B 0/1, all 3/6. Q3: B's July detractor 1/1.
    expect(
        run(detractor_followup_rate_pct, FRAMES, grain="quarter"),
        {
            (F, d("2024-04-01"), "A", None): (60.0, 3.0, 5.0, 5),
            (F, d("2024-04-01"), "B", None): (0.0, 0.0, 1.0, 1),
            (F, d("2024-04-01"), None, None): (50.0, 3.0, 6.0, 6),
            (F, JUL, "B", None): (100.0, 1.0, 1.0, 1),
            (F, JUL, None, None): (100.0, 1.0, 1.0, 1),
        },
    )


def test_detractor_followup_without_records_is_zero_not_missing() -> None:
    # A followups entity with no rows: every detractor was missed (0 %), still a row per
    # group with detractors. Periods and clients without detractors: no row.
    result = run(
        detractor_followup_rate_pct, {"survey_responses": DETRACTORS, "followups": followups()}
    )
    assert set(result["value"].to_list()) == {0.0}
    assert result.height == 5


def test_detractor_followup_needs_the_followups_entity() -> None:
    # A required input: without follow-up records the runner skips the metric rather than
    # report every detractor as missed.
    assert detractor_followup_rate_pct.inputs == ("survey_responses", "followups")
