"""The Customer Service Action Plan rules, on hand-built metric values and signals."""

from __future__ import annotations

import re
import types
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from pydantic import ValidationError

from cxpipe import hookimpl
from cxpipe.actions.builtin import CORE_ACTION_RULES
from cxpipe.actions.rules import DEFAULT_ACTIONS, plan_rule, threshold_misses
from cxpipe.actions.settings import ActionPlanSettings
from cxpipe.analysis import (
    ACTION_RESULT,
    SIGNAL_RESULT,
    ActionRule,
    AnalysisContext,
    action_rule,
    conform_to,
    signal,
)
from cxpipe.config import parse_config
from cxpipe.metrics.base import MetricContext, MetricInfo, Polarity
from cxpipe.plugins import build_registry, get_plugin_manager
from cxpipe.registry import Registry
from cxpipe.run import RunContext, compute_derived
from cxpipe.schemas import ACTION_PLAN, ACTION_PRINCIPLES, METRIC_VALUES, SEVERITIES

ROOT = Path(__file__).resolve().parents[2]
JAN, FEB = date(2026, 1, 1), date(2026, 2, 1)
PERIOD_END = {JAN: date(2026, 1, 31), FEB: date(2026, 2, 28)}
RULES = {rule.name: rule for rule in CORE_ACTION_RULES}

HIGHER, LOWER = Polarity.HIGHER_IS_BETTER, Polarity.LOWER_IS_BETTER
CATALOG = {
    name: MetricInfo(name, name, name, unit, polarity)
    for name, unit, polarity in [
        ("service_relevance", "0-100", HIGHER),
        ("horizon_satisfaction", "0-100", HIGHER),
        ("sla_resolution_compliance_pct", "%", HIGHER),
        ("reopen_rate_pct", "%", LOWER),
        ("mttr_critical_hours", "hours", LOWER),
        ("cx_communication", "0-100", HIGHER),
        ("perception_gap", "points", LOWER),
        ("detractor_followup_rate_pct", "%", HIGHER),
        ("client_retention_rate_pct", "%", HIGHER),
        ("csat_pct", "%", HIGHER),
        ("nps", "score", HIGHER),
    ]
}

MV_SCHEMA = pl.DataFrame(METRIC_VALUES.empty_table()).schema


def values(*rows: Mapping[str, Any]) -> pl.LazyFrame:
    """Metric values in the METRIC_VALUES schema; ``period`` picks the month (January)."""
    full = [
        {
            "metric": r["metric"],
            "period_grain": "month",
            "period_start": r.get("period", JAN),
            "period_end": PERIOD_END[r.get("period", JAN)],
            "client_id": r.get("client_id"),
            "segment": r.get("segment"),
            "value": float(r["value"]),
            "sample_size": 10,
            "unit": "",
            "run_id": "r",
            "computed_at": datetime(2026, 3, 1, tzinfo=UTC),
        }
        for r in rows
    ]
    return pl.LazyFrame(full, schema=MV_SCHEMA)


def signals(*rows: Mapping[str, Any]) -> pl.LazyFrame:
    """Signal rows in the SIGNALS result schema; ``period`` picks the month (January)."""
    full = [
        {
            "period_grain": "month",
            "period_start": r.get("period", JAN),
            "period_end": PERIOD_END[r.get("period", JAN)],
            "flagged": False,
            **{k: v for k, v in r.items() if k != "period"},
        }
        for r in rows
    ]
    return conform_to(pl.LazyFrame(full, infer_schema_length=None), SIGNAL_RESULT)


def context(
    metric_values: pl.LazyFrame | None = None,
    signal_rows: pl.LazyFrame | None = None,
    catalog: Mapping[str, MetricInfo] = CATALOG,
    **settings: Any,
) -> AnalysisContext:
    return AnalysisContext(
        metric=MetricContext(grain="month"),
        frames={},
        metric_values=metric_values if metric_values is not None else values(),
        catalog=catalog,
        settings={"action_plan": ActionPlanSettings.model_validate(settings).model_dump()},
        signals=signal_rows,
    )


