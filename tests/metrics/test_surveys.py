"""Survey metrics against hand-computed fixtures (expected numbers worked out in comments)."""

from __future__ import annotations

import math

import polars as pl

from cxpipe.metrics.builtin.surveys import (
    ces_mean,
    client_experience_rating,
    csat_mean,
    csat_pct,
    horizon_satisfaction,
    lost_time_hours,
    nps,
    perception_gap,
    proxy_priority,
    service_relevance,
    survey_response_rate_pct,
)

from .fixtures import d, expect, invitations, responses, run, ts

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


# --- csat_mean, ces_mean, service_relevance ----------------------------------------------

JUL = d("2024-07-01")
IT = {"respondent_side": "it", "survey_kind": "self_assessment"}

MEANS = responses(
    {"client_id": "A", "submitted_at": ts("2024-06-03 10:00"), "csat": 5, "ces": 2,
     "relevance": 5},
    {"client_id": "A", "submitted_at": ts("2024-06-04 10:00"), "csat": 4, "ces": 5,
     "relevance": 2},
    {"client_id": "A", "submitted_at": ts("2024-06-05 10:00"), "csat": 3},
    {"client_id": "A", "submitted_at": ts("2024-06-06 10:00")},  # nothing answered
    # IT's self-assessment: excluded from every client mean.
    {"client_id": "A", "submitted_at": ts("2024-06-07 10:00"), "csat": 1, "ces": 7,
     "relevance": 1, **IT},
    {"client_id": "B", "submitted_at": ts("2024-06-10 10:00"), "csat": 2, "ces": 7,
     "relevance": 3},
    {"client_id": "A", "submitted_at": ts("2024-07-01 00:00"), "csat": 1},
)  # fmt: skip


def test_csat_mean() -> None:
    # June — A: (5 + 4 + 3) / 3 = 4 (Σ 12, n 3). B: 2. All: 14 / 4 = 3.5.
    # July — A: 1 (a real 1-out-of-5 mean), all 1. B has nothing in July: no row.
    expect(
        run(csat_mean, {"survey_responses": MEANS}),
        {
            ("csat_mean", JUN, "A", None): (4.0, 12.0, 3.0, 3),
            ("csat_mean", JUN, "B", None): (2.0, 2.0, 1.0, 1),
            ("csat_mean", JUN, None, None): (3.5, 14.0, 4.0, 4),
            ("csat_mean", JUL, "A", None): (1.0, 1.0, 1.0, 1),
            ("csat_mean", JUL, None, None): (1.0, 1.0, 1.0, 1),
        },
    )


def test_csat_mean_by_quarter() -> None:
    # Q2 (April–June) holds June's rows; Q3 holds A's July response.
    expect(
        run(csat_mean, {"survey_responses": MEANS}, grain="quarter"),
        {
            ("csat_mean", d("2024-04-01"), "A", None): (4.0, 12.0, 3.0, 3),
            ("csat_mean", d("2024-04-01"), "B", None): (2.0, 2.0, 1.0, 1),
            ("csat_mean", d("2024-04-01"), None, None): (3.5, 14.0, 4.0, 4),
            ("csat_mean", d("2024-07-01"), "A", None): (1.0, 1.0, 1.0, 1),
            ("csat_mean", d("2024-07-01"), None, None): (1.0, 1.0, 1.0, 1),
        },
    )


def test_ces_mean() -> None:
    # June — A: (2 + 5) / 2 = 3.5. B: 7. All: 14 / 3. July: nobody rated effort → no rows.
    expect(
        run(ces_mean, {"survey_responses": MEANS}),
        {
            ("ces_mean", JUN, "A", None): (3.5, 7.0, 2.0, 2),
            ("ces_mean", JUN, "B", None): (7.0, 7.0, 1.0, 1),
            ("ces_mean", JUN, None, None): (14 / 3, 14.0, 3.0, 3),
        },
    )


