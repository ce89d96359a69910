"""Project metrics against hand-computed fixtures (expected numbers worked out in comments)."""

from __future__ import annotations

import polars as pl

from cxpipe.metrics.base import Grain, MetricSpec
from cxpipe.metrics.builtin.projects import (
    commitment_kept_ratio,
    projects_on_budget_pct,
    projects_on_time_pct,
    success_criteria_rate_pct,
)

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


# --- projects_on_budget_pct, commitment_kept_ratio, success_criteria_rate_pct ------------


def _delivered(
    client: str,
    actual_end: str | None,
    budget: tuple[float | None, float | None],
    deliverables: tuple[int | None, int | None],
    criteria: tuple[int | None, int | None],
) -> dict[str, object]:
    """A project: (budget, actual cost), (promised, delivered), (criteria total, met)."""
    return {
        "client_id": client,
        "planned_end": d("2024-03-31"),
        "actual_end": d(actual_end) if actual_end else None,
        "budget": budget[0],
        "actual_cost": budget[1],
        "deliverables_promised": deliverables[0],
        "deliverables_delivered": deliverables[1],
        "success_criteria_total": criteria[0],
        "success_criteria_met": criteria[1],
    }


DELIVERY = projects(
    # p0 A: exactly on budget; promised 5, delivered 4; criteria 3 of 4 met.
    _delivered("A", "2024-03-05", (100.0, 100.0), (5, 4), (4, 3)),
    # p1 A: 8 % over budget; all 3 deliverables; both criteria met.
    _delivered("A", "2024-03-20", (100.0, 108.0), (3, 3), (2, 2)),
    # p2 A: no budget → not in on-budget; promised unknown → not in commitments; criteria
    # outcome unknown → not in success criteria.
    _delivered("A", "2024-03-25", (None, 50.0), (None, 2), (3, None)),
    # p3 A: a budget but no recorded cost → in the on-budget denominator, not the
    # numerator; delivered nothing of 2; defined no criteria (0) → not counted there.
    _delivered("A", "2024-03-28", (100.0, None), (2, 0), (0, 0)),
    # p4 B: under budget; promised nothing (0) → no commitment to keep, not counted;
    # criteria unknown.
    _delivered("B", "2024-03-10", (50.0, 40.0), (0, 1), (None, None)),
    # p5 B: not completed → counted nowhere.
    _delivered("B", None, (10.0, 100.0), (5, 0), (2, 0)),
    # p6 A, April: 50 % over budget; delivered 5 of 4 (over-delivery); 1 of 5 criteria.
    _delivered("A", "2024-04-02", (100.0, 150.0), (4, 5), (5, 1)),
    # p7 B, April: budget 0 and cost 0 → on budget; delivered 1 of 2; 1 of 1 criterion.
    _delivered("B", "2024-04-15", (0.0, 0.0), (2, 1), (1, 1)),
)
OB, CK, SC = "projects_on_budget_pct", "commitment_kept_ratio", "success_criteria_rate_pct"


def test_projects_on_budget() -> None:
    # March: A p0 hit, p1 miss, p3 miss (no cost) → 1/3; B p4 → 1/1; all 2/4 = 50 %.
    # April: A p6 miss → 0/1 (a real 0); B p7 → 1/1; all 1/2.
    expect(
        run(projects_on_budget_pct, {"projects": DELIVERY}),
        {
            (OB, MAR, "A", None): (1 / 3 * 100, 1.0, 3.0, 3),
            (OB, MAR, "B", None): (100.0, 1.0, 1.0, 1),
            (OB, MAR, None, None): (50.0, 2.0, 4.0, 4),
            (OB, APR, "A", None): (0.0, 0.0, 1.0, 1),
            (OB, APR, "B", None): (100.0, 1.0, 1.0, 1),
            (OB, APR, None, None): (50.0, 1.0, 2.0, 2),
        },
    )


def test_projects_on_budget_with_tolerance() -> None:
    # 10 % tolerance: p1 (108 ≤ 110) is now on budget → March A 2/3, all 3/4. p3 still
    # has no cost; p6 (150 > 110) is still over → April unchanged.
    result = run(projects_on_budget_pct, {"projects": DELIVERY}, settings={"budget_tolerance": 0.1})
    expect(
        result,
        {
            (OB, MAR, "A", None): (2 / 3 * 100, 2.0, 3.0, 3),
            (OB, MAR, "B", None): (100.0, 1.0, 1.0, 1),
            (OB, MAR, None, None): (75.0, 3.0, 4.0, 4),
            (OB, APR, "A", None): (0.0, 0.0, 1.0, 1),
            (OB, APR, "B", None): (100.0, 1.0, 1.0, 1),
            (OB, APR, None, None): (50.0, 1.0, 2.0, 2),
        },
    )