def plan(rule: str | ActionRule, ctx: AnalysisContext) -> pl.DataFrame:
    spec = RULES[rule] if isinstance(rule, str) else rule
    frame = spec.function(ctx)
    assert isinstance(frame, pl.LazyFrame)
    return frame.collect().sort("client_id", "segment", "period_start", nulls_last=True)


def by_client(frame: pl.DataFrame) -> dict[str | None, dict[str, Any]]:
    rows = frame.to_dicts()
    assert len({r["client_id"] for r in rows}) == len(rows)
    return {r["client_id"]: r for r in rows}


# --- the catalog of rules ----------------------------------------------------------------


def test_every_principle_has_rules_and_every_rule_a_default_action() -> None:
    assert len(RULES) == len(CORE_ACTION_RULES) == 12
    assert {rule.principle for rule in CORE_ACTION_RULES} == set(ACTION_PRINCIPLES)
    for rule in CORE_ACTION_RULES:
        assert rule.name.startswith(f"{rule.principle}.")
    assert set(DEFAULT_ACTIONS) == set(RULES)


def test_docs_describe_every_rule_default_action_and_setting() -> None:
    text = (ROOT / "docs" / "action-plan.md").read_text(encoding="utf-8")
    for name, action in DEFAULT_ACTIONS.items():
        assert f"`{name}`" in text, name
        assert action in text, name
    for field in ActionPlanSettings.model_fields:
        assert f"`{field}`" in text, field


# --- target rules: floors, ceilings and the boundary --------------------------------------

TARGET_RULES = [
    # rule, metric, target, a miss, the target's good side
    ("alignment.relevance_below_target", "service_relevance", 70.0, 69.5, 71.0),
    ("standards.sla_compliance_below_target", "sla_resolution_compliance_pct", 90.0, 89.5, 95.0),
    ("standards.reopen_rate_above_target", "reopen_rate_pct", 5.0, 5.25, 4.0),
    ("standards.mttr_critical_above_target", "mttr_critical_hours", 8.0, 8.5, 7.0),
    ("communication.cx_communication_below_target", "cx_communication", 70.0, 69.5, 80.0),
    ("communication.perception_gap_above_target", "perception_gap", 10.0, 10.5, -5.0),
    ("partnership.detractor_followup_below_target", "detractor_followup_rate_pct", 90.0, 89, 100),
]


@pytest.mark.parametrize(("rule", "metric", "target", "miss", "good"), TARGET_RULES)
def test_target_rule_triggers_past_the_target_only(
    rule: str, metric: str, target: float, miss: float, good: float
) -> None:
    frame = values(
        {"metric": metric, "client_id": "at", "value": target},
        {"metric": metric, "client_id": "miss", "value": miss},
        {"metric": metric, "client_id": "good", "value": good},
        {"metric": metric, "client_id": None, "value": miss},
        {"metric": "csat_pct", "client_id": "other", "value": 0.0},
    )
    rows = by_client(plan(rule, context(frame)))
    assert set(rows) == {"miss", None}
    row = rows["miss"]
    assert row["trigger_metric"] == metric
    assert row["observed"] == miss
    assert row["target"] == target
    assert row["rule"] == rule
    assert row["principle"] == RULES[rule].principle
    assert row["severity"] == "low"
    assert row["recommended_action"] == DEFAULT_ACTIONS[rule]
    assert (row["period_start"], row["period_end"]) == (JAN, PERIOD_END[JAN])