def test_service_relevance() -> None:
    # Rescaled (r − 1) / 4 · 100. A: 5 → 100, 2 → 25 → 62.5 (Σ 125, n 2). B: 3 → 50.
    # All: 175 / 3.
    expect(
        run(service_relevance, {"survey_responses": MEANS}),
        {
            ("service_relevance", JUN, "A", None): (62.5, 125.0, 2.0, 2),
            ("service_relevance", JUN, "B", None): (50.0, 50.0, 1.0, 1),
            ("service_relevance", JUN, None, None): (175 / 3, 175.0, 3.0, 3),
        },
    )


# --- survey_response_rate_pct ------------------------------------------------------------

RR = "survey_response_rate_pct"
MAY = d("2024-05-01")
INVITES = invitations(
    *({"client_id": "A", "sent_at": ts("2024-06-03 09:00"), "survey_kind": "transactional"}
      for _ in range(4)),
    {"client_id": "A", "sent_at": ts("2024-06-03 09:00"), "survey_kind": "relationship"},
    # IT's own invitations: not part of the clients' response rate.
    {"client_id": "A", "sent_at": ts("2024-06-03 09:00"), "survey_kind": "self_assessment"},
    {"client_id": "A", "sent_at": ts("2024-06-03 09:00"), "survey_kind": "self_assessment"},
    # Sent in May, answered in June.
    {"client_id": "A", "sent_at": ts("2024-05-31 23:59"), "survey_kind": "transactional"},
    {"client_id": "B", "sent_at": ts("2024-06-12 09:00"), "survey_kind": "post_project"},
    {"client_id": "B", "sent_at": ts("2024-06-12 09:00"), "survey_kind": "post_project"},
    # C is invited and never answers: a real 0.
    {"client_id": "C", "sent_at": ts("2024-06-20 09:00"), "survey_kind": "relationship"},
)  # fmt: skip
ANSWERS = responses(
    {"client_id": "A", "submitted_at": ts("2024-06-01 08:00"), "survey_kind": "transactional"},
    {"client_id": "A", "submitted_at": ts("2024-06-04 10:00"), "survey_kind": "transactional"},
    {"client_id": "A", "submitted_at": ts("2024-06-05 10:00"), "survey_kind": "transactional"},
    {"client_id": "A", "submitted_at": ts("2024-06-06 10:00"), "survey_kind": "relationship"},
    {"client_id": "A", "submitted_at": ts("2024-06-06 10:00"), **IT},
    {"client_id": "B", "submitted_at": ts("2024-06-14 10:00"), "survey_kind": "post_project"},
    # D answers without any invitation in the source: matched to none, counted nowhere.
    {"client_id": "D", "submitted_at": ts("2024-06-14 10:00"), "survey_kind": "relationship"},
    # B answers in July, when B has no invitation: no July row at all.
    {"client_id": "B", "submitted_at": ts("2024-07-02 10:00"), "survey_kind": "post_project"},
)  # fmt: skip


def test_survey_response_rate() -> None:
    # June, A: 3 transactional responses (one answers May's invitation: responses and
    #   invitations each count in their own period) ÷ 4 transactional invitations = 75 %;
    #   relationship 1 ÷ 1 = 100 %; overall 4 ÷ 5 = 80 % (self-assessments left out).
    # June, B: 1 ÷ 2 post-project = 50 %. C: 0 ÷ 1 relationship = 0 % (a real zero).
    # June, D: a response but no invitation → no row, and not in the all-clients row.
    # June, all: (4 + 1 + 0) ÷ (5 + 2 + 1) = 62.5 %; transactional 3 / 4 = 75 %;
    #   relationship (1 + 0) / (1 + 1) = 50 %; post_project 1 / 2 = 50 %.
    # May, A: 0 ÷ 1 = 0 %, overall and transactional. July: no invitations → nothing.
    tx, rel, pp = (
        "survey_kind=transactional",
        "survey_kind=relationship",
        "survey_kind=post_project",
    )
    expect(
        run(survey_response_rate_pct, {"survey_responses": ANSWERS, "survey_invitations": INVITES}),
        {
            (RR, JUN, "A", None): (80.0, 4.0, 5.0, 5),
            (RR, JUN, "A", tx): (75.0, 3.0, 4.0, 4),
            (RR, JUN, "A", rel): (100.0, 1.0, 1.0, 1),
            (RR, JUN, "B", None): (50.0, 1.0, 2.0, 2),
            (RR, JUN, "B", pp): (50.0, 1.0, 2.0, 2),
            (RR, JUN, "C", None): (0.0, 0.0, 1.0, 1),
            (RR, JUN, "C", rel): (0.0, 0.0, 1.0, 1),
            (RR, JUN, None, None): (62.5, 5.0, 8.0, 8),
            (RR, JUN, None, tx): (75.0, 3.0, 4.0, 4),
            (RR, JUN, None, rel): (50.0, 1.0, 2.0, 2),
            (RR, JUN, None, pp): (50.0, 1.0, 2.0, 2),
            (RR, MAY, "A", None): (0.0, 0.0, 1.0, 1),
            (RR, MAY, "A", tx): (0.0, 0.0, 1.0, 1),
            (RR, MAY, None, None): (0.0, 0.0, 1.0, 1),
            (RR, MAY, None, tx): (0.0, 0.0, 1.0, 1),
        },
    )


