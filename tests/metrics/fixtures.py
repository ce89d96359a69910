"""Small canonical frames for metric tests, and a way to read results by their grain key.

Builders fill every required column with a harmless default, so a test row only names the
columns its case is about. Frames always carry the exact canonical schema: they are
concatenated onto the entity's empty table, so a wrong type fails here, not in a metric.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl
import pytest

from cxpipe.metrics.base import Grain, MetricContext, MetricSpec
from cxpipe.schemas import (
    CLIENTS,
    PRIORITIES,
    PROJECTS,
    PROXIES,
    REQUEST_TYPES,
    SURVEY_RESPONSES,
    TICKETS,
    Entity,
)

Key = tuple[str, date, str | None, str | None]
"""A result row's grain key: (metric, period_start, client_id, segment)."""


def ts(text: str) -> datetime:
    """A UTC instant from ``YYYY-MM-DD HH:MM`` (or a bare date, meaning midnight)."""
    parsed = datetime.fromisoformat(text)
    return parsed.replace(tzinfo=UTC)


def d(text: str) -> date:
    return date.fromisoformat(text)


def _frame(entity: Entity, rows: list[dict[str, Any]], defaults: Mapping[str, Any]) -> pl.DataFrame:
    filled = [{**defaults, **row} for row in rows]
    for row in filled:
        unknown = set(row) - set(entity.columns)
        assert not unknown, f"{entity.name} has no column(s) {sorted(unknown)}"
    built = pl.DataFrame(filled, schema=entity.polars_schema) if filled else entity.empty()
    return pl.concat([entity.empty(), built], how="vertical")


def tickets(*rows: dict[str, Any]) -> pl.DataFrame:
    """Tickets; ``ticket_id`` defaults to ``t<n>`` and ``updated_at`` to ``opened_at``."""
    numbered = [
        {"ticket_id": f"t{i}", "updated_at": row.get("opened_at"), **row}
        for i, row in enumerate(rows)
    ]
    defaults = {
        "source_system": "test",
        "client_id": "A",
        "request_type": "support",
        "priority": "medium",
        "status": "open",
        "reopen_count": 0,
        "reassignment_count": 0,
    }
    return _frame(TICKETS, numbered, defaults)


def responses(*rows: dict[str, Any]) -> pl.DataFrame:
    """Survey responses; by default a transactional response from a client."""
    numbered = [{"response_id": f"r{i}", **row} for i, row in enumerate(rows)]
    defaults = {"client_id": "A", "respondent_side": "client", "survey_kind": "transactional"}
    return _frame(SURVEY_RESPONSES, numbered, defaults)


def projects(*rows: dict[str, Any]) -> pl.DataFrame:
    numbered = [
        {"project_id": f"p{i}", "name": f"Project {i}", **row} for i, row in enumerate(rows)
    ]
    return _frame(PROJECTS, numbered, {"client_id": "A", "status": "done"})


def clients(*rows: dict[str, Any]) -> pl.DataFrame:
    named = [{"name": f"Client {row['client_id']}", **row} for row in rows]
    return _frame(CLIENTS, named, {})


def run(
    spec: MetricSpec,
    frames: Mapping[str, pl.DataFrame],
    *,
    grain: Grain = "month",
    settings: Mapping[str, Any] | None = None,
    window: tuple[date, date] | None = None,
) -> pl.DataFrame:
    """Compute ``spec`` on lazy versions of ``frames`` and collect the result."""
    ctx = MetricContext(grain=grain, settings=dict(settings or {}), window=window)
    lazy = {name: frame.lazy() for name, frame in frames.items()}
    return spec.compute(ctx, lazy).collect()


@dataclass(frozen=True)
class Row:
    value: float
    numerator: float | None
    denominator: float | None
    sample_size: int


def by_key(result: pl.DataFrame) -> dict[Key, Row]:
    """The result rows keyed by grain; fails if a key occurs twice."""
    out: dict[Key, Row] = {}
    for r in result.iter_rows(named=True):
        key: Key = (r["metric"], r["period_start"], r["client_id"], r["segment"])
        assert key not in out, f"duplicate grain key {key}"
        out[key] = Row(r["value"], r["numerator"], r["denominator"], r["sample_size"])
    return out