@pytest.mark.parametrize(
    ("rule", "metric", "polarity", "triggered"),
    [
        # The catalog's polarity decides floor or ceiling (target 90 / 5 / 8).
        ("standards.sla_compliance_below_target", "sla_resolution_compliance_pct", LOWER, "95"),
        ("standards.sla_compliance_below_target", "sla_resolution_compliance_pct", HIGHER, "85"),
        ("standards.reopen_rate_above_target", "reopen_rate_pct", HIGHER, "85"),
        ("standards.mttr_critical_above_target", "mttr_critical_hours", HIGHER, "85"),
        # Neutral or absent from the catalog: the rule's own default.
        ("standards.sla_compliance_below_target", "sla_resolution_compliance_pct", None, "85"),
        ("standards.reopen_rate_above_target", "reopen_rate_pct", None, "95"),
        ("standards.mttr_critical_above_target", "mttr_critical_hours", Polarity.NEUTRAL, "95"),
    ],
)
def test_the_metric_polarity_makes_the_target_a_floor_or_a_ceiling(
    rule: str, metric: str, polarity: Polarity | None, triggered: str
) -> None:
    catalog = dict(CATALOG)
    catalog.pop(metric)
    if polarity is not None:
        catalog[metric] = MetricInfo(metric, metric, metric, "", polarity)
    frame = values(
        {"metric": metric, "client_id": "95", "value": 95.0},
        {"metric": metric, "client_id": "85", "value": 85.0},
        {"metric": metric, "client_id": "0.1", "value": 0.1},
    )
    rows = by_client(plan(rule, context(frame, catalog=catalog, targets={metric: 90.0})))
    expected = {triggered} if triggered == "95" else {triggered, "0.1"}
    assert set(rows) == expected


def test_horizon_rule_holds_only_the_configured_levels_to_target() -> None:
    rows = [
        {"metric": "horizon_satisfaction", "client_id": "c", "segment": f"respondent_level={lvl}"}
        | {"value": 60.0}
        for lvl in ("company", "business_user", "technology_team", "key_individual")
    ]
    frame = values(
        *rows,
        {"metric": "horizon_satisfaction", "client_id": None, "segment": None, "value": 60.0},
        {"metric": "horizon_satisfaction", "segment": "respondent_level=company", "value": 70.0},
    )
    default = plan("alignment.horizon_below_target", context(frame))
    assert default["segment"].to_list() == [
        "respondent_level=business_user",
        "respondent_level=company",
    ]
    assert default["client_id"].to_list() == ["c", "c"]
    assert default["severity"].to_list() == ["medium", "medium"]  # 10 short of 70: 14 %

    team = plan(
        "alignment.horizon_below_target", context(frame, horizon_levels=["technology_team"])
    )
    assert team["segment"].to_list() == ["respondent_level=technology_team"]


def test_horizon_levels_must_be_respondent_levels() -> None:
    with pytest.raises(ValidationError, match="unknown respondent level"):
        ActionPlanSettings(horizon_levels=["ceo"])


def test_perception_gap_triggers_per_proxy_and_overall_with_the_segment() -> None:
    frame = values(
        {"metric": "perception_gap", "segment": "proxy=communication", "value": 25.0},
        {"metric": "perception_gap", "segment": "proxy=timeliness", "value": 10.0},
        {"metric": "perception_gap", "segment": None, "value": 12.0},
        {"metric": "perception_gap", "client_id": "c", "segment": None, "value": -30.0},
    )
    out = plan("communication.perception_gap_above_target", context(frame))
    assert out.select("client_id", "segment", "observed", "severity").to_dicts() == [
        {"client_id": None, "segment": "proxy=communication", "observed": 25.0, "severity": "high"},
        {"client_id": None, "segment": None, "observed": 12.0, "severity": "high"},
    ]


def test_targets_merge_over_the_defaults_and_a_metric_without_target_is_silent() -> None:
    settings = ActionPlanSettings(targets={"reopen_rate_pct": 3.0, "csat_pct": 80.0})
    assert settings.targets["reopen_rate_pct"] == 3.0
    assert settings.targets["service_relevance"] == 70.0
    assert ActionPlanSettings.model_validate(settings.model_dump()) == settings

    ctx = context(values({"metric": "nps", "value": -100.0}))
    out = threshold_misses(ctx, ActionPlanSettings(), "nps", default_bound="floor")
    assert out.collect().height == 0
    assert out.collect_schema() == ACTION_RESULT


