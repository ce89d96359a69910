"""Small hand-made output tables for the scorecard's unit tests.

Three months (Aug–Oct 2026), all clients and two clients: ``C1`` with surveys and a
detractor whose comment is hostile markup, ``C2`` with tickets only (no survey at all).
The values are picked so each status shows up once the tests' targets apply:

| metric (target) | all clients, Oct | C1, Oct | C2, Oct |
|---|---|---|---|
| sla_resolution_compliance_pct (≥ 90) | 95 met | 89 near (1.1 % short) | 60 missed |
| mttr_critical_hours (≤ 8) | 8.5 near (6.25 % over) | 12 missed | 8 met (equal) |
| csat_pct (≥ 80) | 75 near | 70 missed | — (no surveys) |
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import polars as pl

from cxpipe.scorecard.model import TABLE_SCHEMAS

AUG, SEP, OCT = date(2026, 8, 1), date(2026, 9, 1), date(2026, 10, 1)
ENDS = {AUG: date(2026, 8, 31), SEP: date(2026, 9, 30), OCT: date(2026, 10, 31)}
HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)>"
HOSTILE_NAME = 'Acme <b>&</b> "Sons"'
TARGETS = {"sla_resolution_compliance_pct": 90.0, "mttr_critical_hours": 8.0, "csat_pct": 80.0}
RUN_ID = "20261101T063000Z-abc123"
COMPUTED = datetime(2026, 11, 1, 6, 30, tzinfo=UTC)

MANIFEST: dict[str, Any] = {
    "run_id": RUN_ID,
    "status": "succeeded",
    "started_at": "2026-11-01T06:29:00+00:00",
    "finished_at": "2026-11-01T06:30:00+00:00",
    "period_grain": "month",
    "versions": {"cxpipe": "0.1.0"},
    "sources": [
        {
            "name": "tickets",
            "entity": "tickets",
            "rows_read": 10,
            "rows_kept": 9,
            "rows_quarantined": 1,
        },
    ],
}

UNITS = {
    "sla_resolution_compliance_pct": ("%", "higher_is_better", "SLA resolution compliance"),
    "mttr_critical_hours": ("hours", "lower_is_better", "Mean time to resolve critical tickets"),
    "csat_pct": ("%", "higher_is_better", "CSAT (top-two-box)"),
    "nps": ("nps", "higher_is_better", "Net Promoter Score"),
    "ticket_volume": ("count", "neutral", "Ticket volume"),
}

SERIES: dict[tuple[str, str | None], tuple[float, float, float]] = {
    ("sla_resolution_compliance_pct", None): (88, 91, 95),
    ("sla_resolution_compliance_pct", "C1"): (80, 85, 89),
    ("sla_resolution_compliance_pct", "C2"): (70, 72, 60),
    ("mttr_critical_hours", None): (7, 8, 8.5),
    ("mttr_critical_hours", "C1"): (9, 9, 12),
    ("mttr_critical_hours", "C2"): (5, 6, 8),
    ("csat_pct", None): (70, 72, 75),
    ("csat_pct", "C1"): (70, 72, 70),
    ("nps", None): (30, 35, 40),
    ("nps", "C1"): (30, 35, 40),
    ("ticket_volume", None): (100, 110, 120),
    ("ticket_volume", "C1"): (60, 65, 70),
    ("ticket_volume", "C2"): (40, 45, 50),
}


def _frame(name: str, rows: list[dict[str, Any]]) -> pl.DataFrame:
    schema = pl.DataFrame(TABLE_SCHEMAS[name].empty_table()).schema
    return pl.DataFrame(rows, schema=schema)


def _run_columns() -> dict[str, Any]:
    return {"run_id": RUN_ID, "computed_at": COMPUTED}


def metric_values() -> pl.DataFrame:
    rows = [
        {
            "metric": metric,
            "period_grain": "month",
            "period_start": period,
            "period_end": ENDS[period],
            "client_id": client,
            "segment": None,
            "value": value,
            "sample_size": 20,
            "unit": UNITS[metric][0],
            **_run_columns(),
        }
        for (metric, client), values in SERIES.items()
        for period, value in zip((AUG, SEP, OCT), values, strict=True)
    ]
    return _frame("metric_values", rows)


def _signal(**values: Any) -> dict[str, Any]:
    return {
        "period_grain": "month",
        "period_start": OCT,
        "period_end": ENDS[OCT],
        "client_id": None,
        "segment": None,
        "flagged": False,
        **_run_columns(),
        **values,
    }


def signals() -> pl.DataFrame:
    rows = [
        _signal(
            signal="trend",
            metric="sla_resolution_compliance_pct",
            value=95.0,
            reference=91.0,
            change=4.0,
            direction="positive",
        ),
        _signal(
            signal="benchmark",
            metric="nps",
            value=40.0,
            reference=67.0,
            change=-27.0,
            direction="negative",
            flagged=True,
            detail="HappySignals benchmark (2019)",
        ),
        _signal(
            signal="benchmark",
            metric="nps",
            client_id="C1",
            value=40.0,
            reference=67.0,
            change=-27.0,
            direction="negative",
            flagged=True,
            detail="HappySignals benchmark (2019)",
        ),
        _signal(
            signal="anomaly",
            metric="mttr_critical_hours",
            client_id="C1",
            value=12.0,
            reference=9.0,
            change=3.0,
            score=6.1,
            direction="negative",
            flagged=True,
            detail="12 trailing periods",
        ),
        _signal(
            signal="hotspot",
            metric="csat_pct",
            period_start=None,
            period_end=None,
            segment="channel=phone",
            value=50.0,
            reference=72.0,
            change=-22.0,
            score=-110.0,
            direction="negative",
            flagged=True,
            detail="rank 1 of 3; 5 responses",
        ),
    ]
    return _frame("signals", rows)


def _action(
    client: str | None,
    rule: str,
    metric: str,
    figures: tuple[float, float, str],
    period: date = OCT,
) -> dict[str, Any]:
    """A plan row; ``figures`` are the observed value, the target and the severity."""
    observed, target, severity = figures
    return {
        "client_id": client,
        "period_grain": "month",
        "period_start": period,
        "period_end": ENDS[period],
        "principle": rule.split(".", maxsplit=1)[0],
        "rule": rule,
        "trigger_metric": metric,
        "segment": None,
        "observed": observed,
        "target": target,
        "severity": severity,
        "recommended_action": f"Act on {metric}.",
        **_run_columns(),
    }


SLA_RULE = "standards.sla_compliance_below_target"
MTTR_RULE = "standards.mttr_critical_above_target"
SLA, MTTR = "sla_resolution_compliance_pct", "mttr_critical_hours"


def action_plan() -> pl.DataFrame:
    rows = [
        _action(None, MTTR_RULE, MTTR, (8.5, 8.0, "low")),
        _action("C1", SLA_RULE, SLA, (89.0, 90.0, "low")),
        _action("C1", MTTR_RULE, MTTR, (12.0, 8.0, "high")),
        _action("C1", "continuous_improvement.anomaly", MTTR, (12.0, 9.0, "medium")),
        _action("C1", SLA_RULE, SLA, (85.0, 90.0, "low"), SEP),
        _action("C2", SLA_RULE, SLA, (60.0, 90.0, "high")),
    ]
    return _frame("action_plan", rows)


def _detractor(response: str, status: str, due: datetime, comment: str | None) -> dict[str, Any]:
    return {
        "response_id": response,
        "client_id": "C1",
        "respondent_id": f"C1-{response}",
        "respondent_level": "business_user",
        "survey_kind": "transactional",
        "ticket_id": "INC1",
        "submitted_at": datetime(2026, 10, 1, 9, tzinfo=UTC),
        "nps_score": 3,
        "csat": 2,
        "comment": comment,
        "due_by": due,
        "followup_count": 0,
        "status": status,
        "status_as_of": datetime(2026, 10, 31, 18, tzinfo=UTC),
        **_run_columns(),
    }


def detractor_followups() -> pl.DataFrame:
    rows = [
        _detractor("R1", "overdue", datetime(2026, 10, 3, 9, tzinfo=UTC), HOSTILE),
        _detractor("R2", "open", datetime(2026, 11, 2, 9, tzinfo=UTC), "Still waiting."),
        _detractor("R3", "on_time", datetime(2026, 10, 5, 9, tzinfo=UTC), "Thanks for calling."),
    ]
    return _frame("detractor_followups", rows)


def feedback_themes() -> pl.DataFrame:
    rows = [
        {
            "response_id": "R1",
            "client_id": "C1",
            "submitted_at": datetime(2026, 10, 1, 9, tzinfo=UTC),
            "theme": "communication",
            "polarity": "negative",
            "polarity_source": "score",
            "matched": "alert",
            "language": "en",
            "comment": HOSTILE,
            **_run_columns(),
        },
        {
            "response_id": "R4",
            "client_id": "C1",
            "submitted_at": datetime(2026, 10, 9, 9, tzinfo=UTC),
            "theme": "professionalism",
            "polarity": "positive",
            "polarity_source": "score",
            "matched": "helpful",
            "language": "en",
            "comment": "Helpful people.",
            **_run_columns(),
        },
    ]
    return _frame("feedback_themes", rows)


def dim_metric() -> pl.DataFrame:
    rows = [
        {
            "metric": m,
            "title": title,
            "description": title,
            "unit": unit,
            "polarity": polarity,
            "plugin": "builtin",
        }
        for m, (unit, polarity, title) in UNITS.items()
    ]
    return _frame("dim_metric", rows)


def dim_client() -> pl.DataFrame:
    rows = [
        {
            "client_id": "C1",
            "name": HOSTILE_NAME,
            "segment": "enterprise",
            "relationship_start": date(2020, 1, 1),
        },
        {
            "client_id": "C2",
            "name": "Beta Ltd",
            "segment": "mid-market",
            "relationship_start": date(2021, 1, 1),
        },
    ]
    return _frame("dim_client", rows)


def tables() -> dict[str, pl.DataFrame]:
    """Every table the scorecard reads, freshly built."""
    return {
        "metric_values": metric_values(),
        "dim_metric": dim_metric(),
        "dim_client": dim_client(),
        "signals": signals(),
        "action_plan": action_plan(),
        "detractor_followups": detractor_followups(),
        "feedback_themes": feedback_themes(),
    }
