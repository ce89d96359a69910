"""Feedback-theme metrics: how often client comments raise each theme (METRICS.md, "Detail
tables", ``feedback_themes``).

They count with :func:`cxpipe.details.themes.theme_flags`, which matches comments exactly as
:func:`~cxpipe.details.themes.theme_mentions` fills the ``feedback_themes`` table (the same
matching, without the matched text and polarity the counts don't need), so the numbers and
the table always agree. Only client responses
with a comment count, assigned to the period they were submitted in; each theme is a
segment ``theme=<name>``.
"""

from __future__ import annotations

from typing import Final

import polars as pl

from cxpipe.details.themes import client_comments, lexicon_from_settings, theme_flags
from cxpipe.metrics.aggregate import concat_results, count_rows, ratio
from cxpipe.metrics.base import MetricContext, MetricInfo, MetricSpec, Polarity, metric


@metric(
    name="theme_mentions",
    title="Theme mentions",
    description=(
        "Client responses whose comment mentions the theme, per theme (segment theme=<name>), "
        "from the feedback-theme lexicon."
    ),
    unit="count",
    polarity=Polarity.NEUTRAL,
    inputs=("survey_responses",),
    also_emits=(
        MetricInfo(
            name="theme_share_pct",
            title="Theme share of comments",
            description=(
                "Client responses whose comment mentions the theme ÷ client responses with a "
                "comment × 100, per theme (segment theme=<name>)."
            ),
            unit="%",
            polarity=Polarity.NEUTRAL,
        ),
    ),
)
def theme_metrics(ctx: MetricContext, survey_responses: pl.LazyFrame) -> pl.LazyFrame:
    """``theme_mentions`` and ``theme_share_pct``, by ``submitted_at``.

    The share's denominator is every commented response of the group, so a theme nobody
    mentioned in a group that has comments is a real 0 %, and Σnum ÷ Σden re-aggregates.
    A count of 0 is not emitted (an empty group, METRICS.md conventions).
    """
    lexicon = lexicon_from_settings(ctx.settings)
    commented = client_comments(survey_responses).select("client_id", "submitted_at", "comment")
    every_pair = theme_flags(commented, lexicon).drop("comment")
    hit = pl.col("mentioned")
    return concat_results(
        [
            count_rows(
                every_pair.filter(hit),
                metric="theme_mentions",
                at="submitted_at",
                grain=ctx.grain,
                segment_by="theme",
            ),
            ratio(
                every_pair,
                metric="theme_share_pct",
                at="submitted_at",
                grain=ctx.grain,
                hit=hit,
                segment_by="theme",
            ),
        ]
    )


THEME_METRICS: Final[tuple[MetricSpec, ...]] = (theme_metrics,)
"""The feedback-theme metrics, for :data:`cxpipe.metrics.builtin.CORE_METRICS`."""