# --- severity bands -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("observed", "severity"),
    [(64.0, "high"), (60.0, "high"), (64.8, "medium"), (72.0, "medium"), (72.8, "low")],
)
def test_severity_of_a_floor_miss_is_its_share_of_the_target(
    observed: float, severity: str
) -> None:
    # Target 80: a miss of 16 is 20 % (high), 8 is 10 % (medium), 7.2 is 9 % (low).
    frame = values({"metric": "service_relevance", "value": observed})
    out = plan(
        "alignment.relevance_below_target",
        context(frame, targets={"service_relevance": 80.0}),
    )
    assert out["severity"].to_list() == [severity]


@pytest.mark.parametrize(
    ("observed", "severity"), [(12.0, "high"), (11.5, "medium"), (11.0, "medium"), (10.5, "low")]
)
def test_severity_of_a_ceiling_miss_is_its_share_of_the_target(
    observed: float, severity: str
) -> None:
    frame = values({"metric": "mttr_critical_hours", "value": observed})
    out = plan(
        "standards.mttr_critical_above_target",
        context(frame, targets={"mttr_critical_hours": 10.0}),
    )
    assert out["severity"].to_list() == [severity]


def test_severity_bands_are_configurable_globally_and_per_metric() -> None:
    frame = values(
        {"metric": "service_relevance", "value": 56.0},  # 20 % short of 70
        {"metric": "cx_communication", "value": 56.0},
    )
    ctx = context(
        frame,
        severity={"high": 50.0, "medium": 25.0},
        severity_by_metric={"cx_communication": {"high": 15.0, "medium": 5.0}},
    )
    assert plan("alignment.relevance_below_target", ctx)["severity"].to_list() == ["low"]
    assert plan("communication.cx_communication_below_target", ctx)["severity"].to_list() == [
        "high"
    ]


def test_a_zero_ceiling_makes_any_excess_high() -> None:
    frame = values(
        {"metric": "reopen_rate_pct", "value": 0.5},
        {"metric": "reopen_rate_pct", "client_id": "c", "value": 0.0},
    )
    out = plan("standards.reopen_rate_above_target", context(frame, targets={"reopen_rate_pct": 0}))
    assert out.select("client_id", "severity").to_dicts() == [
        {"client_id": None, "severity": "high"}
    ]


def test_severity_bands_must_be_ordered() -> None:
    with pytest.raises(ValidationError, match="must not exceed high"):
        ActionPlanSettings.model_validate({"severity": {"high": 10, "medium": 20}})


# --- partnership ------------------------------------------------------------------------------


def trend(
    metric: str, value: float, reference: float | None, direction: str, **extra: Any
) -> dict[str, Any]:
    change = None if reference is None else value - reference
    return {
        "signal": "trend",
        "metric": metric,
        "value": value,
        "reference": reference,
        "change": change,
        "direction": direction,
        "flagged": direction == "negative",
    } | extra


RET = "client_retention_rate_pct"


def test_retention_falling_on_a_negative_trend_without_a_target() -> None:
    frame = values(
        {"metric": RET, "value": 90.0},
        {"metric": RET, "value": 97.0, "period": FEB},
    )
    sigs = signals(
        trend(RET, 90.0, 100.0, "negative"),
        trend(RET, 97.0, 90.0, "positive", period=FEB),
    )
    out = plan("partnership.retention_falling", context(frame, sigs))
    assert out.to_dicts() == [
        {
            "client_id": None,
            "period_grain": "month",
            "period_start": JAN,
            "period_end": PERIOD_END[JAN],
            "principle": "partnership",
            "rule": "partnership.retention_falling",
            "trigger_metric": RET,
            "segment": None,
            "observed": 90.0,
            "target": 100.0,
            "severity": "medium",
            "recommended_action": DEFAULT_ACTIONS["partnership.retention_falling"],
        }
    ]