def expect(
    result: pl.DataFrame,
    expected: Mapping[Key, tuple[float, float | None, float | None, int]],
    *,
    metric: str | None = None,
) -> None:
    """Assert ``result`` (optionally only its rows of ``metric``) is exactly ``expected``.

    ``expected`` maps each grain key to (value, numerator, denominator, sample_size). Every
    key must be present and no other key may be: a missing row and an extra row (an empty
    group emitted as 0) are both failures. Floats are compared to 1e-12 relative, which
    only absorbs the last bit of a division.
    """
    rows = by_key(result)
    if metric is not None:
        rows = {k: v for k, v in rows.items() if k[0] == metric}
    assert set(rows) == set(expected), (
        f"missing {sorted(set(expected) - set(rows), key=str)}, "
        f"extra {sorted(set(rows) - set(expected), key=str)}"
    )
    for key, (value, numerator, denominator, sample_size) in expected.items():
        got = rows[key]
        assert got.value == pytest.approx(value, rel=1e-12, abs=1e-12), key
        for name, want, have in (
            ("numerator", numerator, got.numerator),
            ("denominator", denominator, got.denominator),
        ):
            if want is None:
                assert have is None, (key, name)
            else:
                assert have == pytest.approx(want, rel=1e-12, abs=1e-12), (key, name)
        assert got.sample_size == sample_size, key


def random_frames(
    seed: int, *, n_tickets: int = 400, n_responses: int = 300
) -> dict[str, pl.DataFrame]:
    """A varied, valid data set across two years, for contract and cross-check tests.

    It deliberately holds the awkward cases: missing scores and proxies, IT
    self-assessments, unresolved tickets, tickets with and without a source due time,
    ties on the due instant, unfinished projects, and clients that come and go.
    """
    rng = random.Random(seed)
    client_ids = [f"C{i:02d}" for i in range(8)]
    base = datetime(2023, 1, 1, tzinfo=UTC)

    def instant() -> datetime:
        return base + timedelta(minutes=rng.randrange(0, 2 * 365 * 24 * 60))

    def maybe(value: Any, p_null: float) -> Any:
        return None if rng.random() < p_null else value

    ticket_rows: list[dict[str, Any]] = []
    for _ in range(n_tickets):
        opened = instant()
        resolved = maybe(opened + timedelta(minutes=rng.randrange(1, 10 * 24 * 60)), 0.2)
        due = maybe(opened + timedelta(hours=rng.choice([4, 8, 24, 72])), 0.5)
        if resolved is not None and due is not None and rng.random() < 0.05:
            resolved = due  # exactly on the due instant: a hit
        ticket_rows.append(
            {
                "client_id": rng.choice(client_ids),
                "request_type": rng.choice(REQUEST_TYPES),
                "priority": rng.choice(PRIORITIES),
                "opened_at": opened,
                "resolved_at": resolved,
                "resolve_due_at": due,
            }
        )

    def score(low: int, high: int, p_null: float) -> int | None:
        return None if rng.random() < p_null else rng.randint(low, high)

    response_rows = [
        {
            "client_id": rng.choice(client_ids),
            "respondent_side": "it" if rng.random() < 0.15 else "client",
            "submitted_at": instant(),
            "nps_score": score(0, 10, 0.3),
            "csat": score(1, 5, 0.3),
            **{proxy: score(1, 5, 0.5) for proxy in PROXIES},
        }
        for _ in range(n_responses)
    ]

    project_rows = []
    for _ in range(60):
        planned_end = (base + timedelta(days=rng.randrange(0, 700))).date()
        slip = rng.choice([-10, -1, 0, 0, 1, 2, 5, 30])
        project_rows.append(
            {
                "client_id": rng.choice(client_ids),
                "planned_end": planned_end,
                "actual_end": maybe(planned_end + timedelta(days=slip), 0.2),
            }
        )

    def boundary_day(day: date) -> date:
        """Often snap to a period boundary (first of a month, or the day before it)."""
        roll = rng.random()
        if roll < 0.3:
            return day.replace(day=1)
        if roll < 0.6:
            return day.replace(day=1) - timedelta(days=1)
        return day

    client_rows = []
    for cid in [*client_ids, *(f"X{i:02d}" for i in range(40))]:  # X…: clients without events
        start = boundary_day(date(2022, 1, 1) + timedelta(days=rng.randrange(0, 3 * 365)))
        end = maybe(boundary_day(start + timedelta(days=rng.randrange(31, 700))), 0.4)
        client_rows.append({"client_id": cid, "relationship_start": start, "relationship_end": end})

    frames = {
        "tickets": tickets(*ticket_rows),
        "survey_responses": responses(*response_rows),
        "projects": projects(*project_rows),
        "clients": clients(*client_rows),
    }
    return with_survey_detail(with_delivery_detail(frames, seed), seed)


