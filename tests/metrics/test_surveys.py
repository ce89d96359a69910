"""Survey metrics against hand-computed fixtures (expected numbers worked out in comments)."""

from __future__ import annotations

import math

import polars as pl

from cxpipe.metrics.builtin.surveys import client_experience_rating, csat_pct, nps

from .fixtures import d, expect, responses, run, ts

JUN = d("2024-06-01")

# --- csat_pct ----------------------------------------------------------------------------

CSAT = responses(
    {"client_id": "A", "submitted_at": ts("2024-06-03 10:00"), "csat": 5},
    {"client_id": "A", "submitted_at": ts("2024-06-04 10:00"), "csat": 4},
    {"client_id": "A", "submitted_at": ts("2024-06-05 10:00"), "csat": 3},
    {"client_id": "A", "submitted_at": ts("2024-06-06 10:00"), "csat": None},  # no score
    # IT rating itself: never part of client satisfaction.
    {"client_id": "A", "submitted_at": ts("2024-06-07 10:00"), "csat": 1,
     "respondent_side": "it", "survey_kind": "self_assessment"},
    {"client_id": "B", "submitted_at": ts("2024-06-10 10:00"), "csat": 2},
    # Client C only has an IT self-assessment: no C row at all.
    {"client_id": "C", "submitted_at": ts("2024-06-10 10:00"), "csat": 5,
     "respondent_side": "it", "survey_kind": "self_assessment"},
)  # fmt: skip


def test_csat_top_two_box() -> None:
    # A: 5, 4, 3 scored → 2 of 3 top-two-box. B: 2 → 0 of 1, a real 0 (B has a score).
    # All: 2 of 4 = 50 %.
    expect(
        run(csat_pct, {"survey_responses": CSAT}),
        {
            ("csat_pct", JUN, "A", None): (2 / 3 * 100, 2.0, 3.0, 3),
            ("csat_pct", JUN, "B", None): (0.0, 0.0, 1.0, 1),
            ("csat_pct", JUN, None, None): (50.0, 2.0, 4.0, 4),
        },
    )


def test_csat_by_week() -> None:
    # Week of Mon 3 Jun: A's 5, 4, 3 → 2/3. Week of Mon 10 Jun: B's 2 → 0/1.
    result = run(csat_pct, {"survey_responses": CSAT}, grain="week")
    expect(
        result,
        {
            ("csat_pct", d("2024-06-03"), "A", None): (2 / 3 * 100, 2.0, 3.0, 3),
            ("csat_pct", d("2024-06-03"), None, None): (2 / 3 * 100, 2.0, 3.0, 3),
            ("csat_pct", d("2024-06-10"), "B", None): (0.0, 0.0, 1.0, 1),
            ("csat_pct", d("2024-06-10"), None, None): (0.0, 0.0, 1.0, 1),
        },
    )


# --- nps ---------------------------------------------------------------------------------

NPS = responses(
    *(
        {"client_id": "A", "submitted_at": ts("2024-06-03 10:00"), "nps_score": s}
        for s in (10, 9, 8, 6, 0)
    ),
    {"client_id": "A", "submitted_at": ts("2024-06-03 10:00"), "nps_score": None},
    {"client_id": "A", "submitted_at": ts("2024-06-03 10:00"), "nps_score": 0,
     "respondent_side": "it", "survey_kind": "self_assessment"},
    {"client_id": "B", "submitted_at": ts("2024-06-20 10:00"), "nps_score": 10},
    {"client_id": "B", "submitted_at": ts("2024-06-20 10:00"), "nps_score": 7},
)  # fmt: skip


def test_nps_and_margin_of_error() -> None:
    # A: 10, 9 promoters; 8 passive; 6, 0 detractors → P = 2, D = 2, n = 5 → NPS 0.
    #    p = d = 0.4: p + d − (p − d)² = 0.8; √(0.8 / 5) = 0.4 → moe = 1.96 · 0.4 · 100 = 78.4.
    # B: 10 promoter, 7 passive → P = 1, D = 0, n = 2 → NPS 50.
    #    p = 0.5, d = 0: 0.5 − 0.25 = 0.25; moe = 196 · √(0.25 / 2) = 196 · √0.125 ≈ 69.296.
    # All: P = 3, D = 2, n = 7 → NPS 100 / 7 ≈ 14.286; numerator 1, denominator 7.
    #    p + d − (p − d)² = 5/7 − 1/49 = 34/49; moe = 196 · √(34 / 343) ≈ 61.707.
    result = run(nps, {"survey_responses": NPS})
    expect(
        result,
        {
            ("nps", JUN, "A", None): (0.0, 0.0, 5.0, 5),
            ("nps", JUN, "B", None): (50.0, 1.0, 2.0, 2),
            ("nps", JUN, None, None): (100 / 7, 1.0, 7.0, 7),
            ("nps_moe", JUN, "A", None): (78.4, None, None, 5),
            ("nps_moe", JUN, "B", None): (196 * math.sqrt(0.125), None, None, 2),
            ("nps_moe", JUN, None, None): (196 * math.sqrt(34 / 343), None, None, 7),
        },
    )


def test_nps_moe_is_zero_not_nan_for_unanimous_answers() -> None:
    # One promoter: p = 1, d = 0 → p + d − (p − d)² = 0 → moe 0 (no NaN from rounding).
    one = responses({"submitted_at": ts("2024-06-03 10:00"), "nps_score": 10})
    result = run(nps, {"survey_responses": one})
    assert result.filter(pl.col("metric") == "nps_moe")["value"].to_list() == [0.0, 0.0]
    assert not result["value"].is_nan().any()