def test_commitment_kept_ratio() -> None:
    # A ratio, not × 100. March A: p0 4/5, p1 3/3, p3 0/2 → Σ 7 ÷ Σ 10 = 0.7 over 3
    # projects (p2 has no promise recorded). B's only March project promised 0 → no B row.
    # All March = A's. April: A p6 5/4 = 1.25 (not capped); B p7 1/2 = 0.5; all 6/6 = 1.
    expect(
        run(commitment_kept_ratio, {"projects": DELIVERY}),
        {
            (CK, MAR, "A", None): (0.7, 7.0, 10.0, 3),
            (CK, MAR, None, None): (0.7, 7.0, 10.0, 3),
            (CK, APR, "A", None): (1.25, 5.0, 4.0, 1),
            (CK, APR, "B", None): (0.5, 1.0, 2.0, 1),
            (CK, APR, None, None): (1.0, 6.0, 6.0, 2),
        },
    )


def test_success_criteria_rate() -> None:
    # March A: p0 3/4, p1 2/2 (p2's outcome unknown, p3 defined none) → 5/6 over 2
    # projects; B has no criteria → no B row; all = A's. April: A p6 1/5 = 20 %;
    # B p7 1/1; all 2/6.
    expect(
        run(success_criteria_rate_pct, {"projects": DELIVERY}),
        {
            (SC, MAR, "A", None): (5 / 6 * 100, 5.0, 6.0, 2),
            (SC, MAR, None, None): (5 / 6 * 100, 5.0, 6.0, 2),
            (SC, APR, "A", None): (20.0, 1.0, 5.0, 1),
            (SC, APR, "B", None): (100.0, 1.0, 1.0, 1),
            (SC, APR, None, None): (2 / 6 * 100, 2.0, 6.0, 2),
        },
    )


def test_delivery_project_metrics_by_quarter_and_year() -> None:
    # Quarters: Q1 = March, Q2 = April (all clients). Year 2024: on budget 3 of 6;
    # commitments 13 ÷ 16 = 0.8125 over 5 projects; criteria 7 ÷ 12 over 4 projects.
    q1, q2 = d("2024-01-01"), d("2024-04-01")
    frames = {"projects": DELIVERY}

    def everyone(spec: MetricSpec, grain: Grain) -> pl.DataFrame:
        return run(spec, frames, grain=grain).filter(pl.col("client_id").is_null())

    expect(
        everyone(projects_on_budget_pct, "quarter"),
        {(OB, q1, None, None): (50.0, 2.0, 4.0, 4), (OB, q2, None, None): (50.0, 1.0, 2.0, 2)},
    )
    expect(
        everyone(commitment_kept_ratio, "quarter"),
        {(CK, q1, None, None): (0.7, 7.0, 10.0, 3), (CK, q2, None, None): (1.0, 6.0, 6.0, 2)},
    )
    expect(
        everyone(success_criteria_rate_pct, "quarter"),
        {
            (SC, q1, None, None): (5 / 6 * 100, 5.0, 6.0, 2),
            (SC, q2, None, None): (2 / 6 * 100, 2.0, 6.0, 2),
        },
    )
    y = d("2024-01-01")
    expect(everyone(projects_on_budget_pct, "year"), {(OB, y, None, None): (50.0, 3.0, 6.0, 6)})
    expect(everyone(commitment_kept_ratio, "year"), {(CK, y, None, None): (0.8125, 13.0, 16.0, 5)})
    expect(
        everyone(success_criteria_rate_pct, "year"),
        {(SC, y, None, None): (7 / 12 * 100, 7.0, 12.0, 4)},
    )


def test_delivery_project_metrics_emit_nothing_without_eligible_projects() -> None:
    # Only the unfinished p5, or completed projects without any of the counts: no rows
    # (not 0, not NaN) — including a group whose promises sum to 0.
    unfinished = DELIVERY.filter(pl.col("actual_end").is_null())
    nothing_known = DELIVERY.filter(pl.col("project_id").is_in(["p2", "p4"]))
    for spec in (projects_on_budget_pct, commitment_kept_ratio, success_criteria_rate_pct):
        assert run(spec, {"projects": unfinished}).height == 0
    assert run(commitment_kept_ratio, {"projects": nothing_known}).height == 0
    assert run(success_criteria_rate_pct, {"projects": nothing_known}).height == 0