@pytest.mark.parametrize(
    ("previous", "severity"), [(100.0, "medium"), (112.5, "high"), (92.0, "low"), (None, "medium")]
)
def test_retention_trend_severity_is_the_drop_in_percent_of_the_previous_value(
    previous: float | None, severity: str
) -> None:
    frame = values({"metric": RET, "value": 90.0})
    out = plan(
        "partnership.retention_falling",
        context(frame, signals(trend(RET, 90, previous, "negative"))),
    )
    assert out["severity"].to_list() == [severity]


def test_retention_below_a_configured_target_triggers_without_a_trend() -> None:
    frame = values(
        {"metric": RET, "value": 94.0},
        {"metric": RET, "value": 95.0, "period": FEB},
        {"metric": RET, "value": 96.0, "period": FEB, "segment": "tier=gold"},
    )
    sigs = signals(trend(RET, 96.0, 120.0, "negative", period=FEB, segment="tier=gold"))
    out = plan("partnership.retention_falling", context(frame, sigs, targets={RET: 95.0}))
    assert out.select("period_start", "segment", "observed", "target", "severity").to_dicts() == [
        # 96 meets 95, but fell 20 % from 120: the trend's severity, the configured target.
        {
            "period_start": FEB,
            "segment": "tier=gold",
            "observed": 96.0,
            "target": 95.0,
            "severity": "high",
        },
        {"period_start": JAN, "segment": None, "observed": 94.0, "target": 95.0, "severity": "low"},
    ]


def test_retention_takes_the_worse_severity_when_both_trigger() -> None:
    frame = values({"metric": RET, "value": 70.0})
    sigs = signals(trend(RET, 70.0, 72.0, "negative"))  # trend: 2.8 % (low)
    out = plan("partnership.retention_falling", context(frame, sigs, targets={RET: 95.0}))
    assert out.select("observed", "target", "severity").to_dicts() == [
        {"observed": 70.0, "target": 95.0, "severity": "high"}  # target: 26 % short
    ]


def test_retention_with_a_trend_row_but_no_metric_row_still_triggers() -> None:
    out = plan(
        "partnership.retention_falling",
        context(values(), signals(trend(RET, 80.0, 85.0, "negative"))),
    )
    assert out.select("observed", "target", "period_end").to_dicts() == [
        {"observed": 80.0, "target": 85.0, "period_end": PERIOD_END[JAN]}
    ]


def test_expectation_gap_triggers_on_flagged_rows_with_severity_by_size() -> None:
    def gap(client: str, value: float, flagged: bool) -> dict[str, Any]:
        return {
            "signal": "expectation_gap",
            "metric": "client_experience_rating",
            "client_id": client,
            "value": value,
            "score": value,
            "flagged": flagged,
        }

    sigs = signals(
        gap("a", 2.5, True),
        gap("b", -2.0, True),
        gap("c", 1.2, True),
        gap("d", 0.4, False),
        trend("csat_pct", 1.0, 2.0, "negative", client_id="e"),
    )
    rows = by_client(plan("partnership.expectation_gap", context(signal_rows=sigs)))
    assert {c: (r["severity"], r["observed"]) for c, r in rows.items()} == {
        "a": ("high", 2.5),
        "b": ("high", -2.0),
        "c": ("medium", 1.2),
    }
    assert rows["a"]["trigger_metric"] == "client_experience_rating"
    assert rows["a"]["target"] is None
    high = plan("partnership.expectation_gap", context(signal_rows=sigs, expectation_gap_high=3))
    assert set(high["severity"]) == {"medium"}


# --- continuous improvement -------------------------------------------------------------------