def test_survey_response_rate_by_quarter() -> None:
    # Q2 holds May and June: A 4 ÷ 6 (overall), transactional 3 ÷ 5; all (4 + 1 + 0) ÷ 9.
    # Q3: B's July answer has no invitation → nothing.
    result = run(
        survey_response_rate_pct,
        {"survey_responses": ANSWERS, "survey_invitations": INVITES},
        grain="quarter",
    )
    q2 = d("2024-04-01")
    expect(
        result.filter(
            pl.col("segment").is_null() | (pl.col("segment") == "survey_kind=transactional")
        ),
        {
            (RR, q2, "A", None): (400 / 6, 4.0, 6.0, 6),
            (RR, q2, "A", "survey_kind=transactional"): (60.0, 3.0, 5.0, 5),
            (RR, q2, "B", None): (50.0, 1.0, 2.0, 2),
            (RR, q2, "C", None): (0.0, 0.0, 1.0, 1),
            (RR, q2, None, None): (500 / 9, 5.0, 9.0, 9),
            (RR, q2, None, "survey_kind=transactional"): (60.0, 3.0, 5.0, 5),
        },
    )


def test_survey_response_rate_needs_invitations() -> None:
    # A required input: the runner skips the metric when no source provides invitations.
    assert survey_response_rate_pct.inputs == ("survey_responses", "survey_invitations")


# --- horizon_satisfaction, weakest_horizon_score, horizon_coverage -----------------------

HS, WEAK, COVER = "horizon_satisfaction", "weakest_horizon_score", "horizon_coverage"
HORIZONS = responses(
    # A company: timeliness 5, communication 3 → proxy mean 4 → 75.
    {"client_id": "A", "submitted_at": ts("2024-06-03 10:00"), "respondent_level": "company",
     "timeliness": 5, "communication": 3},
    # A company: no proxy rating, CSAT 5 → falls back to its top-two-box: 100.
    {"client_id": "A", "submitted_at": ts("2024-06-04 10:00"), "respondent_level": "company",
     "csat": 5},
    # A business user: CSAT 3 only → top-two-box 0.
    {"client_id": "A", "submitted_at": ts("2024-06-05 10:00"),
     "respondent_level": "business_user", "csat": 3},
    # A business user: accessibility 2 → 25; its CSAT 5 is not used (the proxy rating wins).
    {"client_id": "A", "submitted_at": ts("2024-06-06 10:00"),
     "respondent_level": "business_user", "accessibility": 2, "csat": 5},
    # A, no level: counts for no horizon.
    {"client_id": "A", "submitted_at": ts("2024-06-06 10:00"), "timeliness": 5},
    # A key individual with only an NPS: neither proxy nor CSAT → does not count.
    {"client_id": "A", "submitted_at": ts("2024-06-06 10:00"),
     "respondent_level": "key_individual", "nps_score": 10},
    # B technology team: every proxy 1 → 0.
    {"client_id": "B", "submitted_at": ts("2024-06-10 10:00"),
     "respondent_level": "technology_team", **dict.fromkeys(
         ("timeliness", "communication", "responsiveness", "cost_transparency",
          "accessibility"), 1)},
    # IT rating itself: excluded.
    {"client_id": "B", "submitted_at": ts("2024-06-10 10:00"),
     "respondent_level": "technology_team", "timeliness": 5, **IT},
)  # fmt: skip


