"""The default Customer Service Action Plan rules, and the helpers they are built from.

A rule reads the run's metric values and signals and returns one row per client, period
and segment where it triggers. Target rules compare a metric with its configured target
(``[action_plan].targets``); signal rules turn a signal row (a negative trend, a flagged
anomaly or expectation gap) into an action. Severity comes from configurable bands; the
recommended action is a default sentence per rule that ``[action_plan].actions`` can
replace. See ``docs/action-plan.md``.

A plugin's own rule can use :func:`plan_rule` and :func:`threshold_misses` too::

    @plan_rule(name="acme.csat_below_target", principle="standards",
               description="csat_pct below target", action="Review every 1-2 score weekly.")
    def csat_below_target(ctx, settings):
        return threshold_misses(ctx, settings, "csat_pct", default_bound="floor")
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import polars as pl

from cxpipe.actions.settings import ActionPlanSettings
from cxpipe.analysis import (
    ACTION_RESULT,
    SIGNAL_RESULT,
    ActionRule,
    AnalysisContext,
    action_rule,
    conform_to,
    empty,
)
from cxpipe.metrics.base import Polarity

Bound = Literal["floor", "ceiling"]
"""A floor is missed by a value below it, a ceiling by a value above it."""

RuleBody = Callable[[AnalysisContext, ActionPlanSettings], pl.LazyFrame]
"""What :func:`plan_rule` decorates: the triggered rows with ``client_id``,
``period_grain``, ``period_start``, ``period_end``, ``segment``, ``trigger_metric``,
``observed``, ``target`` and ``severity_rank`` (3 high, 2 medium, 1 low)."""

HIGH, MEDIUM, LOW = 3, 2, 1

RETENTION = "client_retention_rate_pct"

DEFAULT_ACTIONS: dict[str, str] = {
    "alignment.relevance_below_target": (
        "Review the service catalogue with the client's leadership this quarter: retire or "
        "reshape the services they rate as poor fits and agree the three priorities IT "
        "funds next."
    ),
    "alignment.horizon_below_target": (
        "Meet the dissatisfied horizon (see segment) within a month to relearn its goals; "
        "agree one visible change and name an IT sponsor accountable for delivering it."
    ),
    "standards.sla_compliance_below_target": (
        "Review every breached ticket with the resolver groups weekly, fix the top breach "
        "cause (queueing, skills or hand-offs) and alert owners before due times pass."
    ),
    "standards.reopen_rate_above_target": (
        "Close tickets only after the requester confirms the fix, and review reopened "
        "tickets weekly for root cause with the teams that reopen most."
    ),
    "standards.mttr_critical_above_target": (
        "Run a post-incident review of every critical ticket over target and staff a "
        "major-incident on-call rota with a 15-minute escalation path."
    ),
    "communication.cx_communication_below_target": (
        "Send proactive status updates on open tickets and projects (daily for high "
        "priority) and publish a monthly service report to the client."
    ),
    "communication.perception_gap_above_target": (
        "Show the IT teams the client's ratings next to their self-assessment and agree with "
        "the client what good looks like on the proxies with the widest gap."
    ),
    "partnership.retention_falling": (
        "Have an IT executive meet every departing or at-risk client to learn why, and hold "
        "a relationship review with each remaining key account this quarter."
    ),
    "partnership.detractor_followup_below_target": (
        "Call back every detractor within two business days; assign an owner per client "
        "and track each call-back to closure."
    ),
    "partnership.expectation_gap": (
        "Reset expectations with the client: walk through the delivery record (SLA, "
        "on-time projects, commitments kept) against their ratings and agree targets "
        "both sides accept."
    ),
    "continuous_improvement.negative_trend": (
        "Find the cause of the decline with the metric's owner (hotspots by group, "
        "category and channel) and commit to one corrective change, reviewed next period."
    ),
    "continuous_improvement.anomaly": (
        "Investigate the anomaly within a week: confirm the data, find the event behind "
        "it, and decide whether the process needs a lasting change."
    ),
}
"""The recommended action of each core rule, unless ``[action_plan].actions`` replaces it."""


def plan_settings(ctx: AnalysisContext) -> ActionPlanSettings:
    """The run's ``[action_plan]`` settings (the defaults when the context has none)."""
    return ActionPlanSettings.model_validate(ctx.section("action_plan"))


def bound_for(ctx: AnalysisContext, metric: str, default: Bound) -> Bound:
    """A floor when the catalog says higher is better, a ceiling when lower is better,
    ``default`` when the metric is neutral or not in the catalog."""
    info = ctx.catalog.get(metric)
    polarity = info.polarity if info is not None else None
    if polarity == Polarity.HIGHER_IS_BETTER:
        return "floor"
    if polarity == Polarity.LOWER_IS_BETTER:
        return "ceiling"
    return default