def test_negative_trend_triggers_for_headline_metrics_only() -> None:
    sigs = signals(
        trend("csat_pct", 72.0, 80.0, "negative", client_id="a"),  # 10 % drop: medium
        trend("nps", -10.0, 0.0, "negative", client_id="b"),  # from zero: high
        trend("nps", 30.0, 31.0, "negative", client_id="c", segment="request_type=support"),
        trend("nps", 20.0, 10.0, "positive", client_id="d"),
        trend("csat_pct", 80.0, 80.5, "neutral", client_id="e"),
        trend("ticket_volume", 10.0, 100.0, "negative", client_id="f"),
    )
    rows = by_client(plan("continuous_improvement.negative_trend", context(signal_rows=sigs)))
    assert {c: (r["trigger_metric"], r["severity"]) for c, r in rows.items()} == {
        "a": ("csat_pct", "medium"),
        "b": ("nps", "high"),
        "c": ("nps", "low"),
    }
    assert (rows["a"]["observed"], rows["a"]["target"]) == (72.0, 80.0)
    assert rows["c"]["segment"] == "request_type=support"

    volume = plan(
        "continuous_improvement.negative_trend",
        context(signal_rows=sigs, headline_metrics=["ticket_volume"]),
    )
    assert volume["client_id"].to_list() == ["f"]


def anomaly(metric: str, score: float | None, flagged: bool = True, **extra: Any) -> dict[str, Any]:
    return {
        "signal": "anomaly",
        "metric": metric,
        "value": 50.0,
        "reference": 70.0,
        "score": score,
        "flagged": flagged,
    } | extra


def test_anomaly_triggers_when_flagged_and_unfavourable() -> None:
    sigs = signals(
        anomaly("csat_pct", -4.0, client_id="low-csat"),  # medium
        anomaly("csat_pct", -6.0, client_id="very-low-csat"),  # high
        anomaly("csat_pct", 6.0, client_id="high-csat"),  # good news: no action
        anomaly("csat_pct", -9.0, flagged=False, client_id="unflagged"),
        anomaly("mttr_critical_hours", 4.0, client_id="slow"),
        anomaly("mttr_critical_hours", -4.0, client_id="fast"),
        anomaly("unknown_metric", 4.0, client_id="unknown"),  # no polarity: always
        anomaly("csat_pct", None, client_id="no-score-up", direction="positive"),
        anomaly("csat_pct", None, client_id="no-score", direction=None),
        anomaly("nps", -4.0, client_id="not-headline"),
    )
    ctx = context(
        signal_rows=sigs, headline_metrics=["csat_pct", "mttr_critical_hours", "unknown_metric"]
    )
    rows = by_client(plan("continuous_improvement.anomaly", ctx))
    assert {c: r["severity"] for c, r in rows.items()} == {
        "low-csat": "medium",
        "very-low-csat": "high",
        "slow": "medium",
        "unknown": "medium",
        "no-score": "medium",
    }
    assert (rows["slow"]["observed"], rows["slow"]["target"]) == (50.0, 70.0)
    strict = plan("continuous_improvement.anomaly", context(signal_rows=sigs, anomaly_high_score=3))
    assert "high" in set(strict["severity"])


# --- periods, overrides, empty inputs and the schema ---------------------------------------


def everything() -> AnalysisContext:
    """Metric values and signals on which every core rule triggers, in two periods."""
    frame = values(
        *(
            {"metric": metric, "client_id": client, "value": miss, "period": period}
            for _, metric, _, miss, _ in TARGET_RULES
            for client in (None, "c")
            for period in (JAN, FEB)
        ),
        *(
            {"metric": "horizon_satisfaction", "segment": "respondent_level=company"}
            | {"value": 10.0, "period": period}
            for period in (JAN, FEB)
        ),
    )
    sigs = signals(
        *(
            row | {"period": period}
            for period in (JAN, FEB)
            for row in (
                trend(RET, 90.0, 95.0, "negative"),
                trend("nps", 9.0, 20.0, "negative"),
                anomaly("csat_pct", -8.0, client_id="c"),
                {"signal": "expectation_gap", "metric": "client_experience_rating"}
                | {"client_id": "c", "value": 1.5, "flagged": True},
            )
        )
    )
    return AnalysisContext(
        metric=MetricContext(grain="month"),
        frames={},
        metric_values=frame,
        catalog=CATALOG,
        settings={},
        signals=sigs,
    )


