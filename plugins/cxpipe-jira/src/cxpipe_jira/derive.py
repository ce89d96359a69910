"""Values derived from Jira Service Management JSON, as text columns under ``jsm.*``.

The raw issue is kept whole (flattened: ``fields.priority.name``), so a config can map any
field. What a dotted name cannot express is derived here: the times buried in an SLA
field's cycles, the first of a list of organizations, counts over a changelog. Every
function is pure (JSON in, text out) and returns ``None`` for what the data does not say.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def jsm_date(value: Any) -> datetime | None:
    """A JSM ``DateDTO`` (``{"epochMillis": …, "iso8601": …, "jira": …, "friendly": …}``)
    as an aware datetime: ``epochMillis`` when given, else ``iso8601`` / ``jira``."""
    if not isinstance(value, Mapping):
        return None
    millis = value.get("epochMillis")
    if isinstance(millis, int | float) and not isinstance(millis, bool):
        return datetime.fromtimestamp(millis / 1000, UTC)
    for key in ("iso8601", "jira"):
        text = value.get(key)
        if isinstance(text, str) and text:
            try:
                moment = datetime.fromisoformat(text)
            except ValueError:
                continue
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return None


def _millis(value: Any) -> int | None:
    """A JSM ``DurationDTO`` (``{"millis": …, "friendly": …}``) in milliseconds."""
    if isinstance(value, Mapping):
        millis = value.get("millis")
        if isinstance(millis, int | float) and not isinstance(millis, bool):
            return int(millis)
    return None


@dataclass(frozen=True)
class SlaCycle:
    """One cycle of a JSM SLA field, reduced to what the canonical tickets need."""

    started_at: datetime | None
    stopped_at: datetime | None
    """``None`` for the ongoing cycle."""
    due_at: datetime | None
    breached: bool | None


def _cycle(raw: Any) -> SlaCycle | None:
    if not isinstance(raw, Mapping):
        return None
    started = jsm_date(raw.get("startTime"))
    due = jsm_date(raw.get("breachTime"))
    goal = _millis(raw.get("goalDuration"))
    if due is None and started is not None and goal is not None:
        # Exact for a 24/7 calendar; for an SLA timed in calendar hours Jira sends
        # breachTime, so this fallback only serves responses that leave it out.
        due = started + timedelta(milliseconds=goal)
    breached = raw.get("breached")
    return SlaCycle(
        started_at=started,
        stopped_at=jsm_date(raw.get("stopTime")),
        due_at=due,
        breached=breached if isinstance(breached, bool) else None,
    )


def sla_cycle(value: Any, which: Literal["first", "current"]) -> SlaCycle | None:
    """The cycle of an SLA field that counts.

    ``first``: the first completed cycle, else the ongoing one (a first response happens
    once). ``current``: the ongoing cycle, else the last completed one (a reopened request
    starts a new resolution cycle; its final resolution is judged by the last).
    """
    if not isinstance(value, Mapping):
        return None
    completed = [c for c in map(_cycle, value.get("completedCycles") or []) if c is not None]
    ongoing = _cycle(value.get("ongoingCycle"))
    if which == "first":
        return completed[0] if completed else ongoing
    return ongoing or (completed[-1] if completed else None)


def sla_columns(value: Any, prefix: Literal["respond", "resolve"]) -> dict[str, str | None]:
    """``{prefix}_due_at``, ``{prefix}_stopped_at`` and ``{prefix}_breached`` of an SLA
    field ("Time to first response" → ``respond``, "Time to resolution" → ``resolve``)."""
    cycle = sla_cycle(value, "first" if prefix == "respond" else "current")
    if cycle is None:
        return {f"{prefix}_due_at": None, f"{prefix}_stopped_at": None, f"{prefix}_breached": None}
    breached = None if cycle.breached is None else str(cycle.breached).lower()
    return {
        f"{prefix}_due_at": _iso(cycle.due_at),
        f"{prefix}_stopped_at": _iso(cycle.stopped_at),
        f"{prefix}_breached": breached,
    }


def request_type_name(value: Any) -> str | None:
    """The request type's name from the "Customer Request Type" field
    (``{"requestType": {"name": …}, "currentStatus": …}``)."""
    if isinstance(value, Mapping):
        request_type = value.get("requestType")
        if isinstance(request_type, Mapping) and isinstance(request_type.get("name"), str):
            name: str = request_type["name"]
            return name
    return None


def first_organization(value: Any) -> str | None:
    """The first organization's name from the "Organizations" field (a list of
    ``{"id": …, "name": …}``)."""
    if isinstance(value, list):
        for organization in value:
            if isinstance(organization, Mapping) and isinstance(organization.get("name"), str):
                name: str = organization["name"]
                return name
    return None


def field(issue: Mapping[str, Any], field_id: str | None) -> Any:
    """``issue["fields"][field_id]``, or ``None``."""
    fields = issue.get("fields")
    if field_id is None or not isinstance(fields, Mapping):
        return None
    return fields.get(field_id)


def client_of(issue: Mapping[str, Any], organization_field: str | None) -> str | None:
    """The request's client: its first organization, else its project's key."""
    organization = first_organization(field(issue, organization_field))
    if organization:
        return organization
    project = field(issue, "project")
    if isinstance(project, Mapping) and isinstance(project.get("key"), str):
        key: str = project["key"]
        return key
    return None


@dataclass
class ChangeCounts:
    """Counts over one issue's changelog."""

    reopens: int = 0
    """Changes of the resolution from a value to none: the request was reopened."""
    reassignments: int = 0
    """Changes of the assignee away from someone (a first assignment is not counted)."""


def _empty(value: Any) -> bool:
    return value is None or value == ""


def count_changes(histories: Iterable[Mapping[str, Any]], counts: ChangeCounts) -> None:
    """Add the changes of ``histories`` (changelog entries with ``items``) to ``counts``."""
    for history in histories:
        for item in history.get("items") or []:
            if not isinstance(item, Mapping):
                continue
            name = item.get("fieldId") or item.get("field")
            if name == "resolution" and not _empty(item.get("from")) and _empty(item.get("to")):
                counts.reopens += 1
            elif name == "assignee" and not _empty(item.get("from")):
                counts.reassignments += 1


def feedback_rating(body: Mapping[str, Any]) -> int | None:
    """The 1–5 rating of a CSAT feedback body (``{"type": "csat", "rating": 4, "comment":
    {"body": …}}``), or ``None`` when the request has none."""
    rating = body.get("rating")
    if isinstance(rating, bool) or not isinstance(rating, int | float):
        return None
    return int(rating)
