"""Canonical entities: the columns every source conforms to and every metric relies on.

One module holds them all, so a schema change is one diff. Each entity carries a
``version``; a change that would break a reader (a column renamed, retyped or dropped)
bumps it, adding a nullable column does not. Sources may carry extra columns through;
metrics rely only on what is declared here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

import polars as pl
import pyarrow as pa

UTC_TIMESTAMP: Final = pa.timestamp("us", tz="UTC")

PRIORITIES: Final = ("critical", "high", "medium", "low")
REQUEST_TYPES: Final = ("support", "project", "consulting", "other")
RESPONDENT_LEVELS: Final = (
    "company",
    "business_user",
    "technology_org",
    "technology_team",
    "key_individual",
)
RESPONDENT_SIDES: Final = ("client", "it")
SURVEY_KINDS: Final = ("transactional", "relationship", "post_project", "self_assessment")
PROXIES: Final = (
    "timeliness",
    "communication",
    "responsiveness",
    "cost_transparency",
    "accessibility",
)
"""The proxy ratings a client judges IT by; ``relevance`` is rated too but reported on its own."""


@dataclass(frozen=True)
class Entity:
    """A canonical entity: its Arrow schema plus the rules that make a row valid."""

    name: str
    version: int
    schema: pa.Schema
    primary_key: tuple[str, ...]
    description: str
    labels: MappingProxyType[str, tuple[str, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    """Columns restricted to a closed set of labels."""
    ranges: MappingProxyType[str, tuple[float, float]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    """Inclusive numeric ranges (scores on a fixed scale, counts that cannot be negative)."""
    ordered: tuple[tuple[str, str], ...] = ()
    """Pairs ``(earlier, later)`` of temporal columns that must not run backwards."""
    watermark: str | None = None
    """The column an incremental read advances on."""

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.schema.names)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.schema if not f.nullable)

    @property
    def polars_schema(self) -> pl.Schema:
        empty = pl.from_arrow(self.schema.empty_table())
        assert isinstance(empty, pl.DataFrame)
        return empty.schema

    def empty(self) -> pl.DataFrame:
        frame = pl.from_arrow(self.schema.empty_table())
        assert isinstance(frame, pl.DataFrame)
        return frame


def _f(name: str, typ: pa.DataType, nullable: bool = False) -> pa.Field:
    return pa.field(name, typ, nullable=nullable)


def _score(name: str) -> pa.Field:
    return _f(name, pa.int8(), True)


TICKETS: Final = Entity(
    name="tickets",
    version=1,
    description="One row per ticket (incident, request, project or consulting ask).",
    schema=pa.schema(
        [
            _f("ticket_id", pa.string()),
            _f("source_system", pa.string()),
            _f("client_id", pa.string()),
            _f("requester_id", pa.string(), True),
            _f("request_type", pa.string()),
            _f("category", pa.string(), True),
            _f("priority", pa.string()),
            _f("status", pa.string()),
            _f("opened_at", UTC_TIMESTAMP),
            _f("first_response_at", UTC_TIMESTAMP, True),
            _f("resolved_at", UTC_TIMESTAMP, True),
            _f("closed_at", UTC_TIMESTAMP, True),
            _f("respond_due_at", UTC_TIMESTAMP, True),
            _f("resolve_due_at", UTC_TIMESTAMP, True),
            _f("updated_at", UTC_TIMESTAMP),
            _f("reopen_count", pa.int32()),
            _f("reassignment_count", pa.int32()),
            _f("assignment_group", pa.string(), True),
            _f("channel", pa.string(), True),
        ]
    ),
    primary_key=("source_system", "ticket_id"),
    labels=MappingProxyType({"request_type": REQUEST_TYPES, "priority": PRIORITIES}),
    ranges=MappingProxyType({"reopen_count": (0, 10_000), "reassignment_count": (0, 10_000)}),
    ordered=(
        ("opened_at", "first_response_at"),
        ("opened_at", "resolved_at"),
        ("opened_at", "closed_at"),
        ("resolved_at", "closed_at"),
    ),
    watermark="updated_at",
)

PROJECTS: Final = Entity(
    name="projects",
    version=1,
    description="One row per project delivered (or being delivered) for a client.",
    schema=pa.schema(
        [
            _f("project_id", pa.string()),
            _f("client_id", pa.string()),
            _f("name", pa.string()),
            _f("status", pa.string()),
            _f("planned_start", pa.date32(), True),
            _f("planned_end", pa.date32()),
            _f("actual_end", pa.date32(), True),
            _f("budget", pa.float64(), True),
            _f("actual_cost", pa.float64(), True),
            _f("currency", pa.string(), True),
            _f("deliverables_promised", pa.int32(), True),
            _f("deliverables_delivered", pa.int32(), True),
            _f("success_criteria_total", pa.int32(), True),
            _f("success_criteria_met", pa.int32(), True),
        ]
    ),
    primary_key=("project_id",),
    ranges=MappingProxyType(
        {
            "budget": (0, float("inf")),
            "actual_cost": (0, float("inf")),
            "deliverables_promised": (0, 1_000_000),
            "deliverables_delivered": (0, 1_000_000),
            "success_criteria_total": (0, 1_000_000),
            "success_criteria_met": (0, 1_000_000),
        }
    ),
    ordered=(("planned_start", "planned_end"),),
)

SURVEY_RESPONSES: Final = Entity(
    name="survey_responses",
    version=1,
    description="One row per survey response, from a client or from IT rating itself.",
    schema=pa.schema(
        [
            _f("response_id", pa.string()),
            _f("client_id", pa.string()),
            _f("respondent_id", pa.string(), True),
            _f("respondent_level", pa.string(), True),
            _f("respondent_side", pa.string()),
            _f("survey_kind", pa.string()),
            _f("ticket_id", pa.string(), True),
            _f("project_id", pa.string(), True),
            _f("submitted_at", UTC_TIMESTAMP),
            _score("nps_score"),
            _score("csat"),
            _score("ces"),
            *(_score(proxy) for proxy in PROXIES),
            _score("relevance"),
            _f("comment", pa.string(), True),
            _f("lost_time_minutes", pa.float64(), True),
            *(_score(f"importance_{proxy}") for proxy in PROXIES),
        ]
    ),
    primary_key=("response_id",),
    labels=MappingProxyType(
        {
            "respondent_level": RESPONDENT_LEVELS,
            "respondent_side": RESPONDENT_SIDES,
            "survey_kind": SURVEY_KINDS,
        }
    ),
    ranges=MappingProxyType(
        {
            "nps_score": (0, 10),
            "csat": (1, 5),
            "ces": (1, 7),
            **dict.fromkeys((*PROXIES, "relevance"), (1.0, 5.0)),
            **dict.fromkeys((f"importance_{p}" for p in PROXIES), (1.0, 5.0)),
            "lost_time_minutes": (0, 1_000_000),
        }
    ),
    watermark="submitted_at",
)

CLIENTS: Final = Entity(
    name="clients",
    version=1,
    description="One row per client organisation served by IT.",
    schema=pa.schema(
        [
            _f("client_id", pa.string()),
            _f("name", pa.string()),
            _f("segment", pa.string(), True),
            _f("relationship_start", pa.date32()),
            _f("relationship_end", pa.date32(), True),
        ]
    ),
    primary_key=("client_id",),
    ordered=(("relationship_start", "relationship_end"),),
)

SURVEY_INVITATIONS: Final = Entity(
    name="survey_invitations",
    version=1,
    description="One row per survey invitation sent (the denominator of the response rate).",
    schema=pa.schema(
        [
            _f("invitation_id", pa.string()),
            _f("client_id", pa.string()),
            _f("sent_at", UTC_TIMESTAMP),
            _f("survey_kind", pa.string()),
        ]
    ),
    primary_key=("invitation_id",),
    labels=MappingProxyType({"survey_kind": SURVEY_KINDS}),
    watermark="sent_at",
)

FOLLOWUPS: Final = Entity(
    name="followups",
    version=1,
    description="One row per follow-up of a survey response (the call-back to a detractor).",
    schema=pa.schema(
        [
            _f("response_id", pa.string()),
            _f("followed_up_at", UTC_TIMESTAMP),
            _f("outcome", pa.string(), True),
        ]
    ),
    primary_key=("response_id", "followed_up_at"),
)

ENTITIES: Final[MappingProxyType[str, Entity]] = MappingProxyType(
    {
        e.name: e
        for e in (TICKETS, PROJECTS, SURVEY_RESPONSES, CLIENTS, SURVEY_INVITATIONS, FOLLOWUPS)
    }
)


def get_entity(name: str) -> Entity:
    """Look an entity up by name, with an error that lists the valid names."""
    try:
        return ENTITIES[name]
    except KeyError:
        known = ", ".join(ENTITIES)
        raise KeyError(f"unknown entity {name!r}; the canonical entities are: {known}") from None


REASON_FIELDS: Final = ("check", "column", "value", "message")
REASON_DTYPE: Final = pl.Struct(dict.fromkeys(REASON_FIELDS, pl.String))
"""Why a row cannot be trusted: the rule (``parse``, ``between(csat)``…), the column, the
offending value as text and a human message. Conform and validation both produce lists of
these, and quarantine stores them."""

# ---------------------------------------------------------------------------------------------
# Output tables (what BI tools read). Versioned like the entities.

METRIC_VALUES_VERSION: Final = 1
METRIC_VALUES: Final = pa.schema(
    [
        _f("metric", pa.string()),
        _f("period_grain", pa.string()),
        _f("period_start", pa.date32()),
        _f("period_end", pa.date32()),
        _f("client_id", pa.string(), True),
        _f("segment", pa.string(), True),
        _f("value", pa.float64()),
        _f("numerator", pa.float64(), True),
        _f("denominator", pa.float64(), True),
        _f("sample_size", pa.int64()),
        _f("unit", pa.string()),
        _f("run_id", pa.string()),
        _f("computed_at", UTC_TIMESTAMP),
    ]
)
"""The fact table, long form. ``period_end`` is the last day inside the period (inclusive)."""

METRIC_RESULT_COLUMNS: Final = (
    "metric",
    "period_grain",
    "period_start",
    "period_end",
    "client_id",
    "segment",
    "value",
    "numerator",
    "denominator",
    "sample_size",
)
"""What a metric plugin returns; the runner adds ``unit``, ``run_id`` and ``computed_at``."""

DIM_METRIC: Final = pa.schema(
    [
        _f("metric", pa.string()),
        _f("title", pa.string()),
        _f("description", pa.string()),
        _f("unit", pa.string()),
        _f("polarity", pa.string()),
        _f("plugin", pa.string()),
    ]
)

DIM_CLIENT: Final = pa.schema([f.with_nullable(f.name != "client_id") for f in CLIENTS.schema])
"""The clients entity, or the client ids the data mentions when no clients source exists
(then only ``client_id`` and ``name`` are known)."""


SIGNALS_VERSION: Final = 1
SIGNALS: Final = pa.schema(
    [
        _f("signal", pa.string()),
        _f("metric", pa.string()),
        _f("period_grain", pa.string()),
        _f("period_start", pa.date32(), True),
        _f("period_end", pa.date32(), True),
        _f("client_id", pa.string(), True),
        _f("segment", pa.string(), True),
        _f("value", pa.float64(), True),
        _f("reference", pa.float64(), True),
        _f("change", pa.float64(), True),
        _f("score", pa.float64(), True),
        _f("lower", pa.float64(), True),
        _f("upper", pa.float64(), True),
        _f("direction", pa.string(), True),
        _f("flagged", pa.bool_()),
        _f("detail", pa.string(), True),
        _f("run_id", pa.string()),
        _f("computed_at", UTC_TIMESTAMP),
    ]
)
"""What the metric values say beyond themselves, one row per series point and signal kind.

