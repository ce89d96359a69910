"""The satisfaction and relationship metrics recomputed in plain DuckDB SQL must agree.

The SQL below is written from METRICS.md and the definitions the project's docs add to it
(which responses count, how IT and client ratings are paired, what happens to groups
without invitations), not from the polars code: it reaches the same numbers a different
way (joins and ``GROUPING SETS`` where the polars code stacks and groups frames). It runs on
the demo data and on a random data set full of edge cases, at every grain, with default
and non-default settings, and must agree to 1e-9 (relative).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import polars as pl
import pytest

from cxpipe.config import MetricSettings
from cxpipe.metrics.base import Grain, MetricContext, MetricSpec
from cxpipe.metrics.builtin.clients import detractor_followup_rate_pct
from cxpipe.metrics.builtin.surveys import (
    ces_mean,
    csat_mean,
    horizon_satisfaction,
    lost_time_hours,
    perception_gap,
    proxy_priority,
    service_relevance,
    survey_response_rate_pct,
)
from cxpipe.schemas import PROXIES

from . import sqlcheck
from .fixtures import random_frames

demo_frames = sqlcheck.demo_frames  # the shared fixture: the seeded demo data

SPECS: tuple[MetricSpec, ...] = (
    csat_mean,
    ces_mean,
    service_relevance,
    survey_response_rate_pct,
    horizon_satisfaction,
    perception_gap,
    lost_time_hours,
    proxy_priority,
    detractor_followup_rate_pct,
)

CUSTOM_SETTINGS: dict[str, Any] = MetricSettings.model_validate(
    {
        "proxy_weights": sqlcheck.CUSTOM_PROXY_WEIGHTS,
        "followup_window_business_days": 3.5,
    }
).model_dump()

# --- the SQL ----------------------------------------------------------------------------


def sql_query(settings: Mapping[str, Any]) -> str:
    """One statement computing every metric as (metric, period, client, segment, values)."""
    weights = {p: float(settings["proxy_weights"].get(p, 1.0)) for p in PROXIES}
    weights_table = "(VALUES " + ", ".join(f"('{p}', {w})" for p, w in weights.items()) + ")"
    weighted_sum = " + ".join(f"coalesce({p} * {w}, 0)" for p, w in weights.items())
    weight_total = " + ".join(
        f"CASE WHEN {p} IS NOT NULL THEN {w} ELSE 0 END" for p, w in weights.items()
    )
    window_us = round(float(settings["followup_window_business_days"]) * 24 * 3_600_000_000)

    def unpivot(columns: str) -> str:
        """One row per response and proxy: ``columns`` may use {p}, the proxy's column."""
        return " UNION ALL ".join(
            f"SELECT '{p}' AS proxy, {columns.format(p=p)} FROM responses" for p in PROXIES
        )

    return f"""
    WITH responses AS (
        SELECT *, date_trunc($grain, submitted_at)::DATE AS p FROM survey_responses
    ),
    client AS (SELECT * FROM responses WHERE respondent_side = 'client'),

    -- horizon_satisfaction: the response's CX rating, else its CSAT top-two-box.
    horizon_scores AS (
        SELECT p, client_id, respondent_level AS level,
               CASE
                 WHEN ({weight_total}) > 0
                   THEN (({weighted_sum}) / ({weight_total}) - 1) / 4 * 100
                 WHEN csat IS NOT NULL THEN CASE WHEN csat >= 4 THEN 100.0 ELSE 0.0 END
               END AS score
        FROM client WHERE respondent_level IS NOT NULL
    ),
    horizons AS (
        SELECT p, client_id, 'respondent_level=' || level AS segment,
               avg(score) AS value, sum(score) AS num, count(*)::DOUBLE AS den, count(*) AS n
        FROM horizon_scores WHERE score IS NOT NULL
        GROUP BY GROUPING SETS ((p, client_id, level), (p, level))
    ),

    -- survey_response_rate_pct: invitations define the cells; responses join onto them.
    invited AS (
        SELECT client_id, date_trunc($grain, sent_at)::DATE AS p, survey_kind,
               count(*) AS invitations
        FROM survey_invitations WHERE survey_kind <> 'self_assessment' GROUP BY ALL
    ),
    answered AS (
        SELECT client_id, p, survey_kind, count(*) AS answers
        FROM client WHERE survey_kind <> 'self_assessment' GROUP BY ALL
    ),
    rate_cells AS (
        SELECT i.p, i.client_id, 'survey_kind=' || i.survey_kind AS segment,
               i.invitations, coalesce(a.answers, 0) AS answers
        FROM invited AS i LEFT JOIN answered AS a USING (client_id, p, survey_kind)
        UNION ALL
        SELECT i.p, i.client_id, NULL, i.invitations, coalesce(a.answers, 0)
        FROM (SELECT client_id, p, sum(invitations) AS invitations FROM invited GROUP BY ALL)
             AS i
        LEFT JOIN (SELECT client_id, p, sum(answers) AS answers FROM answered GROUP BY ALL)
             AS a USING (client_id, p)
    ),

    -- perception_gap: cells (period, client, proxy) rated by both sides.
    ratings AS (
        SELECT * FROM ({
        unpivot(
            "response_id, client_id, respondent_side AS side, p, "
            "({p}::DOUBLE - 1) / 4 * 100 AS x, {p} IS NOT NULL AS rated"
        )
    }) WHERE rated AND side IN ('it', 'client')
    ),
    paired AS (
        SELECT p, client_id, proxy,
               sum(x) FILTER (WHERE side = 'it') AS it_sum,
               count(*) FILTER (WHERE side = 'it') AS it_n,
               sum(x) FILTER (WHERE side = 'client') AS cl_sum,
               count(*) FILTER (WHERE side = 'client') AS cl_n
        FROM ratings GROUP BY p, client_id, proxy
        HAVING count(*) FILTER (WHERE side = 'it') > 0
           AND count(*) FILTER (WHERE side = 'client') > 0
    ),
    proxy_gaps AS (
        SELECT p, client_id, proxy, GROUPING(client_id) AS everyone,
               sum(it_sum) / sum(it_n) - sum(cl_sum) / sum(cl_n) AS gap,
               sum(it_n) + sum(cl_n) AS n
        FROM paired GROUP BY GROUPING SETS ((p, client_id, proxy), (p, proxy))
    ),
    weights AS (SELECT * FROM {weights_table} AS w(proxy, weight)),
    gap_responses AS (
        SELECT r.p, r.client_id, GROUPING(r.client_id) AS everyone,
               count(DISTINCT r.response_id) AS n
        FROM ratings AS r
        JOIN paired USING (p, client_id, proxy)
        JOIN weights USING (proxy)
        WHERE weights.weight > 0
        GROUP BY GROUPING SETS ((r.p, r.client_id), (r.p))
    ),
    overall_gaps AS (
        SELECT g.p, g.client_id, g.everyone,
               sum(g.gap * w.weight) / sum(w.weight) AS value
        FROM proxy_gaps AS g JOIN weights AS w USING (proxy)
        WHERE w.weight > 0
        GROUP BY g.p, g.client_id, g.everyone
    ),

    -- proxy_priority: importance and satisfaction, per client with both.
    priority_ratings AS (
        SELECT * FROM ({
        unpivot(
            "client_id, p, respondent_side AS side, "
            "(importance_{p}::DOUBLE - 1) / 4 * 100 AS imp, ({p}::DOUBLE - 1) / 4 * 100 AS sat"
        )
    }) WHERE side = 'client' AND (imp IS NOT NULL OR sat IS NOT NULL)
    ),
    priority_cells AS (
        SELECT p, client_id, proxy, sum(imp) AS imp_sum, count(imp) AS imp_n,
               sum(sat) AS sat_sum, count(sat) AS sat_n, count(*) AS n
        FROM priority_ratings GROUP BY ALL
        HAVING count(imp) > 0 AND count(sat) > 0
    ),

    -- detractor_followup_rate_pct
    detractors AS (
        SELECT c.*,
               c.submitted_at + to_microseconds({window_us}::BIGINT) AS due_by,
               (SELECT min(f.followed_up_at) FROM followups AS f
                 WHERE f.response_id = c.response_id) AS first_call
        FROM client AS c WHERE c.nps_score <= 6 OR c.csat <= 2
    )

    SELECT 'csat_mean', p, client_id, NULL, avg(csat), sum(csat), count(*), count(*)
    FROM client WHERE csat IS NOT NULL GROUP BY GROUPING SETS ((p, client_id), (p))
    UNION ALL
    SELECT 'ces_mean', p, client_id, NULL, avg(ces), sum(ces), count(*), count(*)
    FROM client WHERE ces IS NOT NULL GROUP BY GROUPING SETS ((p, client_id), (p))
    UNION ALL
    SELECT 'service_relevance', p, client_id, NULL, avg((relevance - 1) / 4 * 100),
           sum((relevance - 1) / 4 * 100), count(*), count(*)
    FROM client WHERE relevance IS NOT NULL GROUP BY GROUPING SETS ((p, client_id), (p))
    UNION ALL
    SELECT 'lost_time_hours', p, client_id, NULL, sum(lost_time_minutes / 60), NULL, NULL,
           count(*)
    FROM client WHERE lost_time_minutes IS NOT NULL AND NOT isnan(lost_time_minutes)
    GROUP BY GROUPING SETS ((p, client_id), (p))
    UNION ALL
    SELECT 'lost_time_hours_mean', p, client_id, NULL, avg(lost_time_minutes / 60),
           sum(lost_time_minutes / 60), count(*), count(*)
    FROM client WHERE lost_time_minutes IS NOT NULL AND NOT isnan(lost_time_minutes)
    GROUP BY GROUPING SETS ((p, client_id), (p))
    UNION ALL
    SELECT 'survey_response_rate_pct', p, client_id, segment,
           100.0 * sum(answers) / sum(invitations), sum(answers), sum(invitations),
           sum(invitations)
    FROM rate_cells GROUP BY GROUPING SETS ((p, client_id, segment), (p, segment))
    UNION ALL
    SELECT 'horizon_satisfaction', * FROM horizons
    UNION ALL
    SELECT 'weakest_horizon_score', p, client_id, NULL, min(value), NULL, NULL, sum(n)
    FROM horizons GROUP BY p, client_id
    UNION ALL
    SELECT 'horizon_coverage', p, client_id, NULL, count(*), NULL, NULL, sum(n)
    FROM horizons GROUP BY p, client_id
    UNION ALL
    SELECT 'perception_gap', p, client_id, 'proxy=' || proxy, gap, NULL, NULL, n
    FROM proxy_gaps
    UNION ALL
    SELECT 'perception_gap', o.p, o.client_id, NULL, o.value, NULL, NULL, r.n
    FROM overall_gaps AS o JOIN gap_responses AS r
      ON o.p = r.p AND o.everyone = r.everyone
     AND (o.client_id = r.client_id OR o.everyone = 1)
    UNION ALL
    SELECT 'proxy_priority', p, client_id, 'proxy=' || proxy,
           (sum(imp_sum) / sum(imp_n)) * (100 - sum(sat_sum) / sum(sat_n)) / 100,
           NULL, NULL, sum(n)
    FROM priority_cells GROUP BY GROUPING SETS ((p, client_id, proxy), (p, proxy))
    UNION ALL
    SELECT 'detractor_followup_rate_pct', p, client_id, NULL,
           100.0 * count(*) FILTER (WHERE in_time) / count(*),
           count(*) FILTER (WHERE in_time), count(*), count(*)
    FROM (SELECT *, first_call <= due_by AS in_time FROM detractors)
    GROUP BY GROUPING SETS ((p, client_id), (p))
    """