def test_horizon_satisfaction_weakest_and_coverage() -> None:
    # Horizons — A company (75 + 100) / 2 = 87.5 (Σ 175, n 2); A business user (0 + 25) / 2
    #   = 12.5 (Σ 25, n 2); B technology team 0 (a real 0). All clients: the same three.
    # Weakest — A min(87.5, 12.5) = 12.5 over 4 responses; B 0 over 1; all 0 over 5.
    # Coverage — A 2 horizons, B 1, all 3 (key individual has no response that counts).
    cu, bu, tt = (
        "respondent_level=company",
        "respondent_level=business_user",
        ("respondent_level=technology_team"),
    )
    expect(
        run(horizon_satisfaction, {"survey_responses": HORIZONS}),
        {
            (HS, JUN, "A", cu): (87.5, 175.0, 2.0, 2),
            (HS, JUN, "A", bu): (12.5, 25.0, 2.0, 2),
            (HS, JUN, "B", tt): (0.0, 0.0, 1.0, 1),
            (HS, JUN, None, cu): (87.5, 175.0, 2.0, 2),
            (HS, JUN, None, bu): (12.5, 25.0, 2.0, 2),
            (HS, JUN, None, tt): (0.0, 0.0, 1.0, 1),
            (WEAK, JUN, "A", None): (12.5, None, None, 4),
            (WEAK, JUN, "B", None): (0.0, None, None, 1),
            (WEAK, JUN, None, None): (0.0, None, None, 5),
            (COVER, JUN, "A", None): (2.0, None, None, 4),
            (COVER, JUN, "B", None): (1.0, None, None, 1),
            (COVER, JUN, None, None): (3.0, None, None, 5),
        },
    )


def test_horizon_satisfaction_uses_proxy_weights() -> None:
    # Timeliness weighs 3: A's first company response (5·3 + 3) / 4 = 4.5 → 87.5, so the
    # company horizon is (87.5 + 100) / 2 = 93.75. The CSAT fallback is unweighted.
    result = run(
        horizon_satisfaction,
        {"survey_responses": HORIZONS},
        settings={"proxy_weights": {"timeliness": 3.0}},
    )
    expect(
        result.filter(pl.col("segment") == "respondent_level=company"),
        {
            (HS, JUN, "A", "respondent_level=company"): (93.75, 187.5, 2.0, 2),
            (HS, JUN, None, "respondent_level=company"): (93.75, 187.5, 2.0, 2),
        },
    )


def test_horizon_satisfaction_by_week() -> None:
    # Week of Mon 3 June: A's rows only. Week of Mon 10 June: B's row only.
    result = run(horizon_satisfaction, {"survey_responses": HORIZONS}, grain="week")
    w1, w2 = d("2024-06-03"), d("2024-06-10")
    expect(
        result.filter(pl.col("client_id").is_null()),
        {
            (HS, w1, None, "respondent_level=company"): (87.5, 175.0, 2.0, 2),
            (HS, w1, None, "respondent_level=business_user"): (12.5, 25.0, 2.0, 2),
            (HS, w2, None, "respondent_level=technology_team"): (0.0, 0.0, 1.0, 1),
            (WEAK, w1, None, None): (12.5, None, None, 4),
            (WEAK, w2, None, None): (0.0, None, None, 1),
            (COVER, w1, None, None): (2.0, None, None, 4),
            (COVER, w2, None, None): (1.0, None, None, 1),
        },
    )


# --- perception_gap ----------------------------------------------------------------------