def with_delivery_detail(frames: dict[str, pl.DataFrame], seed: int) -> dict[str, pl.DataFrame]:
    """Fill the delivery columns ``random_frames`` leaves empty, from a separate stream.

    Tickets get first responses (some missing, some exactly on the due instant), source
    response due times (half missing, so the configured targets apply to the rest), reopen
    and reassignment counts. Projects get budgets and costs, deliverables and success
    criteria, each sometimes missing and sometimes 0. The main random stream is untouched,
    so every other column is exactly what it was.
    """
    rng = random.Random(f"delivery-{seed}")
    ticket_frame = frames["tickets"]
    first_response: list[datetime | None] = []
    respond_due: list[datetime | None] = []
    for opened in ticket_frame["opened_at"].to_list():
        due = None if rng.random() < 0.5 else opened + timedelta(hours=rng.choice([1, 4, 8, 24]))
        response = (
            None
            if rng.random() < 0.2
            else opened + timedelta(minutes=rng.randrange(0, 3 * 24 * 60))
        )
        if response is not None and due is not None and rng.random() < 0.05:
            response = due  # exactly on the due instant: a hit
        first_response.append(response)
        respond_due.append(due)
    n = ticket_frame.height
    counts = [0, 0, 0, 1, 2]
    ticket_frame = ticket_frame.with_columns(
        pl.Series("first_response_at", first_response, dtype=ticket_frame["opened_at"].dtype),
        pl.Series("respond_due_at", respond_due, dtype=ticket_frame["opened_at"].dtype),
        pl.Series("reopen_count", [rng.choice(counts) for _ in range(n)], dtype=pl.Int32),
        pl.Series("reassignment_count", [rng.choice(counts) for _ in range(n)], dtype=pl.Int32),
    )

    project_frame = frames["projects"]
    m = project_frame.height

    def maybe(value: float, p_null: float) -> float | None:
        return None if rng.random() < p_null else value

    budgets = [maybe(float(rng.choice([0, 100, 1_000, 25_000])), 0.15) for _ in range(m)]
    costs = [
        maybe((b or 500.0) * rng.choice([0.0, 0.5, 1.0, 1.04, 1.1, 2.0]), 0.2) for b in budgets
    ]
    promised = [maybe(rng.choice([0, 1, 3, 5, 8]), 0.1) for _ in range(m)]
    delivered = [maybe(rng.randint(0, int(p or 0) + 1), 0.1) for p in promised]
    criteria = [maybe(rng.choice([0, 1, 2, 4]), 0.1) for _ in range(m)]
    met = [maybe(rng.randint(0, int(c or 0)), 0.1) for c in criteria]
    project_frame = project_frame.with_columns(
        pl.Series("budget", budgets, dtype=pl.Float64),
        pl.Series("actual_cost", costs, dtype=pl.Float64),
        pl.Series("deliverables_promised", promised, dtype=pl.Int32),
        pl.Series("deliverables_delivered", delivered, dtype=pl.Int32),
        pl.Series("success_criteria_total", criteria, dtype=pl.Int32),
        pl.Series("success_criteria_met", met, dtype=pl.Int32),
    )
    return {**frames, "tickets": ticket_frame, "projects": project_frame}


def run_ctx(
    spec: MetricSpec, frames: Mapping[str, pl.DataFrame], ctx: MetricContext
) -> pl.DataFrame:
    """Compute ``spec`` with a context built by the test (a custom clock, say), collected."""
    return spec.compute(ctx, {name: frame.lazy() for name, frame in frames.items()}).collect()


def invitations(*rows: dict[str, Any]) -> pl.DataFrame:
    """Survey invitations; by default a transactional invitation to client A."""
    from cxpipe.schemas import SURVEY_INVITATIONS

    numbered = [{"invitation_id": f"i{i}", **row} for i, row in enumerate(rows)]
    defaults = {"client_id": "A", "survey_kind": "transactional"}
    return _frame(SURVEY_INVITATIONS, numbered, defaults)