# --- the comparison ---------------------------------------------------------------------


def check(frames: Mapping[str, pl.DataFrame], grain: Grain, settings: dict[str, Any]) -> None:
    """Every metric the specs emit agrees with the SQL (and the data exercises each one)."""
    ours = sqlcheck.polars_results(SPECS, frames, MetricContext(grain=grain, settings=settings))
    theirs = sqlcheck.sql_results(frames, sql_query(settings), grain)
    sqlcheck.assert_agree(ours, theirs, metrics={n for spec in SPECS for n in spec.metric_names})


@pytest.fixture(scope="module")
def edge_frames() -> dict[str, pl.DataFrame]:
    return random_frames(11, n_tickets=200, n_responses=1_500)


test_demo_data_agrees_with_sql, test_edge_case_data_agrees_with_sql = sqlcheck.agreement_tests(
    check, CUSTOM_SETTINGS
)


# --- the planted effect -------------------------------------------------------------------


def test_demo_perception_gap_is_largest_on_communication(
    demo_frames: dict[str, pl.DataFrame],
) -> None:
    """docs/demo-data.md: IT rates communication 15–20 points above its clients, the other
    proxies only about 5 points apart."""
    lazy = {name: frame.lazy() for name, frame in demo_frames.items()}
    result = perception_gap.compute(MetricContext(grain="year"), lazy).collect()
    everyone = result.filter(pl.col("client_id").is_null())
    full_years = everyone.filter(pl.col("period_start") >= date(2025, 1, 1))
    communication = full_years.filter(pl.col("segment") == "proxy=communication")
    assert communication.height == 2
    assert all(15.0 <= v <= 20.0 for v in communication["value"])
    others = full_years.filter(pl.col("segment").str.starts_with("proxy="))
    others = others.filter(pl.col("segment") != "proxy=communication")
    assert all(0.0 <= v <= 10.0 for v in others["value"])

    # In every quarter with a wave, communication has the largest gap.
    quarterly = perception_gap.compute(MetricContext(grain="quarter"), lazy).collect()
    per_proxy = quarterly.filter(
        pl.col("client_id").is_null() & pl.col("segment").str.starts_with("proxy=")
    )
    largest = per_proxy.sort("value", descending=True).group_by("period_start").first()
    assert largest.height == 8
    assert set(largest["segment"]) == {"proxy=communication"}