def test_nps_by_quarter() -> None:
    # Q2 holds every response: the all-clients row equals the monthly one.
    result = run(nps, {"survey_responses": NPS}, grain="quarter")
    expect(
        result.filter(pl.col("client_id").is_null()),
        {
            ("nps", d("2024-04-01"), None, None): (100 / 7, 1.0, 7.0, 7),
            ("nps_moe", d("2024-04-01"), None, None): (196 * math.sqrt(34 / 343), None, None, 7),
        },
    )


# --- client_experience_rating ------------------------------------------------------------

CX = responses(
    # A: timeliness 5, communication 3 → equal-weight mean 4 → (4 − 1) / 4 · 100 = 75.
    {"client_id": "A", "submitted_at": ts("2024-06-03 10:00"), "timeliness": 5,
     "communication": 3},
    # A: every proxy 1 → 1 → 0.
    {"client_id": "A", "submitted_at": ts("2024-06-04 10:00"), "timeliness": 1,
     "communication": 1, "responsiveness": 1, "cost_transparency": 1, "accessibility": 1},
    # A: no proxy rating (only CSAT) → does not count.
    {"client_id": "A", "submitted_at": ts("2024-06-05 10:00"), "csat": 5},
    # B: accessibility 2 → 25.
    {"client_id": "B", "submitted_at": ts("2024-06-06 10:00"), "accessibility": 2},
    # IT self-assessment: excluded.
    {"client_id": "A", "submitted_at": ts("2024-06-07 10:00"), "timeliness": 5,
     "respondent_side": "it", "survey_kind": "self_assessment"},
)  # fmt: skip
CER = "client_experience_rating"


def test_client_experience_rating_and_proxies() -> None:
    # Rating — A: (75 + 0) / 2 = 37.5 (Σ 75, n 2). B: 25. All: (75 + 0 + 25) / 3.
    # cx_timeliness — A: 5 → 100, 1 → 0 → 50. B never rated it → no B row. All 50.
    # cx_communication — A: 3 → 50, 1 → 0 → 25. All 25.
    # cx_responsiveness, cx_cost_transparency — A: 1 → 0 (a real 0). All 0.
    # cx_accessibility — A: 1 → 0. B: 2 → 25. All: (0 + 25) / 2 = 12.5.
    expect(
        run(client_experience_rating, {"survey_responses": CX}),
        {
            (CER, JUN, "A", None): (37.5, 75.0, 2.0, 2),
            (CER, JUN, "B", None): (25.0, 25.0, 1.0, 1),
            (CER, JUN, None, None): (100 / 3, 100.0, 3.0, 3),
            ("cx_timeliness", JUN, "A", None): (50.0, 100.0, 2.0, 2),
            ("cx_timeliness", JUN, None, None): (50.0, 100.0, 2.0, 2),
            ("cx_communication", JUN, "A", None): (25.0, 50.0, 2.0, 2),
            ("cx_communication", JUN, None, None): (25.0, 50.0, 2.0, 2),
            ("cx_responsiveness", JUN, "A", None): (0.0, 0.0, 1.0, 1),
            ("cx_responsiveness", JUN, None, None): (0.0, 0.0, 1.0, 1),
            ("cx_cost_transparency", JUN, "A", None): (0.0, 0.0, 1.0, 1),
            ("cx_cost_transparency", JUN, None, None): (0.0, 0.0, 1.0, 1),
            ("cx_accessibility", JUN, "A", None): (0.0, 0.0, 1.0, 1),
            ("cx_accessibility", JUN, "B", None): (25.0, 25.0, 1.0, 1),
            ("cx_accessibility", JUN, None, None): (12.5, 25.0, 2.0, 2),
        },
    )


def test_client_experience_rating_with_weights() -> None:
    # Timeliness weighs 3, the rest keep the default 1 (a proxy the config does not name
    # weighs 1). First response: (5·3 + 3·1) / 4 = 4.5 → 87.5; second still 0; B still 25.
    # A: 87.5 / 2 = 43.75. All: (87.5 + 0 + 25) / 3 = 37.5.
    result = run(
        client_experience_rating,
        {"survey_responses": CX},
        settings={"proxy_weights": {"timeliness": 3.0}},
    )
    expect(
        result,
        {
            (CER, JUN, "A", None): (43.75, 87.5, 2.0, 2),
            (CER, JUN, "B", None): (25.0, 25.0, 1.0, 1),
            (CER, JUN, None, None): (37.5, 112.5, 3.0, 3),
        },
        metric=CER,
    )


def test_client_experience_rating_zero_weight_proxy_alone_does_not_count() -> None:
    # Accessibility weighs 0: B's response rates only accessibility, so it has no weighted
    # proxy and does not count → no B row. cx_accessibility itself is unweighted: it stays.
    result = run(
        client_experience_rating,
        {"survey_responses": CX},
        settings={"proxy_weights": {"accessibility": 0.0}},
    )
    # A: first 75; second: four proxies of weight 1 rated 1 → 1 → 0. A 37.5; all = A.
    expect(
        result,
        {
            (CER, JUN, "A", None): (37.5, 75.0, 2.0, 2),
            (CER, JUN, None, None): (37.5, 75.0, 2.0, 2),
        },
        metric=CER,
    )
    assert ("cx_accessibility", JUN, "B") in {
        (r["metric"], r["period_start"], r["client_id"]) for r in result.iter_rows(named=True)
    }


def test_client_experience_rating_by_quarter() -> None:
    result = run(client_experience_rating, {"survey_responses": CX}, grain="quarter")
    expect(
        result.filter(pl.col("client_id").is_null()),
        {(CER, d("2024-04-01"), None, None): (100 / 3, 100.0, 3.0, 3)},
        metric=CER,
    )
