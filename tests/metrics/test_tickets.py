"""Ticket metrics against hand-computed fixtures (expected numbers worked out in comments)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from cxpipe.metrics.base import GRAINS, ElapsedClock, Grain, MetricContext
from cxpipe.metrics.builtin.tickets import (
    backlog_open,
    due_at,
    first_response_hours_p50,
    mttr_critical_hours,
    one_touch_resolution_pct,
    reassignments_mean,
    reopen_rate_pct,
    sla_resolution_compliance_pct,
    sla_response_compliance_pct,
    ticket_volume,
    with_due_at,
)

from .fixtures import d, expect, run, run_ctx, tickets, ts


def unsegmented(result: pl.DataFrame) -> pl.DataFrame:
    return result.filter(pl.col("segment").is_null())


# --- ticket_volume -----------------------------------------------------------------------

VOLUME = tickets(
    {"client_id": "A", "request_type": "support", "opened_at": ts("2024-01-05 09:00")},  # Fri
    {"client_id": "A", "request_type": "project", "opened_at": ts("2024-01-20 09:00")},  # Sat
    {"client_id": "B", "request_type": "support", "opened_at": ts("2024-01-31 23:59")},  # Wed
    {"client_id": "B", "request_type": "support", "opened_at": ts("2024-02-01 00:00")},  # Thu
)
V = "ticket_volume"


def test_ticket_volume_by_month_with_request_type_segments() -> None:
    # January: A opened 2 (1 support, 1 project), B 1 (support); all clients 3 (2 + 1).
    # February: only B's ticket opened at midnight on the 1st. Nobody asked for consulting,
    # so there is no consulting row at all (an empty group emits nothing, not 0).
    jan, feb = d("2024-01-01"), d("2024-02-01")
    by_priority = pl.col("segment").str.starts_with("priority=").fill_null(False)
    expect(
        run(ticket_volume, {"tickets": VOLUME}).filter(~by_priority),
        {
            (V, jan, "A", None): (2, None, None, 2),
            (V, jan, "B", None): (1, None, None, 1),
            (V, jan, None, None): (3, None, None, 3),
            (V, jan, "A", "request_type=support"): (1, None, None, 1),
            (V, jan, "A", "request_type=project"): (1, None, None, 1),
            (V, jan, "B", "request_type=support"): (1, None, None, 1),
            (V, jan, None, "request_type=support"): (2, None, None, 2),
            (V, jan, None, "request_type=project"): (1, None, None, 1),
            (V, feb, "B", None): (1, None, None, 1),
            (V, feb, None, None): (1, None, None, 1),
            (V, feb, "B", "request_type=support"): (1, None, None, 1),
            (V, feb, None, "request_type=support"): (1, None, None, 1),
        },
    )


def test_ticket_volume_per_priority_shows_a_surge_of_critical_tickets() -> None:
    # January: A has 2 critical and 1 low, B 1 critical: all clients 3 critical, 1 low.
    surge = tickets(
        {"client_id": "A", "priority": "critical", "opened_at": ts("2024-01-02 09:00")},
        {"client_id": "A", "priority": "critical", "opened_at": ts("2024-01-03 09:00")},
        {"client_id": "A", "priority": "low", "opened_at": ts("2024-01-04 09:00")},
        {"client_id": "B", "priority": "critical", "opened_at": ts("2024-01-05 09:00")},
    )
    jan = d("2024-01-01")
    result = run(ticket_volume, {"tickets": surge}).filter(
        pl.col("segment").str.starts_with("priority=")
    )
    expect(
        result,
        {
            (V, jan, "A", "priority=critical"): (2, None, None, 2),
            (V, jan, "A", "priority=low"): (1, None, None, 1),
            (V, jan, "B", "priority=critical"): (1, None, None, 1),
            (V, jan, None, "priority=critical"): (3, None, None, 3),
            (V, jan, None, "priority=low"): (1, None, None, 1),
        },
    )


def test_ticket_volume_by_week_crosses_month_boundary() -> None:
    # Weeks start on Monday: 5 Jan → week of 1 Jan, 20 Jan → week of 15 Jan, and both
    # 31 Jan and 1 Feb fall in the week of Monday 29 Jan, so B has 2 there.
    result = run(ticket_volume, {"tickets": VOLUME}, grain="week")
    unsegmented = result.filter(pl.col("segment").is_null())
    expect(
        unsegmented,
        {
            (V, d("2024-01-01"), "A", None): (1, None, None, 1),
            (V, d("2024-01-01"), None, None): (1, None, None, 1),
            (V, d("2024-01-15"), "A", None): (1, None, None, 1),
            (V, d("2024-01-15"), None, None): (1, None, None, 1),
            (V, d("2024-01-29"), "B", None): (2, None, None, 2),
            (V, d("2024-01-29"), None, None): (2, None, None, 2),
        },
    )
    assert set(result["period_end"].to_list()) == {
        d("2024-01-07"),
        d("2024-01-21"),
        d("2024-02-04"),
    }
    assert set(result["period_grain"].to_list()) == {"week"}


def test_ticket_volume_by_quarter() -> None:
    # All four tickets are in Q1 2024: A 2, B 2, all 4; support 3, project 1.
    result = run(ticket_volume, {"tickets": VOLUME}, grain="quarter")
    q1 = d("2024-01-01")
    expect(
        result.filter(pl.col("client_id").is_null()),
        {
            (V, q1, None, None): (4, None, None, 4),
            (V, q1, None, "request_type=support"): (3, None, None, 3),
            (V, q1, None, "request_type=project"): (1, None, None, 1),
            (V, q1, None, "priority=medium"): (4, None, None, 4),  # the fixture's default
        },
    )
    assert result["period_end"].unique().to_list() == [d("2024-03-31")]


# --- mttr_critical_hours -----------------------------------------------------------------

CRITICAL = tickets(
    # A: 2 h and 6 h, both resolved in March.
    {"client_id": "A", "priority": "critical", "opened_at": ts("2024-03-01 00:00"),
     "resolved_at": ts("2024-03-01 02:00")},
    {"client_id": "A", "priority": "critical", "opened_at": ts("2024-03-02 00:00"),
     "resolved_at": ts("2024-03-02 06:00")},
    # B: opened in February, resolved in March after 10 h: it belongs to March.
    {"client_id": "B", "priority": "critical", "opened_at": ts("2024-02-29 20:00"),
     "resolved_at": ts("2024-03-01 06:00")},
    # Unresolved critical and a resolved high-priority ticket: not eligible.
    {"client_id": "B", "priority": "critical", "opened_at": ts("2024-03-05 00:00")},
    {"client_id": "A", "priority": "high", "opened_at": ts("2024-03-01 00:00"),
     "resolved_at": ts("2024-03-01 01:00")},
    # A: 48 h, resolved on 1 April.
    {"client_id": "A", "priority": "critical", "opened_at": ts("2024-03-30 00:00"),
     "resolved_at": ts("2024-04-01 00:00")},
)  # fmt: skip


def test_mttr_critical_mean_and_quantiles() -> None:
    # March, A = [2, 6]: mean 4 (8 / 2); p50 = 4; p90 = 2 + 0.9·(6 − 2) = 5.6.
    # March, B = [10]: mean = p50 = p90 = 10.
    # March, all = [2, 6, 10]: mean 6 (18 / 3); p50 = 6; p90 at rank 0.9·2 = 1.8 →
    #   6 + 0.8·(10 − 6) = 9.2.
    # April, A = all = [48]. February has no resolution, so no February row.
    mar, apr = d("2024-03-01"), d("2024-04-01")
    m, p50, p90 = "mttr_critical_hours", "mttr_critical_hours_p50", "mttr_critical_hours_p90"
    expect(
        run(mttr_critical_hours, {"tickets": CRITICAL}),
        {
            (m, mar, "A", None): (4.0, 8.0, 2.0, 2),
            (m, mar, "B", None): (10.0, 10.0, 1.0, 1),
            (m, mar, None, None): (6.0, 18.0, 3.0, 3),
            (m, apr, "A", None): (48.0, 48.0, 1.0, 1),
            (m, apr, None, None): (48.0, 48.0, 1.0, 1),
            (p50, mar, "A", None): (4.0, None, None, 2),
            (p50, mar, "B", None): (10.0, None, None, 1),
            (p50, mar, None, None): (6.0, None, None, 3),
            (p50, apr, "A", None): (48.0, None, None, 1),
            (p50, apr, None, None): (48.0, None, None, 1),
            (p90, mar, "A", None): (5.6, None, None, 2),
            (p90, mar, "B", None): (10.0, None, None, 1),
            (p90, mar, None, None): (9.2, None, None, 3),
            (p90, apr, "A", None): (48.0, None, None, 1),
            (p90, apr, None, None): (48.0, None, None, 1),
        },
    )


def test_mttr_critical_by_quarter() -> None:
    # Q1 all = [2, 6, 10] (mean 6); Q2 all = [48].
    result = run(mttr_critical_hours, {"tickets": CRITICAL}, grain="quarter")
    expect(
        result.filter(pl.col("client_id").is_null()),
        {
            ("mttr_critical_hours", d("2024-01-01"), None, None): (6.0, 18.0, 3.0, 3),
            ("mttr_critical_hours", d("2024-04-01"), None, None): (48.0, 48.0, 1.0, 1),
        },
        metric="mttr_critical_hours",
    )


# --- sla_resolution_compliance_pct -------------------------------------------------------

SLA = tickets(
    # A, high, source due 08:00, resolved exactly at 08:00 → hit (≤).
    {"client_id": "A", "priority": "high", "opened_at": ts("2024-05-01 00:00"),
     "resolve_due_at": ts("2024-05-01 08:00"), "resolved_at": ts("2024-05-01 08:00")},
    # A, high, source due 08:00, resolved 09:00 → miss.
    {"client_id": "A", "priority": "high", "opened_at": ts("2024-05-02 00:00"),
     "resolve_due_at": ts("2024-05-02 08:00"), "resolved_at": ts("2024-05-02 09:00")},
    # A, critical, no source due: default target 4 h → due 04:00, resolved 03:59 → hit.
    {"client_id": "A", "priority": "critical", "opened_at": ts("2024-05-03 00:00"),
     "resolved_at": ts("2024-05-03 03:59")},
    # A, critical, source due 10:00 wins over the 4 h target: resolved 09:00 → hit.
    {"client_id": "A", "priority": "critical", "opened_at": ts("2024-05-04 00:00"),
     "resolve_due_at": ts("2024-05-04 10:00"), "resolved_at": ts("2024-05-04 09:00")},
    # B, low, no due: default 120 h; resolved after 144 h → miss.
    {"client_id": "B", "priority": "low", "opened_at": ts("2024-05-01 00:00"),
     "resolved_at": ts("2024-05-07 00:00")},
    # B, medium, unresolved → not eligible.
    {"client_id": "B", "priority": "medium", "opened_at": ts("2024-05-01 00:00")},
    # B, medium, no due: default 72 h; resolved after 48 h → hit.
    {"client_id": "B", "priority": "medium", "opened_at": ts("2024-05-10 00:00"),
     "resolved_at": ts("2024-05-12 00:00")},
)  # fmt: skip
S = "sla_resolution_compliance_pct"
MAY = d("2024-05-01")


def test_sla_resolution_with_default_targets() -> None:
    # A: 3 hits of 4 → 75 %. B: 1 hit of 2 → 50 %. All: 4 of 6 → 66.67 %.
    # (Every SLA ticket is a support ticket, so the request_type=support segment repeats
    # these rows; test_sla_resolution_segmented_by_request_type checks segments.)
    expect(
        unsegmented(run(sla_resolution_compliance_pct, {"tickets": SLA})),
        {
            (S, MAY, "A", None): (75.0, 3.0, 4.0, 4),
            (S, MAY, "B", None): (50.0, 1.0, 2.0, 2),
            (S, MAY, None, None): (4 / 6 * 100, 4.0, 6.0, 6),
        },
    )


def test_sla_resolution_with_configured_targets_and_no_target() -> None:
    # Critical target 3.5 h → the 03:59 resolution now misses (due 03:30): A 2 of 4 = 50 %.
    # Low has no resolve target and B's low ticket has no source due, so it has no due time
    # at all and is not eligible: B 1 of 1 = 100 %. All: 3 of 5 = 60 %.
    settings = {
        "sla_targets": {
            "critical": {"respond_hours": 1.0, "resolve_hours": 3.5},
            "high": {"respond_hours": 4.0, "resolve_hours": 24.0},
            "medium": {"respond_hours": 8.0, "resolve_hours": 72.0},
            "low": {"respond_hours": 24.0, "resolve_hours": None},
        }
    }
    expect(
        unsegmented(run(sla_resolution_compliance_pct, {"tickets": SLA}, settings=settings)),
        {
            (S, MAY, "A", None): (50.0, 2.0, 4.0, 4),
            (S, MAY, "B", None): (100.0, 1.0, 1.0, 1),
            (S, MAY, None, None): (60.0, 3.0, 5.0, 5),
        },
    )


def test_sla_resolution_without_any_target_uses_source_due_only() -> None:
    # No targets at all: only the three tickets with a source due count, all client A:
    # hit, miss, hit → 2 of 3. B has no eligible ticket, so no B row.
    result = run(sla_resolution_compliance_pct, {"tickets": SLA}, settings={"sla_targets": {}})
    expect(
        unsegmented(result),
        {
            (S, MAY, "A", None): (2 / 3 * 100, 2.0, 3.0, 3),
            (S, MAY, None, None): (2 / 3 * 100, 2.0, 3.0, 3),
        },
    )


def test_sla_resolution_by_week() -> None:
    # Week of Mon 29 Apr (29 Apr–5 May): A's four tickets, resolved 1–4 May → 3/4.
    # Week of Mon 6 May (6–12 May): B's low ticket (Tue 7 May, miss) and medium ticket
    # (Sun 12 May, hit) → 1/2. The all-clients rows equal the single client's each week.
    result = run(sla_resolution_compliance_pct, {"tickets": SLA}, grain="week")
    expect(
        unsegmented(result),
        {
            (S, d("2024-04-29"), "A", None): (75.0, 3.0, 4.0, 4),
            (S, d("2024-04-29"), None, None): (75.0, 3.0, 4.0, 4),
            (S, d("2024-05-06"), "B", None): (50.0, 1.0, 2.0, 2),
            (S, d("2024-05-06"), None, None): (50.0, 1.0, 2.0, 2),
        },
    )


def test_due_time_fallback_is_exact_to_the_microsecond() -> None:
    # 0.001 h = 3.6 s: the fallback due keeps sub-second precision, no float drift.
    settings = {"sla_targets": {"high": {"respond_hours": None, "resolve_hours": 0.001}}}
    frame = tickets({"priority": "high", "opened_at": ts("2024-01-01 00:00")}).lazy()
    due = frame.select(due=due_at("resolve_due_at", settings, "resolve")).collect()
    assert due["due"].to_list() == [ts("2024-01-01 00:00").replace(second=3, microsecond=600_000)]


def test_sla_resolution_segmented_by_request_type() -> None:
    # The SLA tickets with request types: 0 A support hit, 1 A project miss, 2 A support
    # hit, 3 A consulting hit, 4 B support miss, 5 B other (unresolved), 6 B project hit.
    # A: support 2/2, project 0/1 (a real 0), consulting 1/1. B: support 0/1, project 1/1.
    # All: support 2/3 (0, 2, 4), project 1/2 (1, 6), consulting 1/1. "other" has only an
    # unresolved ticket, so it has no row anywhere.
    mixed = SLA.with_columns(
        request_type=pl.Series(
            ["support", "project", "support", "consulting", "support", "other", "project"]
        )
    )
    result = run(sla_resolution_compliance_pct, {"tickets": mixed})
    segmented = result.filter(pl.col("segment").is_not_null())
    sup, pro, con = "request_type=support", "request_type=project", "request_type=consulting"
    expect(
        segmented,
        {
            (S, MAY, "A", sup): (100.0, 2.0, 2.0, 2),
            (S, MAY, "A", pro): (0.0, 0.0, 1.0, 1),
            (S, MAY, "A", con): (100.0, 1.0, 1.0, 1),
            (S, MAY, "B", sup): (0.0, 0.0, 1.0, 1),
            (S, MAY, "B", pro): (100.0, 1.0, 1.0, 1),
            (S, MAY, None, sup): (2 / 3 * 100, 2.0, 3.0, 3),
            (S, MAY, None, pro): (50.0, 1.0, 2.0, 2),
            (S, MAY, None, con): (100.0, 1.0, 1.0, 1),
        },
    )
    # The unsegmented rows are unchanged by the segments: 4 of 6 overall.
    expect(
        unsegmented(result).filter(pl.col("client_id").is_null()),
        {(S, MAY, None, None): (4 / 6 * 100, 4.0, 6.0, 6)},
    )


# --- first_response_hours_p50 ------------------------------------------------------------


def _answered(client: str, opened: str, response: str | None = None) -> dict[str, object]:
    return {
        "client_id": client,
        "opened_at": ts(opened),
        "first_response_at": ts(response) if response else None,
    }


FIRST_RESPONSE = tickets(
    # A, opened in June: 1 h, 4 h and 10 h; a fourth ticket has no response yet.
    _answered("A", "2024-06-01 00:00", "2024-06-01 01:00"),
    _answered("A", "2024-06-02 00:00", "2024-06-02 04:00"),
    _answered("A", "2024-06-03 00:00", "2024-06-03 10:00"),
    _answered("A", "2024-06-04 00:00"),
    # B: opened 30 June 23:00, answered 1 July 01:00 (2 h): it belongs to June (opened).
    _answered("B", "2024-06-30 23:00", "2024-07-01 01:00"),
    # B, July: 0.5 h; and a July ticket without a response.
    _answered("B", "2024-07-01 00:00", "2024-07-01 00:30"),
    _answered("B", "2024-07-02 00:00"),
    # C only has an unanswered ticket: no C row at all (not 0, not NaN).
    _answered("C", "2024-06-05 00:00"),
)
FR = "first_response_hours_p50"
JUN, JUL = d("2024-06-01"), d("2024-07-01")


def test_first_response_median_by_opened_month() -> None:
    # June A = [1, 4, 10] → 4. June B = [2] → 2. June all = [1, 2, 4, 10] → (2 + 4) / 2 = 3.
    # July B = all = [0.5]. Medians carry no numerator or denominator.
    expect(
        run(first_response_hours_p50, {"tickets": FIRST_RESPONSE}),
        {
            (FR, JUN, "A", None): (4.0, None, None, 3),
            (FR, JUN, "B", None): (2.0, None, None, 1),
            (FR, JUN, None, None): (3.0, None, None, 4),
            (FR, JUL, "B", None): (0.5, None, None, 1),
            (FR, JUL, None, None): (0.5, None, None, 1),
        },
    )


def test_first_response_median_by_quarter_and_week() -> None:
    # Q2 = June's four → 3; Q3 = [0.5].
    expect(
        run(first_response_hours_p50, {"tickets": FIRST_RESPONSE}, grain="quarter").filter(
            pl.col("client_id").is_null()
        ),
        {
            (FR, d("2024-04-01"), None, None): (3.0, None, None, 4),
            (FR, d("2024-07-01"), None, None): (0.5, None, None, 1),
        },
    )
    # Weeks: 1 Jun (Sat) and 2 Jun (Sun) → week of Mon 27 May: [1, 4] → 2.5;
    # 3 Jun → week of 3 Jun: [10]; 30 Jun (Sun) → week of 24 Jun: [2];
    # 1 Jul (Mon) → week of 1 Jul: [0.5].
    expect(
        run(first_response_hours_p50, {"tickets": FIRST_RESPONSE}, grain="week").filter(
            pl.col("client_id").is_null()
        ),
        {
            (FR, d("2024-05-27"), None, None): (2.5, None, None, 2),
            (FR, d("2024-06-03"), None, None): (10.0, None, None, 1),
            (FR, d("2024-06-24"), None, None): (2.0, None, None, 1),
            (FR, d("2024-07-01"), None, None): (0.5, None, None, 1),
        },
    )


# --- sla_response_compliance_pct ---------------------------------------------------------

RESPONSE = tickets(
    # A, critical, no source due: default 1 h → due 00:00 + 1 h; answered 00:59 → hit.
    {"client_id": "A", "priority": "critical", "request_type": "support",
     "opened_at": ts("2024-05-01 00:00"), "first_response_at": ts("2024-05-01 00:59")},
    # A, critical, answered exactly at the 1 h due instant → hit (≤).
    {"client_id": "A", "priority": "critical", "request_type": "support",
     "opened_at": ts("2024-05-02 00:00"), "first_response_at": ts("2024-05-02 01:00")},
    # A, high, source due 02:00 wins over the 4 h target: answered 03:00 → miss.
    {"client_id": "A", "priority": "high", "request_type": "project",
     "opened_at": ts("2024-05-03 00:00"), "respond_due_at": ts("2024-05-03 02:00"),
     "first_response_at": ts("2024-05-03 03:00")},
    # A, medium, default 8 h; answered after 9 h → miss.
    {"client_id": "A", "priority": "medium", "request_type": "support",
     "opened_at": ts("2024-05-04 00:00"), "first_response_at": ts("2024-05-04 09:00")},
    # B, low, opened 30 April, answered 1 May after 18 h (target 24 h) → hit, in May: a
    # response counts in the period of the first response.
    {"client_id": "B", "priority": "low", "request_type": "consulting",
     "opened_at": ts("2024-04-30 12:00"), "first_response_at": ts("2024-05-01 06:00")},
    # B, medium, resolved but never responded to → not eligible.
    {"client_id": "B", "priority": "medium", "request_type": "support",
     "opened_at": ts("2024-05-05 00:00"), "resolved_at": ts("2024-05-06 00:00")},
    # B, high, opened 31 May 22:00, answered 1 June 01:00 (3 h ≤ 4 h) → hit, in June.
    {"client_id": "B", "priority": "high", "request_type": "support",
     "opened_at": ts("2024-05-31 22:00"), "first_response_at": ts("2024-06-01 01:00")},
)  # fmt: skip
SR = "sla_response_compliance_pct"


def test_sla_response_with_default_targets_and_segments() -> None:
    # May: A 2 hits of 4 → 50 %; B 1 of 1 → 100 %; all 3 of 5 → 60 %.
    # June: B 1 of 1; all 1 of 1. April has no first response, so no April row.
    # Segments, May: A support = the two critical hits and the medium miss → 2/3;
    # A project = the high miss → 0/1 (a real 0); B consulting 1/1; all support 2/3
    # (B's support ticket has no response); all project 0/1; all consulting 1/1.
    # June: B support 1/1, all support 1/1.
    sup, pro, con = "request_type=support", "request_type=project", "request_type=consulting"
    expect(
        run(sla_response_compliance_pct, {"tickets": RESPONSE}),
        {
            (SR, MAY, "A", None): (50.0, 2.0, 4.0, 4),
            (SR, MAY, "B", None): (100.0, 1.0, 1.0, 1),
            (SR, MAY, None, None): (60.0, 3.0, 5.0, 5),
            (SR, JUN, "B", None): (100.0, 1.0, 1.0, 1),
            (SR, JUN, None, None): (100.0, 1.0, 1.0, 1),
            (SR, MAY, "A", sup): (2 / 3 * 100, 2.0, 3.0, 3),
            (SR, MAY, "A", pro): (0.0, 0.0, 1.0, 1),
            (SR, MAY, "B", con): (100.0, 1.0, 1.0, 1),
            (SR, MAY, None, sup): (2 / 3 * 100, 2.0, 3.0, 3),
            (SR, MAY, None, pro): (0.0, 0.0, 1.0, 1),
            (SR, MAY, None, con): (100.0, 1.0, 1.0, 1),
            (SR, JUN, "B", sup): (100.0, 1.0, 1.0, 1),
            (SR, JUN, None, sup): (100.0, 1.0, 1.0, 1),
        },
    )


def test_sla_response_with_only_a_critical_target() -> None:
    # Only critical has a respond target, 0.5 h: both critical answers (00:59, 01:00) now
    # miss; the high ticket keeps its source due (miss); medium, low and B's June high
    # ticket have no due time at all and are not eligible. A 0 of 3 (a real 0), all 0 of 3,
    # and no B rows and no June rows.
    settings = {"sla_targets": {"critical": {"respond_hours": 0.5, "resolve_hours": 4.0}}}
    result = run(sla_response_compliance_pct, {"tickets": RESPONSE}, settings=settings)
    expect(
        unsegmented(result),
        {
            (SR, MAY, "A", None): (0.0, 0.0, 3.0, 3),
            (SR, MAY, None, None): (0.0, 0.0, 3.0, 3),
        },
    )


def test_sla_response_by_quarter() -> None:
    # Q2 holds all six responses: hits 0, 1, 4 (May) and 6 (June) → 4 of 6.
    result = run(sla_response_compliance_pct, {"tickets": RESPONSE}, grain="quarter")
    expect(
        unsegmented(result).filter(pl.col("client_id").is_null()),
        {(SR, d("2024-04-01"), None, None): (4 / 6 * 100, 4.0, 6.0, 6)},
    )


# --- reopen_rate_pct, one_touch_resolution_pct, reassignments_mean -----------------------

RESOLUTION = tickets(
    # t0 A support: clean → one touch.
    {"client_id": "A", "request_type": "support", "opened_at": ts("2024-07-01 00:00"),
     "resolved_at": ts("2024-07-03 00:00"), "reopen_count": 0, "reassignment_count": 0},
    # t1 A support: reopened once, never reassigned.
    {"client_id": "A", "request_type": "support", "opened_at": ts("2024-07-01 00:00"),
     "resolved_at": ts("2024-07-10 00:00"), "reopen_count": 1, "reassignment_count": 0},
    # t2 A project: reassigned twice, never reopened.
    {"client_id": "A", "request_type": "project", "opened_at": ts("2024-07-01 00:00"),
     "resolved_at": ts("2024-07-15 00:00"), "reopen_count": 0, "reassignment_count": 2},
    # t3 A support: reopened twice and reassigned once.
    {"client_id": "A", "request_type": "support", "opened_at": ts("2024-07-01 00:00"),
     "resolved_at": ts("2024-07-20 00:00"), "reopen_count": 2, "reassignment_count": 1},
    # t4 B support: opened in June, resolved clean in July → July.
    {"client_id": "B", "request_type": "support", "opened_at": ts("2024-06-29 00:00"),
     "resolved_at": ts("2024-07-01 00:00"), "reopen_count": 0, "reassignment_count": 0},
    # t5 B consulting: unresolved → not eligible for any of the three.
    {"client_id": "B", "request_type": "consulting", "opened_at": ts("2024-07-05 00:00"),
     "reopen_count": 1, "reassignment_count": 3},
    # t6 B consulting: resolved in August, reassigned once.
    {"client_id": "B", "request_type": "consulting", "opened_at": ts("2024-07-30 00:00"),
     "resolved_at": ts("2024-08-02 00:00"), "reopen_count": 0, "reassignment_count": 1},
)  # fmt: skip
RO, OT, RM = "reopen_rate_pct", "one_touch_resolution_pct", "reassignments_mean"
AUG = d("2024-08-01")
SUP, PRO, CON = "request_type=support", "request_type=project", "request_type=consulting"


def test_reopen_rate() -> None:
    # July: A reopened t1, t3 of t0–t3 → 2/4 = 50 %; B t4 clean → 0/1 (a real 0);
    # all 2/5 = 40 %. August: B t6 → 0/1. Segments, July: A support t0, t1, t3 → 2/3;
    # A project t2 → 0/1; B support t4 → 0/1; all support t0, t1, t3, t4 → 2/4;
    # all project 0/1. August: B consulting and all consulting 0/1.
    expect(
        run(reopen_rate_pct, {"tickets": RESOLUTION}),
        {
            (RO, JUL, "A", None): (50.0, 2.0, 4.0, 4),
            (RO, JUL, "B", None): (0.0, 0.0, 1.0, 1),
            (RO, JUL, None, None): (40.0, 2.0, 5.0, 5),
            (RO, AUG, "B", None): (0.0, 0.0, 1.0, 1),
            (RO, AUG, None, None): (0.0, 0.0, 1.0, 1),
            (RO, JUL, "A", SUP): (2 / 3 * 100, 2.0, 3.0, 3),
            (RO, JUL, "A", PRO): (0.0, 0.0, 1.0, 1),
            (RO, JUL, "B", SUP): (0.0, 0.0, 1.0, 1),
            (RO, JUL, None, SUP): (50.0, 2.0, 4.0, 4),
            (RO, JUL, None, PRO): (0.0, 0.0, 1.0, 1),
            (RO, AUG, "B", CON): (0.0, 0.0, 1.0, 1),
            (RO, AUG, None, CON): (0.0, 0.0, 1.0, 1),
        },
    )


def test_one_touch_resolution() -> None:
    # One touch = no reassignment and no reopen. July: A only t0 → 1/4 = 25 %; B t4 → 1/1;
    # all t0, t4 → 2/5 = 40 %. August: t6 was reassigned → 0/1.
    # Segments, July: A support t0 of t0, t1, t3 → 1/3; A project 0/1; B support 1/1;
    # all support t0, t4 of four → 2/4; all project 0/1. August consulting 0/1.
    expect(
        run(one_touch_resolution_pct, {"tickets": RESOLUTION}),
        {
            (OT, JUL, "A", None): (25.0, 1.0, 4.0, 4),
            (OT, JUL, "B", None): (100.0, 1.0, 1.0, 1),
            (OT, JUL, None, None): (40.0, 2.0, 5.0, 5),
            (OT, AUG, "B", None): (0.0, 0.0, 1.0, 1),
            (OT, AUG, None, None): (0.0, 0.0, 1.0, 1),
            (OT, JUL, "A", SUP): (1 / 3 * 100, 1.0, 3.0, 3),
            (OT, JUL, "A", PRO): (0.0, 0.0, 1.0, 1),
            (OT, JUL, "B", SUP): (100.0, 1.0, 1.0, 1),
            (OT, JUL, None, SUP): (50.0, 2.0, 4.0, 4),
            (OT, JUL, None, PRO): (0.0, 0.0, 1.0, 1),
            (OT, AUG, "B", CON): (0.0, 0.0, 1.0, 1),
            (OT, AUG, None, CON): (0.0, 0.0, 1.0, 1),
        },
    )


def test_reassignments_mean() -> None:
    # July: A 0 + 0 + 2 + 1 = 3 over 4 → 0.75; B 0 over 1 → 0 (a real 0);
    # all 3 over 5 → 0.6. August: B 1 over 1. The unresolved t5 (3 hand-offs) is not
    # counted anywhere. Not segmented.
    expect(
        run(reassignments_mean, {"tickets": RESOLUTION}),
        {
            (RM, JUL, "A", None): (0.75, 3.0, 4.0, 4),
            (RM, JUL, "B", None): (0.0, 0.0, 1.0, 1),
            (RM, JUL, None, None): (0.6, 3.0, 5.0, 5),
            (RM, AUG, "B", None): (1.0, 1.0, 1.0, 1),
            (RM, AUG, None, None): (1.0, 1.0, 1.0, 1),
        },
    )


def test_resolution_metrics_by_quarter() -> None:
    # Q3 = July + August, all clients: 6 resolved; reopened 2, one touch 2 (t0, t4),
    # reassignments 3 + 1 = 4.
    q3 = d("2024-07-01")
    frames = {"tickets": RESOLUTION}
    everyone = [
        unsegmented(run(spec, frames, grain="quarter")).filter(pl.col("client_id").is_null())
        for spec in (reopen_rate_pct, one_touch_resolution_pct, reassignments_mean)
    ]
    expect(everyone[0], {(RO, q3, None, None): (2 / 6 * 100, 2.0, 6.0, 6)})
    expect(everyone[1], {(OT, q3, None, None): (2 / 6 * 100, 2.0, 6.0, 6)})
    expect(everyone[2], {(RM, q3, None, None): (4 / 6, 4.0, 6.0, 6)})


def test_resolution_metrics_emit_nothing_without_resolved_tickets() -> None:
    # Only t5 (unresolved): no eligible row in any group → empty, not 0 and not NaN.
    unresolved = RESOLUTION.filter(pl.col("resolved_at").is_null())
    for spec in (reopen_rate_pct, one_touch_resolution_pct, reassignments_mean):
        assert run(spec, {"tickets": unresolved}).height == 0


# --- backlog_open --------------------------------------------------------------------------

BACKLOG = tickets(
    # t0 A: opened 10 Jan, resolved 5 Mar → open at the end of January and February.
    {"client_id": "A", "opened_at": ts("2024-01-10 09:00"), "resolved_at": ts("2024-03-05 09:00")},
    # t1 A: opened a minute before January ends, never resolved → open at every end.
    {"client_id": "A", "opened_at": ts("2024-01-31 23:59")},
    # t2 A: opened and resolved within February → never open at a month's end.
    {"client_id": "A", "opened_at": ts("2024-02-01 00:00"), "resolved_at": ts("2024-02-20 00:00")},
    # t3 B: opened 15 Feb, resolved at 1 Mar 00:00, the instant February ends: not resolved
    # before the end, so open at the end of February (it counts as a March resolution).
    {"client_id": "B", "opened_at": ts("2024-02-15 00:00"), "resolved_at": ts("2024-03-01 00:00")},
    # t4 B: open at the end of December 2023 only, resolved 15 Jan.
    {"client_id": "B", "opened_at": ts("2023-12-20 00:00"), "resolved_at": ts("2024-01-15 00:00")},
    # t5 B: opened 1 Nov 2023, never resolved → open at every end from November 2023.
    {"client_id": "B", "opened_at": ts("2023-11-01 00:00")},
    # t6 C: opened 3 May, after the window, never resolved.
    {"client_id": "C", "opened_at": ts("2024-05-03 00:00")},
    # t7 C: opened 30 Apr 23:00, resolved 2 May → open at the end of April.
    {"client_id": "C", "opened_at": ts("2024-04-30 23:00"), "resolved_at": ts("2024-05-02 00:00")},
)  # fmt: skip
BL = "backlog_open"
WINDOW = (d("2024-01-01"), d("2024-04-30"))
FEB, MAR, APR = d("2024-02-01"), d("2024-03-01"), d("2024-04-01")
JAN = d("2024-01-01")


def test_backlog_for_every_period_of_the_window() -> None:
    # End of Jan: A t0, t1 = 2; B t5 = 1 (t4 was resolved on 15 Jan, t3 not yet opened);
    #   all 3.
    # End of Feb: A t0, t1 = 2 (t2 resolved on 20 Feb); B t3, t5 = 2; all 4.
    # End of Mar: A t1 = 1; B t5 = 1; all 2.
    # End of Apr: A t1, B t5, C t7 = 1 each; all 3.
    # December 2023 (t4, t5 open) and May are outside the window: no rows. C has nothing
    # open before April: no C row for January–March (no row, not 0).
    expect(
        run(backlog_open, {"tickets": BACKLOG}, window=WINDOW),
        {
            (BL, JAN, "A", None): (2, None, None, 2),
            (BL, JAN, "B", None): (1, None, None, 1),
            (BL, JAN, None, None): (3, None, None, 3),
            (BL, FEB, "A", None): (2, None, None, 2),
            (BL, FEB, "B", None): (2, None, None, 2),
            (BL, FEB, None, None): (4, None, None, 4),
            (BL, MAR, "A", None): (1, None, None, 1),
            (BL, MAR, "B", None): (1, None, None, 1),
            (BL, MAR, None, None): (2, None, None, 2),
            (BL, APR, "A", None): (1, None, None, 1),
            (BL, APR, "B", None): (1, None, None, 1),
            (BL, APR, "C", None): (1, None, None, 1),
            (BL, APR, None, None): (3, None, None, 3),
        },
    )


def test_backlog_without_a_window_spans_the_tickets() -> None:
    # Span: November 2023 (first opening) to May 2024 (t6 opened 3 May, the latest event).
    # End of Nov: B t5 = 1. End of Dec: B t4, t5 = 2. January–April as with the window.
    # End of May: A t1, B t5, C t6 (t7 was resolved on 2 May) → 1 each, all 3.
    result = run(backlog_open, {"tickets": BACKLOG})
    expect(
        result.filter(pl.col("client_id").is_null()),
        {
            (BL, d("2023-11-01"), None, None): (1, None, None, 1),
            (BL, d("2023-12-01"), None, None): (2, None, None, 2),
            (BL, JAN, None, None): (3, None, None, 3),
            (BL, FEB, None, None): (4, None, None, 4),
            (BL, MAR, None, None): (2, None, None, 2),
            (BL, APR, None, None): (3, None, None, 3),
            (BL, MAY, None, None): (3, None, None, 3),
        },
    )
    may_clients = result.filter(pl.col("period_start") == MAY)["client_id"].drop_nulls()
    assert sorted(may_clients.to_list()) == ["A", "B", "C"]


def test_backlog_by_week_and_quarter() -> None:
    # Weeks of a window 12–25 Feb: the week of Mon 12 Feb ends at 19 Feb 00:00 and the
    # week of 19 Feb at 26 Feb 00:00.
    # 19 Feb: A t0, t1, t2 (resolved 20 Feb, after that end) = 3; B t3, t5 = 2; all 5.
    # 26 Feb: A t0, t1 = 2; B t3, t5 = 2; all 4.
    weeks = run(
        backlog_open,
        {"tickets": BACKLOG},
        grain="week",
        window=(d("2024-02-12"), d("2024-02-25")),
    )
    w1, w2 = d("2024-02-12"), d("2024-02-19")
    expect(
        weeks,
        {
            (BL, w1, "A", None): (3, None, None, 3),
            (BL, w1, "B", None): (2, None, None, 2),
            (BL, w1, None, None): (5, None, None, 5),
            (BL, w2, "A", None): (2, None, None, 2),
            (BL, w2, "B", None): (2, None, None, 2),
            (BL, w2, None, None): (4, None, None, 4),
        },
    )
    # Quarters of the January–April window: Q1 and the partly covered Q2.
    # End of Q1 (1 Apr 00:00): A t1, B t5 (t0 and t3 resolved in March) → all 2.
    # End of Q2 (1 Jul 00:00): A t1, B t5, C t6 (opened 3 May, still open) → all 3.
    quarters = run(backlog_open, {"tickets": BACKLOG}, grain="quarter", window=WINDOW)
    expect(
        quarters.filter(pl.col("client_id").is_null()),
        {
            (BL, d("2024-01-01"), None, None): (2, None, None, 2),
            (BL, d("2024-04-01"), None, None): (3, None, None, 3),
        },
    )


def test_backlog_follows_the_flow_identity() -> None:
    # The end-of-period definition chains: backlog(P) = backlog(P − 1) + opened in P −
    # resolved in P, for every month of the no-window span (Nov 2023 – May 2024).
    backlog = run(backlog_open, {"tickets": BACKLOG}).filter(pl.col("client_id").is_null())
    by_month = dict(zip(backlog["period_start"].to_list(), backlog["value"].to_list(), strict=True))
    months = [d("2023-11-01"), d("2023-12-01"), JAN, FEB, MAR, APR, MAY]
    opened = BACKLOG["opened_at"].dt.truncate("1mo").dt.date().to_list()
    resolved = BACKLOG["resolved_at"].dt.truncate("1mo").dt.date().to_list()
    previous = 0.0
    for month in months:
        expected = previous + opened.count(month) - resolved.count(month)
        assert by_month.get(month, 0.0) == expected, month
        previous = expected


# --- every duration and due time goes through ctx.clock ------------------------------------


class DoubleClock:
    """A stand-in business clock on which every elapsed hour counts as two.

    Durations come out doubled, and a target of H clock hours falls H / 2 elapsed hours
    after the start. Built on the elapsed clock, so only the factor differs.
    """

    unit = "double hours"

    def __init__(self) -> None:
        self.calls: list[str] = []
        self._elapsed = ElapsedClock()

    def with_hours(self, frame: pl.LazyFrame, start: str, end: str, name: str) -> pl.LazyFrame:
        self.calls.append(f"hours {start}→{end}")
        return self._elapsed.with_hours(frame, start, end, name).with_columns(pl.col(name) * 2)

    def with_deadline(
        self, frame: pl.LazyFrame, start: str, hours: pl.Expr, name: str
    ) -> pl.LazyFrame:
        self.calls.append(f"deadline {start}")
        return self._elapsed.with_deadline(frame, start, hours / 2, name)

    def with_deadline_days(
        self, frame: pl.LazyFrame, start: str, days: float, name: str
    ) -> pl.LazyFrame:
        return self.with_deadline(frame, start, pl.lit(days * 24.0), name)


def _on_double_clock() -> tuple[MetricContext, DoubleClock]:
    clock = DoubleClock()
    return MetricContext(grain="month", clock=clock), clock


def test_durations_are_measured_on_the_clock() -> None:
    # On the doubling clock every duration doubles. MTTR March A = [4, 12] → mean 8,
    # p50 8, p90 4 + 0.9·8 = 11.2; all = [4, 12, 20] → mean 12 (36 / 3), p90 12 + 0.8·8
    # = 18.4. First response June all = [2, 4, 8, 20] → (4 + 8) / 2 = 6; July = [1].
    ctx, clock = _on_double_clock()
    mttr = run_ctx(mttr_critical_hours, {"tickets": CRITICAL}, ctx)
    mar = d("2024-03-01")
    expect(
        mttr.filter(pl.col("period_start") == mar),
        {
            ("mttr_critical_hours", mar, "A", None): (8.0, 16.0, 2.0, 2),
            ("mttr_critical_hours", mar, "B", None): (20.0, 20.0, 1.0, 1),
            ("mttr_critical_hours", mar, None, None): (12.0, 36.0, 3.0, 3),
            ("mttr_critical_hours_p50", mar, "A", None): (8.0, None, None, 2),
            ("mttr_critical_hours_p50", mar, "B", None): (20.0, None, None, 1),
            ("mttr_critical_hours_p50", mar, None, None): (12.0, None, None, 3),
            ("mttr_critical_hours_p90", mar, "A", None): (11.2, None, None, 2),
            ("mttr_critical_hours_p90", mar, "B", None): (20.0, None, None, 1),
            ("mttr_critical_hours_p90", mar, None, None): (18.4, None, None, 3),
        },
    )
    first = run_ctx(first_response_hours_p50, {"tickets": FIRST_RESPONSE}, ctx)
    expect(
        first.filter(pl.col("client_id").is_null()),
        {
            (FR, JUN, None, None): (6.0, None, None, 4),
            (FR, JUL, None, None): (1.0, None, None, 1),
        },
    )
    assert clock.calls == ["hours opened_at→resolved_at", "hours opened_at→first_response_at"]


def test_sla_fallback_due_times_are_laid_out_on_the_clock() -> None:
    # On the doubling clock a target of H hours is due H / 2 elapsed hours after opening.
    # Resolution (SLA fixture): the critical 4 h target is due at 02:00, so the 03:59
    # resolution misses; medium 72 h → 36 h, resolved after 48 h → miss; low 120 h → 60 h,
    # resolved after 144 h → miss. Source due times are untouched: hit, miss, hit.
    # A: 2 of 4; B: 0 of 2 (a real 0); all 2 of 6.
    ctx, clock = _on_double_clock()
    expect(
        unsegmented(run_ctx(sla_resolution_compliance_pct, {"tickets": SLA}, ctx)),
        {
            (S, MAY, "A", None): (50.0, 2.0, 4.0, 4),
            (S, MAY, "B", None): (0.0, 0.0, 2.0, 2),
            (S, MAY, None, None): (2 / 6 * 100, 2.0, 6.0, 6),
        },
    )
    # Response (RESPONSE fixture): critical 1 h → due after 30 min, so 00:59 and 01:00
    # miss; medium 8 h → 4 h, 9 h miss; low 24 h → 12 h, 18 h miss; B's June high 4 h →
    # 2 h, answered after 3 h → miss. Only nothing hits: A 0/4, B 0/1 in May, 0/1 in June.
    expect(
        unsegmented(run_ctx(sla_response_compliance_pct, {"tickets": RESPONSE}, ctx)),
        {
            (SR, MAY, "A", None): (0.0, 0.0, 4.0, 4),
            (SR, MAY, "B", None): (0.0, 0.0, 1.0, 1),
            (SR, MAY, None, None): (0.0, 0.0, 5.0, 5),
            (SR, JUN, "B", None): (0.0, 0.0, 1.0, 1),
            (SR, JUN, None, None): (0.0, 0.0, 1.0, 1),
        },
    )
    assert clock.calls == ["deadline opened_at", "deadline opened_at"]


def test_elapsed_clock_due_times_equal_the_wall_clock_expression() -> None:
    # With the default clock, with_due_at gives exactly what due_at always gave, so
    # results without business calendars are unchanged (to the microsecond).
    settings = {"sla_targets": {"high": {"respond_hours": 0.001, "resolve_hours": 3.5}}}
    frame = tickets(
        {"priority": "high", "opened_at": ts("2024-01-01 00:00")},
        {"priority": "low", "opened_at": ts("2024-01-01 00:00")},
        {"priority": "high", "opened_at": ts("2024-01-01 00:00"),
         "resolve_due_at": ts("2024-01-01 01:00")},
    ).lazy()  # fmt: skip
    for column, kind in (("resolve_due_at", "resolve"), ("respond_due_at", "respond")):
        new = with_due_at(
            frame, ElapsedClock(), column=column, settings=settings, kind=kind, name="due"
        )
        old = frame.with_columns(due=due_at(column, settings, kind))
        assert new.collect()["due"].to_list() == old.collect()["due"].to_list()


# --- backlog_open against the definition, ticket by ticket ------------------------------------


def _period_of(day: date, grain: Grain) -> date:
    if grain == "week":
        return day - timedelta(days=day.weekday())
    months = {"month": 1, "quarter": 3, "year": 12}[grain]
    return date(day.year, (day.month - 1) // months * months + 1, 1)


def _next_period(start: date, grain: Grain) -> date:
    if grain == "week":
        return start + timedelta(days=7)
    month = start.month - 1 + {"month": 1, "quarter": 3, "year": 12}[grain]
    return date(start.year + month // 12, month % 12 + 1, 1)


def _backlog_by_definition(
    frame: pl.DataFrame, grain: Grain, window: tuple[date, date] | None
) -> dict[tuple[date, str | None], int]:
    """Open at a period's end E: opened_at < E and (unresolved or resolved_at ≥ E), for
    each period of the window (or of the tickets' span), checked ticket by ticket."""
    rows = list(frame.iter_rows(named=True))
    if window is None:
        instants = [r["opened_at"] for r in rows] + [r["resolved_at"] for r in rows]
        first = min(r["opened_at"] for r in rows).date()
        last = max(i for i in instants if i is not None).date()
    else:
        first, last = window
    counts: dict[tuple[date, str | None], int] = {}
    start = _period_of(first, grain)
    while start <= last:
        end = _next_period(start, grain)
        instant = datetime(end.year, end.month, end.day, tzinfo=UTC)
        for r in rows:
            if r["opened_at"] < instant and (
                r["resolved_at"] is None or r["resolved_at"] >= instant
            ):
                for key in ((start, r["client_id"]), (start, None)):
                    counts[key] = counts.get(key, 0) + 1
        start = end
    return counts


def _random_backlog_tickets(seed: int, n: int = 300) -> pl.DataFrame:
    rng = random.Random(seed)
    base = datetime(2023, 1, 1, tzinfo=UTC)
    rows = []
    for _ in range(n):
        opened = base + timedelta(minutes=rng.randrange(0, 2 * 365 * 24 * 60))
        if rng.random() < 0.1:  # opened exactly at a period start
            opened = datetime(opened.year, opened.month, 1, tzinfo=UTC)
        draw = rng.random()
        if draw < 0.2:
            resolved = None
        elif draw < 0.3:  # resolved before it was opened (bad source data)
            resolved = opened - timedelta(hours=rng.randrange(0, 24 * 90))
        elif draw < 0.45:  # resolved exactly at the first instant of a month
            month = opened.month + rng.randrange(0, 4)
            resolved = datetime(
                opened.year + (month - 1) // 12, (month - 1) % 12 + 1, 1, tzinfo=UTC
            )
        else:
            resolved = opened + timedelta(minutes=rng.randrange(0, 150 * 24 * 60))
        rows.append({"client_id": rng.choice("ABCD"), "opened_at": opened, "resolved_at": resolved})
    return tickets(*rows)


@pytest.mark.parametrize("grain", GRAINS)
@pytest.mark.parametrize(
    "window", [None, (d("2023-03-15"), d("2024-10-02")), (d("2023-06-01"), d("2023-06-30"))]
)
def test_backlog_equals_the_definition_ticket_by_ticket(
    grain: Grain, window: tuple[date, date] | None
) -> None:
    frame = _random_backlog_tickets(7)
    result = run(backlog_open, {"tickets": frame}, grain=grain, window=window)
    got = {(r["period_start"], r["client_id"]): r for r in result.iter_rows(named=True)}
    want = _backlog_by_definition(frame, grain, window)
    assert set(got) == set(want)
    for key, count in want.items():
        assert (got[key]["value"], got[key]["sample_size"]) == (float(count), count), key
        assert got[key]["numerator"] is None
        assert got[key]["denominator"] is None


def test_backlog_ignores_tickets_resolved_before_they_were_opened() -> None:
    # t0 resolved in December, before its January opening: never open at a month's end.
    # t1 resolved earlier the same month it was opened: never open either.
    frame = tickets(
        {"client_id": "A", "opened_at": ts("2024-01-10"), "resolved_at": ts("2023-12-20")},
        {"client_id": "A", "opened_at": ts("2024-02-10"), "resolved_at": ts("2024-02-01")},
        {"client_id": "B", "opened_at": ts("2024-01-10")},
    )
    result = run(backlog_open, {"tickets": frame}, window=(d("2023-12-01"), d("2024-03-31")))
    expect(
        result,
        {
            (BL, JAN, "B", None): (1, None, None, 1),
            (BL, JAN, None, None): (1, None, None, 1),
            (BL, FEB, "B", None): (1, None, None, 1),
            (BL, FEB, None, None): (1, None, None, 1),
            (BL, MAR, "B", None): (1, None, None, 1),
            (BL, MAR, None, None): (1, None, None, 1),
        },
    )


def test_backlog_gaps_and_empty_input() -> None:
    # A client whose backlog empties and refills has no row for the empty periods.
    frame = tickets(
        {"client_id": "A", "opened_at": ts("2024-01-10"), "resolved_at": ts("2024-02-10")},
        {"client_id": "A", "opened_at": ts("2024-04-10"), "resolved_at": ts("2024-05-10")},
    )
    result = run(backlog_open, {"tickets": frame}, window=(d("2024-01-01"), d("2024-06-30")))
    assert sorted(set(result["period_start"].to_list())) == [JAN, APR]
    for window in (None, (d("2024-01-01"), d("2024-06-30"))):
        empty = run(backlog_open, {"tickets": tickets()}, window=window)
        assert empty.height == 0