PG = "perception_gap"
GAPS = responses(
    # A, clients: timeliness 3 (50) and communication 2 (25); communication 4 (75) and
    # responsiveness 4 (75).
    {"client_id": "A", "submitted_at": ts("2024-06-03 10:00"), "timeliness": 3,
     "communication": 2},
    {"client_id": "A", "submitted_at": ts("2024-06-04 10:00"), "communication": 4,
     "responsiveness": 4},
    # A, IT: timeliness 4 (75), communication 5 (100), accessibility 5 (100); communication 4.
    {"client_id": "A", "submitted_at": ts("2024-06-05 10:00"), "timeliness": 4,
     "communication": 5, "accessibility": 5, **IT},
    {"client_id": "A", "submitted_at": ts("2024-06-06 10:00"), "communication": 4, **IT},
    # B: client timeliness 5 (100); IT timeliness 4 (75) and communication 5 (100).
    {"client_id": "B", "submitted_at": ts("2024-06-10 10:00"), "timeliness": 5},
    {"client_id": "B", "submitted_at": ts("2024-06-11 10:00"), "timeliness": 4,
     "communication": 5, **IT},
    # C: clients only. D: IT only. Neither is paired: no rows, and not in the all-clients one.
    {"client_id": "C", "submitted_at": ts("2024-06-12 10:00"), "communication": 1},
    {"client_id": "D", "submitted_at": ts("2024-06-12 10:00"), "communication": 5, **IT},
    # A in July: IT only → nothing in July.
    {"client_id": "A", "submitted_at": ts("2024-07-01 10:00"), "communication": 5, **IT},
)  # fmt: skip


def test_perception_gap_paired_per_client_and_period() -> None:
    # Paired cells (IT and client both rated the proxy, same client and month):
    #   A timeliness: IT 75 − client 50 = 25 (2 ratings).
    #   A communication: IT (100 + 75) / 2 = 87.5 − client (25 + 75) / 2 = 50 → 37.5 (4).
    #   A responsiveness (client only), A accessibility (IT only): unpaired.
    #   B timeliness: 75 − 100 = −25 (2). B communication (IT only): unpaired.
    # All clients, pooled over the paired cells: timeliness IT (75 + 75) / 2 − client
    #   (50 + 100) / 2 = 0 (4); communication only A's cell: 37.5 (4).
    # Overall (equal weights): A (25 + 37.5) / 2 = 31.25 over A's 4 responses; B −25 over 2;
    #   all (0 + 37.5) / 2 = 18.75 over 6 responses.
    t, c = "proxy=timeliness", "proxy=communication"
    expect(
        run(perception_gap, {"survey_responses": GAPS}),
        {
            (PG, JUN, "A", t): (25.0, None, None, 2),
            (PG, JUN, "A", c): (37.5, None, None, 4),
            (PG, JUN, "B", t): (-25.0, None, None, 2),
            (PG, JUN, None, t): (0.0, None, None, 4),
            (PG, JUN, None, c): (37.5, None, None, 4),
            (PG, JUN, "A", None): (31.25, None, None, 4),
            (PG, JUN, "B", None): (-25.0, None, None, 2),
            (PG, JUN, None, None): (18.75, None, None, 6),
        },
    )


def test_perception_gap_overall_uses_proxy_weights() -> None:
    # Timeliness 3, communication 1: A (3·25 + 37.5) / 4 = 28.125; B −25 (timeliness only);
    # all (3·0 + 37.5) / 4 = 9.375. Per-proxy rows are unweighted and unchanged.
    result = run(
        perception_gap,
        {"survey_responses": GAPS},
        settings={"proxy_weights": {"timeliness": 3.0}},
    )
    expect(
        result.filter(pl.col("segment").is_null()),
        {
            (PG, JUN, "A", None): (28.125, None, None, 4),
            (PG, JUN, "B", None): (-25.0, None, None, 2),
            (PG, JUN, None, None): (9.375, None, None, 6),
        },
    )


def test_perception_gap_zero_weight_proxy_leaves_the_overall() -> None:
    # Communication weighs 0: overall is timeliness alone. A 25 over the 2 responses that
    # rated timeliness in A's paired cell; B −25 over 2; all 0 over 4.
    result = run(
        perception_gap,
        {"survey_responses": GAPS},
        settings={"proxy_weights": {"communication": 0.0}},
    )
    expect(
        result.filter(pl.col("segment").is_null()),
        {
            (PG, JUN, "A", None): (25.0, None, None, 2),
            (PG, JUN, "B", None): (-25.0, None, None, 2),
            (PG, JUN, None, None): (0.0, None, None, 4),
        },
    )