def followups(*rows: dict[str, Any]) -> pl.DataFrame:
    """Follow-up records; each row names its ``response_id`` and ``followed_up_at``."""
    from cxpipe.schemas import FOLLOWUPS

    return _frame(FOLLOWUPS, list(rows), {})


def with_survey_detail(frames: dict[str, pl.DataFrame], seed: int) -> dict[str, pl.DataFrame]:
    """Fill the survey columns ``random_frames`` leaves empty and add invitations and
    follow-ups, from a separate random stream (every other column stays what it was).

    Responses get a survey kind (IT's are self-assessments), a respondent level (some
    missing), CES, relevance, importance ratings and lost-time estimates (some 0, many
    missing). Invitations are spread over the same two years and clients, every kind
    including self-assessments, so some clients and periods have invitations without
    responses and others responses without invitations. Follow-ups hit the awkward cases:
    exactly on the two-day deadline, one microsecond late, before the response, several
    per response, for non-detractors and for unknown responses.
    """
    from cxpipe.schemas import RESPONDENT_LEVELS, SURVEY_KINDS

    rng = random.Random(f"survey-{seed}")
    frame = frames["survey_responses"]
    n = frame.height

    def maybe(value: Any, p_null: float) -> Any:
        return None if rng.random() < p_null else value

    it_side = [side == "it" for side in frame["respondent_side"].to_list()]
    client_kinds = [k for k in SURVEY_KINDS if k != "self_assessment"]
    kinds = ["self_assessment" if it else rng.choice(client_kinds) for it in it_side]
    levels = [
        maybe("technology_team" if it else rng.choice(RESPONDENT_LEVELS), 0.2) for it in it_side
    ]
    lost = [maybe(rng.choice([0.0, 5.0, 30.0, 90.5, 240.0, 1_000.0]), 0.5) for _ in range(n)]
    frame = frame.with_columns(
        pl.Series("survey_kind", kinds, dtype=pl.String),
        pl.Series("respondent_level", levels, dtype=pl.String),
        pl.Series("ces", [maybe(rng.randint(1, 7), 0.3) for _ in range(n)], dtype=pl.Int8),
        pl.Series("relevance", [maybe(rng.randint(1, 5), 0.4) for _ in range(n)], dtype=pl.Int8),
        pl.Series("lost_time_minutes", lost, dtype=pl.Float64),
        *(
            pl.Series(
                f"importance_{proxy}",
                [maybe(rng.randint(1, 5), 0.6) for _ in range(n)],
                dtype=pl.Int8,
            )
            for proxy in PROXIES
        ),
    )
    # Comments from their own stream, so adding them changed no other column's draws.
    talk = random.Random(f"comments-{seed}")
    remarks = ["Too slow.", "Prix trop chers", "Great, helpful staff", "Nobody answered."]
    comments = [None if talk.random() < 0.5 else talk.choice(remarks) for _ in range(n)]
    frame = frame.with_columns(pl.Series("comment", comments, dtype=pl.String))

    client_ids = sorted(set(frame["client_id"].to_list()))
    base = datetime(2023, 1, 1, tzinfo=UTC)
    invitation_rows = [
        {
            "client_id": rng.choice(client_ids),
            "sent_at": base + timedelta(minutes=rng.randrange(0, 2 * 365 * 24 * 60)),
            "survey_kind": rng.choice(SURVEY_KINDS),
        }
        for _ in range(3 * n)
    ]

    delays = [
        timedelta(hours=1),
        timedelta(days=2),  # exactly on the default deadline: in time
        timedelta(days=2, microseconds=1),  # one microsecond late
        timedelta(days=3),
        timedelta(days=10),
        -timedelta(hours=2),  # recorded before the response (clock skew)
    ]
    followup_rows: list[dict[str, Any]] = []
    for response_id, submitted in frame.select("response_id", "submitted_at").iter_rows():
        for _ in range(rng.choice([0, 0, 1, 1, 1, 2])):
            followup_rows.append(
                {"response_id": response_id, "followed_up_at": submitted + rng.choice(delays)}
            )
    followup_rows.extend(
        {"response_id": f"unknown{i}", "followed_up_at": base + timedelta(days=i)} for i in range(5)
    )
    unique = {(r["response_id"], r["followed_up_at"]): r for r in followup_rows}
    return {
        **frames,
        "survey_responses": frame,
        "survey_invitations": invitations(*invitation_rows),
        "followups": followups(*unique.values()),
    }
