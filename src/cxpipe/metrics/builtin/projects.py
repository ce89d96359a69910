"""Commitment metrics computed from the ``projects`` entity (METRICS.md, "Projects").

A project counts once it is completed (``actual_end`` set) and is assigned to the period
it ended in: that is when the client could judge whether the promise was kept. The
commitment ratios (deliverables, success criteria) are ratios of totals, not means of
per-project ratios, so a large project weighs more than a small one.
"""

from __future__ import annotations

from typing import Final

import polars as pl

from cxpipe.config import MetricSettings
from cxpipe.metrics.aggregate import ratio, sum_ratio
from cxpipe.metrics.base import MetricContext, MetricSpec, Polarity, metric

_DEFAULT_GRACE_DAYS: Final[int] = MetricSettings().on_time_grace_days
_DEFAULT_BUDGET_TOLERANCE: Final[float] = MetricSettings().budget_tolerance


@metric(
    name="projects_on_time_pct",
    title="Projects on time",
    description=(
        "Share of the projects completed in the period that ended no later than their "
        "planned end plus the configured grace days."
    ),
    unit="%",
    polarity=Polarity.HIGHER_IS_BETTER,
    inputs=("projects",),
)
def projects_on_time_pct(ctx: MetricContext, projects: pl.LazyFrame) -> pl.LazyFrame:
    """Completed on time ÷ completed × 100, by ``actual_end``.

    Both ends are calendar dates, so a project that ends on its planned end day (or within
    the grace days after it) is on time.
    """
    grace_days = int(ctx.setting("on_time_grace_days", _DEFAULT_GRACE_DAYS))
    completed = projects.filter(pl.col("actual_end").is_not_null())
    deadline = pl.col("planned_end") + pl.duration(days=grace_days)
    return ratio(
        completed,
        metric="projects_on_time_pct",
        at="actual_end",
        grain=ctx.grain,
        hit=pl.col("actual_end") <= deadline,
    )


def _completed(projects: pl.LazyFrame) -> pl.LazyFrame:
    return projects.filter(pl.col("actual_end").is_not_null())


@metric(
    name="projects_on_budget_pct",
    title="Projects on budget",
    description=(
        "Share of the projects completed in the period with a budget whose actual cost "
        "stayed within the budget plus the configured tolerance."
    ),
    unit="%",
    polarity=Polarity.HIGHER_IS_BETTER,
    inputs=("projects",),
)
def projects_on_budget_pct(ctx: MetricContext, projects: pl.LazyFrame) -> pl.LazyFrame:
    """Completed within ``budget × (1 + budget_tolerance)`` ÷ completed with a budget × 100.

    By ``actual_end``. The denominator is every completed project with a budget, as the
    contract says; one without a recorded ``actual_cost`` cannot be shown to be within
    budget, so it counts as not on budget (it is in the denominator, not the numerator).
    """
    tolerance = float(ctx.setting("budget_tolerance", _DEFAULT_BUDGET_TOLERANCE))
    budgeted = _completed(projects).filter(pl.col("budget").is_not_null())
    within = pl.col("actual_cost") <= pl.col("budget") * (1.0 + tolerance)
    return ratio(
        budgeted,
        metric="projects_on_budget_pct",
        at="actual_end",
        grain=ctx.grain,
        hit=within.fill_null(False),
    )


def _sum_ratio_of_pairs(
    ctx: MetricContext,
    projects: pl.LazyFrame,
    *,
    metric_name: str,
    numerator: str,
    denominator: str,
    scale: float,
) -> pl.LazyFrame:
    """Σ ``numerator`` ÷ Σ ``denominator`` × ``scale`` over the completed projects that
    record both counts and have a ``denominator`` above 0.

    A project missing either count is left out of both sums (its outcome is unknown, it
    neither helps nor hurts). A project that promised (or defined) nothing made no
    commitment to keep, so it is left out too; this also means every emitted group has a
    positive denominator and the per-client rows add up to the all-clients row exactly
    (no client's projects vanish from its own rows while counting in the total).
    """
    counted = _completed(projects).filter(
        pl.col(numerator).is_not_null() & (pl.col(denominator) > 0)
    )
    return sum_ratio(
        counted,
        metric=metric_name,
        at="actual_end",
        grain=ctx.grain,
        numerator=pl.col(numerator),
        denominator=pl.col(denominator),
        scale=scale,
    )


@metric(
    name="commitment_kept_ratio",
    title="Commitments kept",
    description=(
        "Deliverables delivered divided by deliverables promised, over the projects "
        "completed in the period: promise five, deliver four is 0.8."
    ),
    unit="ratio",
    polarity=Polarity.HIGHER_IS_BETTER,
    inputs=("projects",),
)
def commitment_kept_ratio(ctx: MetricContext, projects: pl.LazyFrame) -> pl.LazyFrame:
    """Σ ``deliverables_delivered`` ÷ Σ ``deliverables_promised`` (a ratio, not × 100).

    By ``actual_end``, over completed projects that record both counts and promised at
    least one deliverable. Not capped at 1: delivering more than promised shows as a ratio
    above 1.
    """
    return _sum_ratio_of_pairs(
        ctx,
        projects,
        metric_name="commitment_kept_ratio",
        numerator="deliverables_delivered",
        denominator="deliverables_promised",
        scale=1.0,
    )


@metric(
    name="success_criteria_rate_pct",
    title="Success criteria met",
    description=(
        "Success criteria met as a share of the success criteria defined, over the "
        "projects completed in the period."
    ),
    unit="%",
    polarity=Polarity.HIGHER_IS_BETTER,
    inputs=("projects",),
)
def success_criteria_rate_pct(ctx: MetricContext, projects: pl.LazyFrame) -> pl.LazyFrame:
    """Σ ``success_criteria_met`` ÷ Σ ``success_criteria_total`` × 100, by ``actual_end``.

    Over completed projects that record both counts and defined at least one criterion.
    """
    return _sum_ratio_of_pairs(
        ctx,
        projects,
        metric_name="success_criteria_rate_pct",
        numerator="success_criteria_met",
        denominator="success_criteria_total",
        scale=100.0,
    )


PROJECT_METRICS: tuple[MetricSpec, ...] = (
    projects_on_time_pct,
    projects_on_budget_pct,
    commitment_kept_ratio,
    success_criteria_rate_pct,
)
"""This module's metrics, in catalog order (composed into ``CORE_METRICS``)."""
