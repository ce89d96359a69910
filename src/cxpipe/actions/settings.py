"""The ``[action_plan]`` table of ``cxpipe.toml``: targets, severity bands, texts and which
rules run. Every field is documented in ``docs/action-plan.md``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from cxpipe.models import StrictModel
from cxpipe.schemas import RESPONDENT_LEVELS


def _default_targets() -> dict[str, float]:
    return {
        "service_relevance": 70.0,
        "horizon_satisfaction": 70.0,
        "sla_resolution_compliance_pct": 90.0,
        "reopen_rate_pct": 5.0,
        "mttr_critical_hours": 8.0,
        "cx_communication": 70.0,
        "perception_gap": 10.0,
        "detractor_followup_rate_pct": 90.0,
    }


class SeverityBands(StrictModel):
    """How far off counts as ``high`` or ``medium``, in % of the yardstick (the target, or
    for a falling trend the previous period's value). Smaller misses are ``low``."""

    high: float = Field(default=20.0, ge=0)
    """A miss of at least this % of the yardstick is ``high``."""
    medium: float = Field(default=10.0, ge=0)
    """A miss of at least this % (and under ``high``) is ``medium``."""

    @model_validator(mode="after")
    def _ordered(self) -> SeverityBands:
        if self.medium > self.high:
            raise ValueError(f"medium ({self.medium}) must not exceed high ({self.high})")
        return self


class ActionPlanSettings(StrictModel):
    targets: dict[str, float] = Field(default_factory=_default_targets)
    """Per metric: the target a rule compares against (a floor for metrics where higher is
    better, a ceiling where lower is better). Merged over the defaults, so setting one
    target keeps the others; a rule whose metric has no target is silent."""
    disabled_rules: list[str] = Field(default_factory=list)
    """Rules (by name) not to run."""
    headline_metrics: list[str] = Field(
        default_factory=lambda: [
            "csat_pct",
            "nps",
            "client_experience_rating",
            "sla_resolution_compliance_pct",
            "projects_on_time_pct",
        ]
    )
    """Metrics whose negative trend or anomaly triggers continuous improvement."""
    horizon_levels: list[str] = Field(default_factory=lambda: ["company", "business_user"])
    """The respondent levels whose ``horizon_satisfaction`` is held to its target."""
    severity: SeverityBands = Field(default_factory=SeverityBands)
    """Severity bands for target misses and falling trends."""
    severity_by_metric: dict[str, SeverityBands] = Field(default_factory=dict)
    """Per-metric bands replacing ``severity`` for that metric."""
    anomaly_high_score: float = Field(default=5.0, gt=0)
    """A flagged anomaly whose robust z-score is at least this (in absolute value) is
    ``high``; other flagged anomalies are ``medium``."""
    expectation_gap_high: float = Field(default=2.0, gt=0)
    """A flagged expectation gap of at least this many standard deviations is ``high``;
    other flagged gaps are ``medium``."""
    actions: dict[str, str] = Field(default_factory=dict)
    """Per rule name: the recommended action replacing the rule's default sentence."""
    periods: Literal["all", "latest"] = "all"
    """``all``: a row for every period where a rule triggers (the plan's history);
    ``latest``: only the run's latest period."""

    @field_validator("targets", mode="before")
    @classmethod
    def _over_defaults(cls, value: object) -> object:
        return {**_default_targets(), **value} if isinstance(value, dict) else value

    @field_validator("horizon_levels")
    @classmethod
    def _known_levels(cls, value: list[str]) -> list[str]:
        unknown = [level for level in value if level not in RESPONDENT_LEVELS]
        if unknown:
            raise ValueError(
                f"unknown respondent level(s) {unknown}; choose from {', '.join(RESPONDENT_LEVELS)}"
            )
        return value

    @field_validator("actions")
    @classmethod
    def _non_empty_actions(cls, value: dict[str, str]) -> dict[str, str]:
        blank = [rule for rule, text in value.items() if not text.strip()]
        if blank:
            raise ValueError(f"empty recommended action for rule(s) {blank}")
        return value
