"""Ticket metrics against hand-computed fixtures (expected numbers worked out in comments)."""

from __future__ import annotations

import polars as pl

from cxpipe.metrics.builtin.tickets import (
    due_at,
    mttr_critical_hours,
    sla_resolution_compliance_pct,
    ticket_volume,
)

from .fixtures import d, expect, run, tickets, ts

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
    expect(
        run(ticket_volume, {"tickets": VOLUME}),
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
    expect(
        run(sla_resolution_compliance_pct, {"tickets": SLA}),
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
        run(sla_resolution_compliance_pct, {"tickets": SLA}, settings=settings),
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
        result,
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
        result,
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