@pytest.mark.parametrize("rule", sorted(RULES))
def test_every_rule_conforms_to_the_schema_and_keeps_history(rule: str) -> None:
    lazy = RULES[rule].function(everything())
    assert isinstance(lazy, pl.LazyFrame)
    assert lazy.collect_schema() == ACTION_RESULT
    out = lazy.collect()
    assert set(out["period_start"]) == {JAN, FEB}
    assert out.filter(pl.col("period_start") == FEB)["period_end"].unique().to_list() == [
        PERIOD_END[FEB]
    ]
    assert set(out["rule"]) == {rule}
    assert set(out["principle"]) == {RULES[rule].principle}
    assert set(out["severity"]) <= set(SEVERITIES)
    required = [f.name for f in ACTION_PLAN if not f.nullable and f.name in ACTION_RESULT]
    assert out.select(pl.col(required).null_count()).sum_horizontal().item() == 0
    # Row order is not part of the contract (the streaming engine does not keep it).
    key = ["client_id", "period_start", "segment", "trigger_metric"]
    conformed = conform_to(lazy, ACTION_RESULT).collect().sort(key, nulls_last=True)
    assert conformed.equals(out.sort(key, nulls_last=True))


def test_null_client_rows_are_the_all_clients_plan() -> None:
    out = plan("standards.reopen_rate_above_target", everything())
    assert out["client_id"].to_list() == ["c", "c", None, None]


def test_latest_keeps_only_the_runs_last_period() -> None:
    base = everything()
    ctx = AnalysisContext(
        metric=base.metric,
        frames={},
        metric_values=base.metric_values,
        catalog=CATALOG,
        settings={"action_plan": {"periods": "latest"}},
        signals=base.signals,
    )
    for rule in RULES:
        out = plan(rule, ctx)
        assert out.height > 0, rule
        assert set(out["period_start"]) == {FEB}, rule


def test_recommended_actions_can_be_replaced_in_config() -> None:
    text = "Phone the client's CIO this week."
    ctx = context(
        values(
            {"metric": "reopen_rate_pct", "value": 9.0},
            {"metric": "service_relevance", "value": 1.0},
        ),
        actions={"standards.reopen_rate_above_target": text},
    )
    assert plan("standards.reopen_rate_above_target", ctx)["recommended_action"].to_list() == [text]
    assert plan("alignment.relevance_below_target", ctx)["recommended_action"].to_list() == [
        DEFAULT_ACTIONS["alignment.relevance_below_target"]
    ]
    with pytest.raises(ValidationError, match="empty recommended action"):
        ActionPlanSettings(actions={"standards.reopen_rate_above_target": " "})


@pytest.mark.parametrize("with_signals", [True, False])
@pytest.mark.parametrize("rule", sorted(RULES))
def test_empty_inputs_give_an_empty_plan(rule: str, with_signals: bool) -> None:
    sigs = pl.LazyFrame(schema=SIGNAL_RESULT) if with_signals else None
    out = RULES[rule].function(context(values(), sigs))
    assert out.collect_schema() == ACTION_RESULT
    assert out.collect().height == 0


def test_plan_rule_needs_an_action_for_a_rule_of_its_own() -> None:
    with pytest.raises(ValueError, match="give the recommended action"):
        plan_rule(name="acme.x", principle="standards", description="d")


# --- plugins: a third-party rule, and disabled_rules --------------------------------------


@action_rule(name="acme.no_csat", principle="standards", description="csat_pct under 50")
def acme_no_csat(ctx: AnalysisContext) -> pl.LazyFrame:
    """A plugin's rule written against the bare API: it fills only what it knows."""
    return ctx.metric_values.filter(
        (pl.col("metric") == "csat_pct") & (pl.col("value") < 50)
    ).select(
        "client_id",
        "period_grain",
        "period_start",
        "period_end",
        "segment",
        principle=pl.lit("standards"),
        rule=pl.lit("acme.no_csat"),
        trigger_metric=pl.col("metric"),
        observed=pl.col("value"),
        target=pl.lit(50.0),
        severity=pl.lit("high"),
        recommended_action=pl.lit("Escalate to the service owner."),
    )