def test_perception_gap_by_year() -> None:
    # 2024 pools June and July: A's July IT rating joins A's communication cell, IT
    # (100 + 75 + 100) / 3 = 91.666… − 50 = 41.666… over 5 ratings. Timeliness as in June.
    # All communication: only A paired → the same. Overall A: (25 + 125/3) / 2 over 5.
    result = run(perception_gap, {"survey_responses": GAPS}, grain="year")
    y = d("2024-01-01")
    gap_a = 275 / 3 - 50
    expect(
        result.filter(pl.col("client_id").is_null() | (pl.col("client_id") == "A")),
        {
            (PG, y, "A", "proxy=timeliness"): (25.0, None, None, 2),
            (PG, y, "A", "proxy=communication"): (gap_a, None, None, 5),
            (PG, y, None, "proxy=timeliness"): (0.0, None, None, 4),
            (PG, y, None, "proxy=communication"): (gap_a, None, None, 5),
            (PG, y, "A", None): ((25 + gap_a) / 2, None, None, 5),
            (PG, y, None, None): (gap_a / 2, None, None, 7),
        },
    )


# --- lost_time_hours, lost_time_hours_mean -----------------------------------------------

LOST = responses(
    {"client_id": "A", "submitted_at": ts("2024-06-03 10:00"), "lost_time_minutes": 30.0},
    {"client_id": "A", "submitted_at": ts("2024-06-04 10:00"), "lost_time_minutes": 90.0},
    {"client_id": "A", "submitted_at": ts("2024-06-05 10:00"), "lost_time_minutes": 0.0},
    {"client_id": "A", "submitted_at": ts("2024-06-06 10:00"), "lost_time_minutes": None},
    {"client_id": "A", "submitted_at": ts("2024-06-06 10:00"),
     "lost_time_minutes": float("nan")},  # unreadable: not an estimate
    {"client_id": "A", "submitted_at": ts("2024-06-07 10:00"), "lost_time_minutes": 600.0,
     **IT},
    {"client_id": "B", "submitted_at": ts("2024-06-10 10:00"), "lost_time_minutes": None},
    {"client_id": "B", "submitted_at": ts("2024-07-10 10:00"), "lost_time_minutes": 120.0},
)  # fmt: skip


def test_lost_time_total_and_mean() -> None:
    # June, A: 30 + 90 + 0 minutes = 120 = 2 h over 3 estimates (the 0 counts; the null, the
    #   NaN and IT's 600 do not) → mean 2/3 h. B has no estimate in June: no row.
    # July, B: 120 minutes = 2 h over 1. All: June as A, July as B.
    mean_h = "lost_time_hours_mean"
    result = run(lost_time_hours, {"survey_responses": LOST})
    expect(
        result,
        {
            ("lost_time_hours", JUN, "A", None): (2.0, None, None, 3),
            ("lost_time_hours", JUN, None, None): (2.0, None, None, 3),
            ("lost_time_hours", JUL, "B", None): (2.0, None, None, 1),
            ("lost_time_hours", JUL, None, None): (2.0, None, None, 1),
            (mean_h, JUN, "A", None): (2 / 3, 2.0, 3.0, 3),
            (mean_h, JUN, None, None): (2 / 3, 2.0, 3.0, 3),
            (mean_h, JUL, "B", None): (2.0, 2.0, 1.0, 1),
            (mean_h, JUL, None, None): (2.0, 2.0, 1.0, 1),
        },
    )
    assert not result["value"].is_nan().any()


def test_lost_time_by_year() -> None:
    # 2024: 120 + 120 minutes = 4 h over 4 estimates → mean 1 h; A 2 h / 3, B 2 h / 1.
    result = run(lost_time_hours, {"survey_responses": LOST}, grain="year")
    y = d("2024-01-01")
    expect(
        result,
        {
            ("lost_time_hours", y, "A", None): (2.0, None, None, 3),
            ("lost_time_hours", y, "B", None): (2.0, None, None, 1),
            ("lost_time_hours", y, None, None): (4.0, None, None, 4),
            ("lost_time_hours_mean", y, "A", None): (2 / 3, 2.0, 3.0, 3),
            ("lost_time_hours_mean", y, "B", None): (2.0, 2.0, 1.0, 1),
            ("lost_time_hours_mean", y, None, None): (1.0, 4.0, 4.0, 4),
        },
    )


