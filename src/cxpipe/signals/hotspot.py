"""``hotspot``: which ticket attributes the dissatisfaction comes from.

Client survey responses linked to a ticket (``survey_responses.ticket_id``) take that
ticket's attributes. Per satisfaction metric, attribute and value: impact = responses ×
(the value's mean score − the overall mean score), so a large team slightly below average
can matter more than a small one far below it.
"""

from __future__ import annotations

from typing import Final

import polars as pl

from cxpipe.analysis import AnalysisContext, signal
from cxpipe.metrics.aggregate import exact_sum, period_end, period_start
from cxpipe.metrics.builtin.surveys import (
    client_responses,
    proxy_weights,
    rescaled,
    response_rating,
)
from cxpipe.signals.trend import NEGATIVE, NEUTRAL, POSITIVE

ATTRIBUTES: Final = ("assignment_group", "category", "channel", "priority", "request_type")
"""The ticket attributes a hotspot can be in."""
UNSET: Final = "(unset)"
"""The attribute value of tickets that have none (kept, so impacts sum to zero)."""


def response_scores(weights: dict[str, float]) -> dict[str, pl.Expr]:
    """Per satisfaction metric, the per-response score whose mean is the metric."""
    return {
        "csat_pct": pl.when(pl.col("csat").is_not_null()).then(
            pl.when(pl.col("csat") >= 4).then(100.0).otherwise(0.0)
        ),
        "nps": pl.when(pl.col("nps_score") >= 9)
        .then(100.0)
        .when(pl.col("nps_score") <= 6)
        .then(-100.0)
        .when(pl.col("nps_score").is_not_null())
        .then(0.0),
        "client_experience_rating": rescaled(response_rating(weights)),
    }


def linked_scores(ctx: AnalysisContext) -> pl.LazyFrame:
    """One row per client response, satisfaction metric and ticket attribute: the response's
    ``score``, the attribute and its ``attribute_value``, ``client_id`` and period start.

    Responses are joined to tickets on ``(client_id, ticket_id)``; a ticket id that two
    source systems use for the same client is ambiguous and left out.
    """
    tickets = (
        ctx.frames["tickets"]
        .select("client_id", "ticket_id", *ATTRIBUTES)
        .filter(pl.len().over("client_id", "ticket_id") == 1)
    )
    responses = client_responses(ctx.frames["survey_responses"]).filter(
        pl.col("ticket_id").is_not_null()
    )
    linked = responses.join(tickets, on=["client_id", "ticket_id"], how="inner").with_columns(
        _period_start=period_start("submitted_at", ctx.grain)
    )
    scores = response_scores(proxy_weights(ctx.metric.settings))
    long = pl.concat(
        [
            linked.select(
                "client_id",
                "_period_start",
                *(pl.col(a).cast(pl.String) for a in ATTRIBUTES),
                metric=pl.lit(name),
                score=expr.cast(pl.Float64),
            )
            for name, expr in scores.items()
        ]
    ).filter(pl.col("score").is_not_null())
    return long.unpivot(
        on=list(ATTRIBUTES),
        index=["client_id", "_period_start", "metric", "score"],
        variable_name="attribute",
        value_name="attribute_value",
    ).with_columns(pl.col("attribute_value").fill_null(UNSET))


def impacts(long: pl.LazyFrame, scope: list[str]) -> pl.LazyFrame:
    """Impact per ``scope`` + metric + attribute + value, ranked within its attribute."""
    within = [*scope, "metric", "attribute"]
    return (
        long.group_by(*within, "attribute_value")
        # exact sums: a float sum's last bit depends on thread order, and a tie between two
        # values' impacts must rank the same way in every run
        .agg(_n=pl.len().cast(pl.Int64), _sum=exact_sum(pl.col("score")))
        .with_columns(
            value=pl.col("_sum") / pl.col("_n"),
            reference=exact_sum(pl.col("_sum")).over(within) / pl.col("_n").sum().over(within),
        )
        .with_columns(
            change=pl.col("value") - pl.col("reference"),
            score=pl.col("_n") * (pl.col("value") - pl.col("reference")),
        )
        .with_columns(
            _rank=pl.col("score").rank("min").over(within).cast(pl.Int64),
            _of=pl.len().over(within),
        )
    )


@signal(
    name="hotspot",
    description=(
        "For csat_pct, nps and client_experience_rating and each ticket attribute "
        "(assignment_group, category, channel, priority, request_type) joined through "
        "survey_responses.ticket_id: per attribute value, impact = responses × (the value's "
        "mean score − the overall mean score). Per period for all clients, and over the "
        "whole data window for all clients and for each client."
    ),
    inputs=("tickets", "survey_responses"),
    column_docs={
        "metric": "The satisfaction metric: csat_pct, nps or client_experience_rating.",
        "period_start": "The period; null for the rows over the whole data window.",
        "segment": "The attribute and its value, e.g. assignment_group=Service Desk.",
        "value": "Mean per-response score of the responses whose ticket has that value.",
        "reference": "Mean per-response score of all linked responses in the same scope.",
        "change": "value − reference.",
        "score": "Impact: responses × change. Sort ascending: the most negative comes first.",
        "direction": "negative / positive by the sign of the impact; neutral when 0.",
        "flagged": "True for the most negative impact of each metric and attribute (if < 0).",
        "detail": "The value's rank by impact within its attribute, and its responses.",
    },
)
def hotspot(ctx: AnalysisContext) -> pl.LazyFrame:
    """Three scopes: (period, all clients), (window, all clients), (window, each client)."""
    long = linked_scores(ctx)
    scope = ["_period_start", "client_id"]
    no_client = pl.lit(None, dtype=pl.String).alias("client_id")
    no_period = pl.lit(None, dtype=pl.Date).alias("_period_start")
    parts = [
        impacts(long.with_columns(no_client), scope),
        impacts(long.with_columns(no_client, no_period), scope),
        impacts(long.with_columns(no_period), scope),
    ]
    impact = pl.col("score")
    return (
        pl.concat(parts)
        .sort(*scope, "metric", "attribute", "score", nulls_last=False)
        .select(
            signal=pl.lit("hotspot"),
            metric="metric",
            period_grain=pl.lit(ctx.grain),
            period_start="_period_start",
            period_end=period_end(pl.col("_period_start"), ctx.grain),
            client_id="client_id",
            segment=pl.format("{}={}", "attribute", "attribute_value"),
            value="value",
            reference="reference",
            change="change",
            score=impact,
            direction=pl.when(impact < 0)
            .then(pl.lit(NEGATIVE))
            .when(impact > 0)
            .then(pl.lit(POSITIVE))
            .otherwise(pl.lit(NEUTRAL)),
            flagged=(pl.col("_rank") == 1) & (impact < 0),
            detail=pl.format("rank {} of {}; {} responses", "_rank", "_of", "_n"),
        )
    )