@signal(name="test_trend", description="canned trend rows")
def canned_trend(ctx: AnalysisContext) -> pl.LazyFrame:
    return signals(trend("nps", 9.0, 20.0, "negative", client_id="c"))


def _plugin(name: str, rules: Sequence[ActionRule], *extra: Any) -> types.SimpleNamespace:
    @hookimpl
    def cxpipe_register_action_rules(registry: Registry) -> None:
        for rule in rules:
            registry.add_action_rule(rule)

    @hookimpl
    def cxpipe_register_signals(registry: Registry) -> None:
        for spec in extra:
            registry.add_signal(spec)

    return types.SimpleNamespace(
        __name__=name,
        cxpipe_register_action_rules=cxpipe_register_action_rules,
        cxpipe_register_signals=cxpipe_register_signals,
    )


def test_a_third_party_plugin_adds_its_own_rule_through_the_hook() -> None:
    pm = get_plugin_manager(extra_plugins=[("acme", _plugin("acme", [acme_no_csat]))])
    registry = build_registry(pm)
    assert registry.action_rules["acme.no_csat"] is acme_no_csat
    assert registry.owner("action_rule", "acme.no_csat") == "acme"


def test_compute_derived_runs_core_and_plugin_rules_and_skips_disabled_ones(
    tmp_path: Path,
) -> None:
    pm = get_plugin_manager(
        block=["builtin"],
        entry_points=False,
        extra_plugins=[
            ("core_rules", _plugin("core_rules", CORE_ACTION_RULES, canned_trend)),
            ("acme", _plugin("acme", [acme_no_csat])),
        ],
    )
    config = parse_config(
        {"sources": [], "action_plan": {"disabled_rules": ["standards.reopen_rate_above_target"]}},
        base_dir=tmp_path,
    )
    run = RunContext(
        run_id="run-1",
        config=config,
        output_root=str(tmp_path),
        plugin_manager=pm,
        registry=build_registry(pm),
        started_at=datetime.now(UTC),
        metric_context=MetricContext(grain="month"),
    )
    metric_values = values(
        {"metric": "reopen_rate_pct", "client_id": "c", "value": 50.0},
        {"metric": "sla_resolution_compliance_pct", "client_id": "c", "value": 50.0},
        {"metric": "csat_pct", "client_id": "c", "value": 40.0},
    ).collect()

    derived, skipped = compute_derived(run, {}, metric_values)

    action_plan = derived["action_plan"]
    assert action_plan.schema == pl.DataFrame(ACTION_PLAN.empty_table()).schema
    assert sorted(action_plan["rule"]) == [
        "acme.no_csat",
        "continuous_improvement.negative_trend",
        "standards.sla_compliance_below_target",
    ]
    assert set(action_plan["run_id"]) == {"run-1"}
    assert skipped["action_rule standards.reopen_rate_above_target"] == "disabled in config"


def test_the_docs_rule_example_runs_as_a_plugin() -> None:
    text = (ROOT / "docs" / "action-plan.md").read_text(encoding="utf-8")
    (code,) = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    module = types.ModuleType("docs_rule_plugin")
    exec(compile(code, "docs/action-plan.md", "exec"), module.__dict__)
    registry = build_registry(get_plugin_manager(extra_plugins=[("acme", module)]))
    rule = registry.action_rules["acme.csat_below_target"]
    ctx = context(values({"metric": "csat_pct", "value": 60.0}), targets={"csat_pct": 85.0})
    out = plan(rule, ctx)
    assert out.select("rule", "principle", "observed", "target", "severity").to_dicts() == [
        {
            "rule": "acme.csat_below_target",
            "principle": "standards",
            "observed": 60.0,
            "target": 85.0,
            "severity": "high",
        }
    ]