# --- proxy_priority ----------------------------------------------------------------------

PP = "proxy_priority"
PRIORITY = responses(
    # A: importance of communication 5 (100), communication rated 2 (25).
    {"client_id": "A", "submitted_at": ts("2024-06-03 10:00"), "importance_communication": 5,
     "communication": 2},
    # A: importance of communication 3 (50), no communication rating.
    {"client_id": "A", "submitted_at": ts("2024-06-04 10:00"), "importance_communication": 3},
    # A: communication 4 (75); timeliness important 4 (75) and rated 5 (100).
    {"client_id": "A", "submitted_at": ts("2024-06-05 10:00"), "communication": 4,
     "importance_timeliness": 4, "timeliness": 5},
    # B: accessibility important (4) but never rated; timeliness rated 3 but its importance
    # never asked → B has no row for either.
    {"client_id": "B", "submitted_at": ts("2024-06-10 10:00"), "importance_accessibility": 4,
     "timeliness": 3},
    # IT: excluded.
    {"client_id": "A", "submitted_at": ts("2024-06-06 10:00"), "importance_communication": 1,
     "communication": 5, **IT},
)  # fmt: skip


def test_proxy_priority() -> None:
    # A communication: importance (100 + 50) / 2 = 75; satisfaction (25 + 75) / 2 = 50;
    #   priority 75 · (100 − 50) / 100 = 37.5, from 3 responses.
    # A timeliness: importance 75, satisfaction 100 → 0 (a real zero), from 1 response.
    # B: no proxy with both an importance and a rating → no B rows. The all-clients rows
    #   pool the clients that have a row, so they equal A's.
    c, t = "proxy=communication", "proxy=timeliness"
    expect(
        run(proxy_priority, {"survey_responses": PRIORITY}),
        {
            (PP, JUN, "A", c): (37.5, None, None, 3),
            (PP, JUN, "A", t): (0.0, None, None, 1),
            (PP, JUN, None, c): (37.5, None, None, 3),
            (PP, JUN, None, t): (0.0, None, None, 1),
        },
    )


def test_proxy_priority_pools_clients_that_have_a_row() -> None:
    # Add C: timeliness importance 2 (25) and rating 1 (0) → 25 · 100 / 100 = 25 (2
    # responses). All-clients timeliness: importance (75 + 25) / 2 = 50, satisfaction
    # (100 + 0) / 2 = 50 → 25 over 3 responses. B's timeliness rating (no importance in B)
    # stays out.
    extra = responses(
        {"client_id": "C", "submitted_at": ts("2024-06-20 10:00"), "importance_timeliness": 2},
        {"client_id": "C", "submitted_at": ts("2024-06-21 10:00"), "timeliness": 1},
    ).with_columns(pl.format("c{}", pl.col("response_id")).alias("response_id"))
    result = run(proxy_priority, {"survey_responses": pl.concat([PRIORITY, extra])})
    t = "proxy=timeliness"
    expect(
        result.filter(pl.col("segment") == t),
        {
            (PP, JUN, "A", t): (0.0, None, None, 1),
            (PP, JUN, "C", t): (25.0, None, None, 2),
            (PP, JUN, None, t): (25.0, None, None, 3),
        },
    )


def test_proxy_priority_by_quarter() -> None:
    result = run(proxy_priority, {"survey_responses": PRIORITY}, grain="quarter")
    q2 = d("2024-04-01")
    expect(
        result.filter(pl.col("client_id").is_null()),
        {
            (PP, q2, None, "proxy=communication"): (37.5, None, None, 3),
            (PP, q2, None, "proxy=timeliness"): (0.0, None, None, 1),
        },
    )


def test_new_survey_metrics_emit_nothing_for_empty_input() -> None:
    empty = responses()
    for spec in (csat_mean, ces_mean, service_relevance, horizon_satisfaction, perception_gap,
                 lost_time_hours, proxy_priority):  # fmt: skip
        assert run(spec, {"survey_responses": empty}).height == 0
    frames = {"survey_responses": empty, "survey_invitations": invitations()}
    assert run(survey_response_rate_pct, frames).height == 0