``signal`` is ``trend``, ``anomaly``, ``expectation_gap``, ``process_signal``, ``hotspot``,
``benchmark`` or a plugin's own. The meaning of ``reference``, ``change``, ``score``,
``lower`` and ``upper`` per signal is in the data dictionary; ``flagged`` says whether the
row calls for attention, so a BI filter on it shows what matters."""

ACTION_PLAN_VERSION: Final = 1
ACTION_PLAN: Final = pa.schema(
    [
        _f("client_id", pa.string(), True),
        _f("period_grain", pa.string()),
        _f("period_start", pa.date32()),
        _f("period_end", pa.date32()),
        _f("principle", pa.string()),
        _f("rule", pa.string()),
        _f("trigger_metric", pa.string()),
        _f("segment", pa.string(), True),
        _f("observed", pa.float64(), True),
        _f("target", pa.float64(), True),
        _f("severity", pa.string()),
        _f("recommended_action", pa.string()),
        _f("run_id", pa.string()),
        _f("computed_at", UTC_TIMESTAMP),
    ]
)
"""The Customer Service Action Plan: one row per triggered rule, client and period."""

ACTION_PRINCIPLES: Final = (
    "alignment",
    "standards",
    "communication",
    "partnership",
    "continuous_improvement",
)
SEVERITIES: Final = ("high", "medium", "low")


COLUMN_DOCS: Final[MappingProxyType[str, MappingProxyType[str, str]]] = MappingProxyType(
    {
        "metric_values": MappingProxyType(
            {
                "metric": "Metric name, as in `dim_metric` (`nps`, `cx_communication`, …).",
                "period_grain": "`week`, `month`, `quarter` or `year`.",
                "period_start": "First day of the period (weeks start on Monday), UTC.",
                "period_end": "Last day inside the period (inclusive).",
                "client_id": "The client; null on the all-clients row.",
                "segment": "`column=value` for a segmented variant "
                "(`request_type=support`); null when unsegmented.",
                "value": "The metric's value in its unit; never NaN.",
                "numerator": "Σ numerator ÷ Σ denominator re-aggregates across periods or "
                "clients (× 100 for % and nps); null for counts, quantiles and spreads.",
                "denominator": "See `numerator`.",
                "sample_size": "Eligible rows behind the value (tickets, responses, …).",
                "unit": "`count`, `hours` or `business hours`, `%`, `0-100`, `nps`, …",
                "run_id": "The run that computed the row (its manifest is `_runs/<run_id>.json`).",
                "computed_at": "When the run computed the row, UTC.",
            }
        ),
        "dim_metric": MappingProxyType(
            {
                "metric": "Metric name (the key of `metric_values.metric`).",
                "title": "Human title for reports.",
                "description": "The definition, one sentence.",
                "unit": "The unit of `metric_values.value`.",
                "polarity": "`higher_is_better`, `lower_is_better` or `neutral`.",
                "plugin": "The plugin that registered the metric (`builtin` for the core).",
            }
        ),
        "dim_client": MappingProxyType(
            {
                "client_id": "The client (key of every `client_id`).",
                "name": "Client name (the id when no clients source exists).",
                "segment": "The client's segment, if known.",
                "relationship_start": "When the relationship began.",
                "relationship_end": "When it ended; null while active.",
            }
        ),
        "signals": MappingProxyType(
            {
                "signal": "The kind of signal (`trend`, `anomaly`, …); see the kinds below.",
                "metric": "The metric the signal reads.",
                "period_grain": "The metric's grain.",
                "period_start": "Period of the point the signal is about.",
                "period_end": "Last day of that period.",
                "client_id": "The client; null for all clients.",
                "segment": "The metric's segment, or the attribute value of a hotspot.",
                "value": "The observed value (meaning per kind below).",
                "reference": "What the value is compared with (per kind below).",
                "change": "value − reference, or the kind's own difference.",
                "score": "The kind's test statistic (z-score, impact rank, …).",
                "lower": "Lower limit or quartile, where the kind has one.",
                "upper": "Upper limit or quartile, where the kind has one.",
                "direction": "`positive`, `neutral` or `negative`, judged with the metric's "
                "polarity.",
                "flagged": "True when the row calls for attention.",
                "detail": "A human-readable explanation or source citation.",
                "run_id": "The run that computed the row.",
                "computed_at": "When, UTC.",
            }
        ),
        "action_plan": MappingProxyType(
            {
                "client_id": "The client; null for all clients.",
                "period_grain": "The grain of the triggering metric.",
                "period_start": "The period in which the rule triggered.",
                "period_end": "Last day of that period.",
                "principle": "`alignment`, `standards`, `communication`, `partnership` or "
                "`continuous_improvement`.",
                "rule": "The rule that triggered (`standards.sla_below_target`, …).",
                "trigger_metric": "The metric whose value or signal triggered it.",
                "segment": "The metric's segment, if any.",
                "observed": "The observed value.",
                "target": "The configured target (null for signal-driven rules).",
                "severity": "`high`, `medium` or `low`.",
                "recommended_action": "What to do next, in one sentence.",
                "run_id": "The run that computed the row.",
                "computed_at": "When, UTC.",
            }
        ),
    }
)
"""One line per column of the fixed output tables, for the generated data dictionary."""
