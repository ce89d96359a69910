"""Client retention against a hand-computed fixture (expected numbers worked out in comments)."""

from __future__ import annotations

import polars as pl

from cxpipe.metrics.builtin.clients import client_retention_rate_pct

from .fixtures import clients, d, expect, run

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
