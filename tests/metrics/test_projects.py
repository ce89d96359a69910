"""Project metrics against hand-computed fixtures (expected numbers worked out in comments)."""

from __future__ import annotations

import polars as pl

from cxpipe.metrics.builtin.projects import projects_on_time_pct

from .fixtures import d, expect, projects, run

PROJECTS = projects(
    # A: ends on its planned end day → on time.
    {"client_id": "A", "planned_end": d("2024-03-31"), "actual_end": d("2024-03-31")},
    # A: two days late → late; on time with 2 grace days.
    {"client_id": "A", "planned_end": d("2024-03-10"), "actual_end": d("2024-03-12")},
    # B: early → on time.
    {"client_id": "B", "planned_end": d("2024-04-30"), "actual_end": d("2024-03-15")},
    # B: not completed → not eligible.
    {"client_id": "B", "planned_end": d("2024-03-01"), "actual_end": None},
    # A: a month late, completed in April → late even with grace.
    {"client_id": "A", "planned_end": d("2024-03-01"), "actual_end": d("2024-04-02")},
)
P = "projects_on_time_pct"
MAR, APR = d("2024-03-01"), d("2024-04-01")


def test_projects_on_time() -> None:
    # March: A 1 of 2, B 1 of 1, all 2 of 3. April: A 0 of 1 (a real 0), all 0 of 1.
    # B completed nothing in April → no B April row.
    expect(
        run(projects_on_time_pct, {"projects": PROJECTS}),
        {
            (P, MAR, "A", None): (50.0, 1.0, 2.0, 2),
            (P, MAR, "B", None): (100.0, 1.0, 1.0, 1),
            (P, MAR, None, None): (2 / 3 * 100, 2.0, 3.0, 3),
            (P, APR, "A", None): (0.0, 0.0, 1.0, 1),
            (P, APR, None, None): (0.0, 0.0, 1.0, 1),
        },
    )


def test_projects_on_time_with_grace_days() -> None:
    # Two grace days: the 12 March project (due 10 March) is now on time → March all 3/3.
    # April's project is 32 days late: still late.
    result = run(projects_on_time_pct, {"projects": PROJECTS}, settings={"on_time_grace_days": 2})
    expect(
        result.filter(pl.col("client_id").is_null()),
        {
            (P, MAR, None, None): (100.0, 3.0, 3.0, 3),
            (P, APR, None, None): (0.0, 0.0, 1.0, 1),
        },
    )


def test_projects_on_time_by_quarter_and_week() -> None:
    # Q1: March's three (2 on time); Q2: April's one (late).
    quarters = run(projects_on_time_pct, {"projects": PROJECTS}, grain="quarter")
    expect(
        quarters.filter(pl.col("client_id").is_null()),
        {
            (P, d("2024-01-01"), None, None): (2 / 3 * 100, 2.0, 3.0, 3),
            (P, d("2024-04-01"), None, None): (0.0, 0.0, 1.0, 1),
        },
    )
    # Weeks (Monday starts): 12 Mar → 11 Mar, 15 Mar → 11 Mar, 31 Mar (Sun) → 25 Mar,
    # 2 Apr → 1 Apr. Week of 11 Mar: late + early → 1/2.
    weeks = run(projects_on_time_pct, {"projects": PROJECTS}, grain="week")
    expect(
        weeks.filter(pl.col("client_id").is_null()),
        {
            (P, d("2024-03-11"), None, None): (50.0, 1.0, 2.0, 2),
            (P, d("2024-03-25"), None, None): (100.0, 1.0, 1.0, 1),
            (P, d("2024-04-01"), None, None): (0.0, 0.0, 1.0, 1),
        },
    )
