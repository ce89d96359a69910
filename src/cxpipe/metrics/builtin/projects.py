"""Commitment metrics computed from the ``projects`` entity (METRICS.md, "Projects").

A project counts once it is completed (``actual_end`` set) and is assigned to the period
it ended in: that is when the client could judge whether the promise was kept.
"""

from __future__ import annotations

from typing import Final

import polars as pl

from cxpipe.config import MetricSettings
from cxpipe.metrics.aggregate import ratio
from cxpipe.metrics.base import MetricContext, Polarity, metric

_DEFAULT_GRACE_DAYS: Final[int] = MetricSettings().on_time_grace_days


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
