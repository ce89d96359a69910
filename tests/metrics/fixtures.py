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

    return {
        "tickets": tickets(*ticket_rows),
        "survey_responses": responses(*response_rows),
        "projects": projects(*project_rows),
        "clients": clients(*client_rows),
    }
