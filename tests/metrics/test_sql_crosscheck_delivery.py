"""The delivery metrics (tickets and projects) recomputed in plain DuckDB SQL must agree.

The SQL below is written from METRICS.md and docs/metrics.md, not from the polars code:
two independent implementations that agree to 1e-9 (relative) on the demo data (20,000
tickets) and on a random data set full of edge cases, at every grain and with default and
non-default settings, read the contract the same way. It covers every metric of
``TICKET_METRICS`` and ``PROJECT_METRICS``, with the ``request_type`` segments of the
resolution metrics, and the backlog over every period of the data window.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import polars as pl
import pytest

from cxpipe.config import MetricSettings
from cxpipe.metrics.base import Grain, MetricContext, MetricSpec
from cxpipe.metrics.builtin.projects import PROJECT_METRICS
from cxpipe.metrics.builtin.tickets import TICKET_METRICS

from . import sqlcheck
from .fixtures import random_frames

demo_frames = sqlcheck.demo_frames  # the shared fixture: the seeded demo data

SPECS: tuple[MetricSpec, ...] = (*TICKET_METRICS, *PROJECT_METRICS)
TABLES = ("tickets", "projects")
"""The only tables either side sees."""
WINDOW_FROM = (("tickets", "opened_at"), ("tickets", "resolved_at"), ("projects", "actual_end"))
"""The instants whose first and last day make the data window (as a run derives it)."""

CUSTOM_SETTINGS: dict[str, Any] = MetricSettings.model_validate(
    {
        "sla_targets": {
            "critical": {"respond_hours": 0.5, "resolve_hours": 2.5},
            "high": {"respond_hours": 2.25, "resolve_hours": 16},
            "medium": {"respond_hours": None, "resolve_hours": None},
            "low": {"respond_hours": 30, "resolve_hours": 100},
        },
        "on_time_grace_days": 3,
        "budget_tolerance": 0.1,
    }
).model_dump()

STEP: dict[Grain, str] = {
    "week": "INTERVAL 7 DAY",
    "month": "INTERVAL 1 MONTH",
    "quarter": "INTERVAL 3 MONTH",
    "year": "INTERVAL 1 YEAR",
}

# --- the SQL ----------------------------------------------------------------------------


def _targets(settings: Mapping[str, Any], kind: str) -> str:
    """The configured ``<kind>_hours`` per priority as a VALUES table ``t(priority, h)``."""
    rows = [
        f"('{priority}', {float(target[f'{kind}_hours'])}::DOUBLE)"
        for priority, target in settings["sla_targets"].items()
        if target.get(f"{kind}_hours") is not None
    ]
    if not rows:
        return "(SELECT NULL::VARCHAR AS priority, NULL::DOUBLE AS h WHERE false) AS t"
    return f"(VALUES {', '.join(rows)}) AS t(priority, h)"


def _grouped(
    metric: str,
    at: str,
    select: str,
    source: str,
    where: str,
    *,
    segmented: bool = False,
    by: str = "request_type",
) -> str:
    """``select`` per (period of ``at``, client) and per period for all clients; with
    ``segmented``, per value of ``by`` (the request type) instead of overall."""
    segment = f"'{by}=' || {by}" if segmented else "NULL::VARCHAR"
    return f"""
        SELECT '{metric}' AS metric, p, client_id, segment, {select}
        FROM (
            SELECT *, date_trunc($grain, {at})::DATE AS p, {segment} AS segment
            FROM {source}
        ) AS s
        WHERE {where}
        GROUP BY GROUPING SETS ((p, client_id, segment), (p, segment))
    """


def sql_query(grain: Grain, settings: Mapping[str, Any], window: tuple[date, date]) -> str:
    parts: list[str] = []

    def add(metric: str, at: str, select: str, source: str, where: str, *, both: bool) -> None:
        parts.append(_grouped(metric, at, select, source, where))
        if both:
            parts.append(_grouped(metric, at, select, source, where, segmented=True))

    def hours(start: str, end: str) -> str:
        return f"(date_diff('microsecond', {start}, {end}) / 3600000000.0)"

    def share(condition: str, scale: float = 100.0) -> str:
        # A row hits when the condition is true; unknown (a null operand) is not a hit.
        # (DuckDB's count_if over nothing but unknowns is NULL, hence the coalesce.)
        hits = f"count_if(coalesce({condition}, false))"
        return f"{scale}::DOUBLE * {hits} / count(*), {hits}::DOUBLE, count(*)::DOUBLE, count(*)"

    no_ratio = "NULL::DOUBLE, NULL::DOUBLE, count(*)"

    # ticket_volume: tickets opened in the period, overall, per request type and priority.
    add("ticket_volume", "opened_at", f"count(*)::DOUBLE, {no_ratio}", "tickets", "true", both=True)
    volume = f"count(*)::DOUBLE, {no_ratio}"
    parts.append(
        _grouped(
            "ticket_volume", "opened_at", volume, "tickets", "true", segmented=True, by="priority"
        )
    )

    # mttr_critical_hours (+ p50, p90): critical tickets resolved in the period.
    resolve_hours = hours("opened_at", "resolved_at")
    critical = "priority = 'critical' AND resolved_at IS NOT NULL"
    add(
        "mttr_critical_hours",
        "resolved_at",
        f"avg({resolve_hours}), sum({resolve_hours}), count(*)::DOUBLE, count(*)",
        "tickets",
        critical,
        both=False,
    )
    for name, q in (("mttr_critical_hours_p50", 0.5), ("mttr_critical_hours_p90", 0.9)):
        add(
            name,
            "resolved_at",
            f"quantile_cont({resolve_hours}, {q}), {no_ratio}",
            "tickets",
            critical,
            both=False,
        )

    # first_response_hours_p50: tickets opened in the period that have a first response.
    add(
        "first_response_hours_p50",
        "opened_at",
        f"quantile_cont({hours('opened_at', 'first_response_at')}, 0.5), {no_ratio}",
        "tickets",
        "first_response_at IS NOT NULL",
        both=False,
    )

    # SLA compliance: the source's due time, else opened_at + the priority's target.
    for metric, done, due, kind in (
        ("sla_resolution_compliance_pct", "resolved_at", "resolve_due_at", "resolve"),
        ("sla_response_compliance_pct", "first_response_at", "respond_due_at", "respond"),
    ):
        with_due = f"""(
            SELECT tk.*, coalesce(
                tk.{due},
                tk.opened_at + to_microseconds(CAST(round(t.h * 3600000000) AS BIGINT))
            ) AS due
            FROM tickets AS tk LEFT JOIN {_targets(settings, kind)} ON tk.priority = t.priority
        )"""
        add(
            metric,
            done,
            share(f"{done} <= due"),
            with_due,
            f"{done} IS NOT NULL AND due IS NOT NULL",
            both=True,
        )

    # Resolved-ticket shares and the mean hand-offs.
    resolved = "resolved_at IS NOT NULL"
    add("reopen_rate_pct", "resolved_at", share("reopen_count > 0"), "tickets", resolved, both=True)
    add(
        "one_touch_resolution_pct",
        "resolved_at",
        share("reassignment_count = 0 AND reopen_count = 0"),
        "tickets",
        resolved,
        both=True,
    )
    add(
        "reassignments_mean",
        "resolved_at",
        "avg(reassignment_count), sum(reassignment_count)::DOUBLE, count(*)::DOUBLE, count(*)",
        "tickets",
        resolved,
        both=False,
    )

    # backlog_open: for every period of the window, tickets opened before the period's end
    # (the first instant of the next period) and not resolved before it.
    step = STEP[grain]
    first, last = window
    parts.append(f"""
        SELECT 'backlog_open', ps, client_id, NULL::VARCHAR,
               count(*)::DOUBLE, NULL::DOUBLE, NULL::DOUBLE, count(*)
        FROM (
            SELECT g.generate_series::DATE AS ps,
                   (g.generate_series + {step})::TIMESTAMPTZ AS period_end
            FROM generate_series(
                date_trunc($grain, DATE '{first}'), date_trunc($grain, DATE '{last}'), {step}
            ) AS g
        ) AS periods
        JOIN tickets
          ON opened_at < period_end AND (resolved_at IS NULL OR resolved_at >= period_end)
        GROUP BY GROUPING SETS ((ps, client_id), (ps))
    """)

    # Projects: completed ones, in the period of actual_end.
    completed = "actual_end IS NOT NULL"
    grace = int(settings["on_time_grace_days"])
    add(
        "projects_on_time_pct",
        "actual_end",
        share(f"actual_end <= planned_end + INTERVAL {grace} DAY"),
        "projects",
        completed,
        both=False,
    )
    tolerance = float(settings["budget_tolerance"])
    add(
        "projects_on_budget_pct",
        "actual_end",
        share(f"actual_cost <= budget * (1.0::DOUBLE + {tolerance!r}::DOUBLE)"),
        "projects",
        f"{completed} AND budget IS NOT NULL",
        both=False,
    )
    for metric, num, den, scale in (
        ("commitment_kept_ratio", "deliverables_delivered", "deliverables_promised", 1.0),
        ("success_criteria_rate_pct", "success_criteria_met", "success_criteria_total", 100.0),
    ):
        add(
            metric,
            "actual_end",
            f"{scale}::DOUBLE * sum({num}) / sum({den}), sum({num})::DOUBLE,"
            f" sum({den})::DOUBLE, count(*)",
            "projects",
            f"{completed} AND {num} IS NOT NULL AND {den} > 0",
            both=False,
        )
    return "\nUNION ALL\n".join(parts)


# --- the comparison ---------------------------------------------------------------------

SEGMENTED = {
    "ticket_volume",
    "sla_resolution_compliance_pct",
    "sla_response_compliance_pct",
    "reopen_rate_pct",
    "one_touch_resolution_pct",
}
"""The metrics with segment rows (by request type, and for ticket_volume also priority)."""


def check(frames: Mapping[str, pl.DataFrame], grain: Grain, settings: dict[str, Any]) -> None:
    """Every metric of the two modules agrees with the SQL, segments included."""
    window = sqlcheck.data_window(frames, WINDOW_FROM)
    ctx = MetricContext(grain=grain, settings=settings, window=window)
    ours = sqlcheck.polars_results(SPECS, frames, ctx, TABLES)
    theirs = sqlcheck.sql_results(frames, sql_query(grain, settings, window), grain, TABLES)
    sqlcheck.assert_agree(ours, theirs, metrics={n for spec in SPECS for n in spec.metric_names})
    assert set(ours.filter(pl.col("segment").is_not_null())["metric"]) == SEGMENTED


@pytest.fixture(scope="module")
def edge_frames() -> dict[str, pl.DataFrame]:
    """The random edge-case data, with some instants moved onto period boundaries.

    Every 7th ticket is opened at midnight on the first of its month; every 5th resolution
    (and the one two rows later) falls at midnight on the first of its month (of its week,
    a Monday), where that is still after the opening: the instants where "opened before
    the period's end" and "not resolved by then" decide, and where a resolution belongs
    to the next period.
    """
    frames = random_frames(11, n_tickets=1_500, n_responses=10)
    row = pl.int_range(pl.len())
    opened = pl.when(row % 7 == 0).then(pl.col("opened_at").dt.truncate("1mo"))
    boundary = (
        pl.when(row % 5 == 0)
        .then(pl.col("resolved_at").dt.truncate("1mo"))
        .when(row % 5 == 2)
        .then(pl.col("resolved_at").dt.truncate("1w"))
    )
    tickets = frames["tickets"].with_columns(
        opened.otherwise(pl.col("opened_at")).alias("opened_at")
    )
    tickets = tickets.with_columns(
        pl.when(boundary > pl.col("opened_at"))
        .then(boundary)
        .otherwise(pl.col("resolved_at"))
        .alias("resolved_at")
    )
    return {**frames, "tickets": tickets}


test_demo_data_agrees_with_sql, test_edge_case_data_agrees_with_sql = sqlcheck.agreement_tests(
    check, CUSTOM_SETTINGS
)


def test_edge_data_holds_the_awkward_cases(edge_frames: dict[str, pl.DataFrame]) -> None:
    # The edge data set really exercises the choices the SQL and polars must share.
    t, p = edge_frames["tickets"], edge_frames["projects"]
    done = p.filter(pl.col("actual_end").is_not_null())
    assert t.filter(pl.col("first_response_at") == pl.col("respond_due_at")).height > 0
    assert t.filter(
        pl.col("first_response_at").is_null() & pl.col("resolved_at").is_not_null()
    ).height
    assert done.filter(pl.col("budget").is_not_null() & pl.col("actual_cost").is_null()).height
    tie = (pl.col("actual_cost") == pl.col("budget") * 1.1) & (pl.col("budget") > 0)
    assert done.filter(tie).height  # exactly at the 10 % tolerance
    assert done.filter(pl.col("deliverables_promised") == 0).height
    assert done.filter(pl.col("success_criteria_total") == 0).height
    month_start = pl.col("resolved_at") == pl.col("resolved_at").dt.truncate("1mo")
    assert t.filter(month_start & (pl.col("opened_at") < pl.col("resolved_at"))).height