def _bands(settings: ActionPlanSettings, metric: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """The ``high`` and ``medium`` band of each row's metric."""
    over = settings.severity_by_metric

    def lookup(mapping: dict[str, float], default: float) -> pl.Expr:
        return metric.replace_strict(mapping, default=default, return_dtype=pl.Float64)

    return (
        lookup({m: b.high for m, b in over.items()}, settings.severity.high),
        lookup({m: b.medium for m, b in over.items()}, settings.severity.medium),
    )


def miss_rank(settings: ActionPlanSettings, miss_pct: pl.Expr, metric: pl.Expr) -> pl.Expr:
    """Severity rank of a miss given in % of its yardstick; null or NaN is ``medium``."""
    high, medium = _bands(settings, metric)
    return (
        pl.when(miss_pct.is_null() | miss_pct.is_nan())
        .then(pl.lit(MEDIUM))
        .when(miss_pct >= high)
        .then(pl.lit(HIGH))
        .when(miss_pct >= medium)
        .then(pl.lit(MEDIUM))
        .otherwise(pl.lit(LOW))
    )


def _trend_rank(settings: ActionPlanSettings, metric: pl.Expr) -> pl.Expr:
    """Severity of a falling trend: its change in % of the previous value (``reference``)."""
    change = pl.coalesce(pl.col("change"), pl.col("value") - pl.col("reference"))
    return miss_rank(settings, change.abs() * 100 / pl.col("reference").abs(), metric)


def severity_label(rank: pl.Expr) -> pl.Expr:
    return (
        pl.when(rank >= HIGH)
        .then(pl.lit("high"))
        .when(rank == MEDIUM)
        .then(pl.lit("medium"))
        .otherwise(pl.lit("low"))
    )


def signal_rows(
    ctx: AnalysisContext, signal: str, metrics: Sequence[str] | None = None
) -> pl.LazyFrame:
    """The run's ``signal`` rows that sit in a period (of ``metrics`` when given)."""
    signals = ctx.signals if ctx.signals is not None else empty(SIGNAL_RESULT)
    rows = signals.filter(
        (pl.col("signal") == signal)
        & pl.col("period_start").is_not_null()
        & pl.col("period_end").is_not_null()
    )
    return rows if metrics is None else rows.filter(pl.col("metric").is_in(list(metrics)))


def threshold_misses(
    ctx: AnalysisContext,
    settings: ActionPlanSettings,
    metric: str,
    *,
    default_bound: Bound,
    segments: Sequence[str] | None = None,
) -> pl.LazyFrame:
    """Rows of ``metric`` (in ``segments`` when given) that miss the metric's target.

    The bound comes from the metric's polarity (:func:`bound_for`); a value equal to the
    target meets it. Severity is the miss in % of the target, through the bands.
    """
    target = settings.targets.get(metric)
    if target is None:
        return empty(ACTION_RESULT)
    value = pl.col("value")
    miss = (target - value) if bound_for(ctx, metric, default_bound) == "floor" else value - target
    rows = ctx.metric_values.filter(pl.col("metric") == metric)
    if segments is not None:
        rows = rows.filter(pl.col("segment").is_in(list(segments)))
    return rows.filter(miss > 0).with_columns(
        trigger_metric=pl.col("metric"),
        observed=value,
        target=pl.lit(target, dtype=pl.Float64),
        severity_rank=miss_rank(settings, miss * 100 / abs(target), pl.col("metric")),
    )


def _finish(
    ctx: AnalysisContext,
    settings: ActionPlanSettings,
    rows: pl.LazyFrame,
    *,
    rule: str,
    principle: str,
    action: str,
) -> pl.LazyFrame:
    """Label the triggered rows with the rule, severity and action; keep the wanted periods."""
    if "severity_rank" not in rows.collect_schema().names():
        rows = rows.with_columns(severity_rank=pl.lit(MEDIUM))
    labelled = rows.with_columns(
        principle=pl.lit(principle),
        rule=pl.lit(rule),
        severity=severity_label(pl.col("severity_rank")),
        recommended_action=pl.lit(settings.actions.get(rule, action)),
    )
    if settings.periods == "latest":
        latest = ctx.metric_values.group_by("period_grain").agg(pl.col("period_start").max())
        labelled = labelled.join(latest, on=["period_grain", "period_start"], how="semi")
    return conform_to(labelled, ACTION_RESULT)


def plan_rule(
    *, name: str, principle: str, description: str, action: str | None = None
) -> Callable[[RuleBody], ActionRule]:
    """:func:`cxpipe.analysis.action_rule` for a body ``fn(ctx, settings)`` returning only
    the triggered rows (see :data:`RuleBody`); adds ``principle``, ``rule``, ``severity``
    and ``recommended_action`` (``action``, or the core default, unless the config replaces
    it) and applies ``[action_plan].periods``."""
    default = action if action is not None else DEFAULT_ACTIONS.get(name)
    if not default:
        raise ValueError(f"rule {name!r}: give the recommended action")

    def decorate(body: RuleBody) -> ActionRule:
        def function(ctx: AnalysisContext) -> pl.LazyFrame:
            settings = plan_settings(ctx)
            rows = body(ctx, settings)
            return _finish(ctx, settings, rows, rule=name, principle=principle, action=default)

        function.__qualname__ = body.__qualname__
        function.__doc__ = body.__doc__
        return action_rule(name=name, principle=principle, description=description)(function)

    return decorate


# --- alignment ---------------------------------------------------------------------------


@plan_rule(
    name="alignment.relevance_below_target",
    principle="alignment",
    description="service_relevance below its target: the services offered miss the "
    "client's needs and priorities.",
)
def relevance_below_target(ctx: AnalysisContext, settings: ActionPlanSettings) -> pl.LazyFrame:
    return threshold_misses(ctx, settings, "service_relevance", default_bound="floor")


@plan_rule(
    name="alignment.horizon_below_target",
    principle="alignment",
    description="horizon_satisfaction of a horizon in horizon_levels (company and "
    "business_user by default) below its target.",
)
def horizon_below_target(ctx: AnalysisContext, settings: ActionPlanSettings) -> pl.LazyFrame:
    segments = [f"respondent_level={level}" for level in settings.horizon_levels]
    return threshold_misses(
        ctx, settings, "horizon_satisfaction", default_bound="floor", segments=segments
    )


# --- standards ---------------------------------------------------------------------------


@plan_rule(
    name="standards.sla_compliance_below_target",
    principle="standards",
    description="sla_resolution_compliance_pct worse than its target.",
)
def sla_compliance_below_target(ctx: AnalysisContext, settings: ActionPlanSettings) -> pl.LazyFrame:
    return threshold_misses(ctx, settings, "sla_resolution_compliance_pct", default_bound="floor")


@plan_rule(
    name="standards.reopen_rate_above_target",
    principle="standards",
    description="reopen_rate_pct worse than its target.",
)
def reopen_rate_above_target(ctx: AnalysisContext, settings: ActionPlanSettings) -> pl.LazyFrame:
    return threshold_misses(ctx, settings, "reopen_rate_pct", default_bound="ceiling")


@plan_rule(
    name="standards.mttr_critical_above_target",
    principle="standards",
    description="mttr_critical_hours (mean time to resolve critical tickets) worse than "
    "its target.",
)
def mttr_critical_above_target(ctx: AnalysisContext, settings: ActionPlanSettings) -> pl.LazyFrame:
    return threshold_misses(ctx, settings, "mttr_critical_hours", default_bound="ceiling")


# --- communication -----------------------------------------------------------------------


@plan_rule(
    name="communication.cx_communication_below_target",
    principle="communication",
    description="cx_communication (clients' rating of how they are kept informed) below "
    "its target.",
)
def cx_communication_below_target(
    ctx: AnalysisContext, settings: ActionPlanSettings
) -> pl.LazyFrame:
    return threshold_misses(ctx, settings, "cx_communication", default_bound="floor")


@plan_rule(
    name="communication.perception_gap_above_target",
    principle="communication",
    description="perception_gap (IT's self-rating minus the clients' rating), overall or "
    "per proxy, above its target.",
)
def perception_gap_above_target(ctx: AnalysisContext, settings: ActionPlanSettings) -> pl.LazyFrame:
    return threshold_misses(ctx, settings, "perception_gap", default_bound="ceiling")


# --- partnership -------------------------------------------------------------------------


@plan_rule(
    name="partnership.retention_falling",
    principle="partnership",
    description="client_retention_rate_pct with a negative trend, or below its target when "
    "one is set.",
)
def retention_falling(ctx: AnalysisContext, settings: ActionPlanSettings) -> pl.LazyFrame:
    """Joins the metric (for the target check) with its negative trends; one row per period
    where either triggers, with the worse of the two severities."""
    keys = ["client_id", "segment", "period_grain", "period_start"]
    target = settings.targets.get(RETENTION)
    values = ctx.metric_values.filter(pl.col("metric") == RETENTION).select(
        *keys, "period_end", "value"
    )
    trends = (
        signal_rows(ctx, "trend", [RETENTION])
        .filter(pl.col("direction") == "negative")
        .select(
            *keys,
            trend_end="period_end",
            trend_value="value",
            reference="reference",
            change="change",
            falling=pl.lit(True),
        )
    )
    joined = values.join(trends, on=keys, how="full", coalesce=True, nulls_equal=True)
    observed = pl.coalesce("value", "trend_value")
    falling = pl.col("falling").fill_null(False)
    metric = pl.lit(RETENTION)
    if target is None:
        below, miss_rank_expr = pl.lit(False), pl.lit(0)
    else:
        below = observed < target
        miss = (target - observed) * 100 / abs(target)
        miss_rank_expr = pl.when(below).then(miss_rank(settings, miss, metric)).otherwise(0)
    trend_rank = pl.when(falling).then(
        miss_rank(
            settings,
            pl.coalesce("change", pl.col("trend_value") - pl.col("reference")).abs()
            * 100
            / pl.col("reference").abs(),
            metric,
        )
    )
    return joined.filter(falling | below).select(
        *keys,
        period_end=pl.coalesce("period_end", "trend_end"),
        trigger_metric=metric,
        observed=observed,
        target=pl.lit(target, dtype=pl.Float64) if target is not None else pl.col("reference"),
        severity_rank=pl.max_horizontal(miss_rank_expr, trend_rank.fill_null(0)),
    )


@plan_rule(
    name="partnership.detractor_followup_below_target",
    principle="partnership",
    description="detractor_followup_rate_pct (detractors called back in time) below its target.",
)
def detractor_followup_below_target(
    ctx: AnalysisContext, settings: ActionPlanSettings
) -> pl.LazyFrame:
    return threshold_misses(ctx, settings, "detractor_followup_rate_pct", default_bound="floor")


@plan_rule(
    name="partnership.expectation_gap",
    principle="partnership",
    description="A flagged expectation_gap signal: the client's satisfaction and IT's "
    "delivery record disagree.",
)
def expectation_gap(ctx: AnalysisContext, settings: ActionPlanSettings) -> pl.LazyFrame:
    gap = pl.coalesce("value", "score")
    return (
        signal_rows(ctx, "expectation_gap")
        .filter(pl.col("flagged"))
        .with_columns(
            trigger_metric=pl.coalesce("metric", pl.lit("expectation_gap")),
            observed=gap,
            target=pl.col("reference"),
            severity_rank=pl.when(gap.abs() >= settings.expectation_gap_high)
            .then(pl.lit(HIGH))
            .otherwise(pl.lit(MEDIUM)),
        )
    )


# --- continuous improvement --------------------------------------------------------------


@plan_rule(
    name="continuous_improvement.negative_trend",
    principle="continuous_improvement",
    description="A negative trend (judged with the metric's polarity) in a headline metric.",
)
def negative_trend(ctx: AnalysisContext, settings: ActionPlanSettings) -> pl.LazyFrame:
    return (
        signal_rows(ctx, "trend", settings.headline_metrics)
        .filter(pl.col("direction") == "negative")
        .with_columns(
            trigger_metric=pl.col("metric"),
            observed=pl.col("value"),
            target=pl.col("reference"),
            severity_rank=_trend_rank(settings, pl.col("metric")),
        )
    )


@plan_rule(
    name="continuous_improvement.anomaly",
    principle="continuous_improvement",
    description="A flagged, unfavourable anomaly in a headline metric (a favourable one, "
    "by the metric's polarity, is not an action).",
)
def anomaly(ctx: AnalysisContext, settings: ActionPlanSettings) -> pl.LazyFrame:
    def having(polarity: Polarity) -> list[str]:
        return [m for m, info in ctx.catalog.items() if info.polarity == polarity]

    metric, score = pl.col("metric"), pl.col("score")
    favourable = (
        pl.when(score.is_not_null())
        .then(
            (metric.is_in(having(Polarity.HIGHER_IS_BETTER)) & (score > 0))
            | (metric.is_in(having(Polarity.LOWER_IS_BETTER)) & (score < 0))
        )
        .otherwise(pl.col("direction") == "positive")
        .fill_null(False)
    )
    return (
        signal_rows(ctx, "anomaly", settings.headline_metrics)
        .filter(pl.col("flagged") & ~favourable)
        .with_columns(
            trigger_metric=metric,
            observed=pl.col("value"),
            target=pl.col("reference"),
            severity_rank=pl.when(score.abs() >= settings.anomaly_high_score)
            .then(pl.lit(HIGH))
            .otherwise(pl.lit(MEDIUM)),
        )
    )


RULES: tuple[ActionRule, ...] = (
    relevance_below_target,
    horizon_below_target,
    sla_compliance_below_target,
    reopen_rate_above_target,
    mttr_critical_above_target,
    cx_communication_below_target,
    perception_gap_above_target,
    retention_falling,
    detractor_followup_below_target,
    expectation_gap,
    negative_trend,
    anomaly,
)
