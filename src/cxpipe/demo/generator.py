"""Seeded demo data: two years of tickets, projects and surveys for twelve fictional clients.

The demo has to show what cxpipe finds, so the data is not just plausible noise: a few
effects are planted on purpose (:data:`PLANTED`) and the demo's scorecard, signals and
action plan should surface each of them. Everything else follows simple, documented
mechanisms (lognormal handling times, SLA breaches and reopens that lower the linked
survey scores, detractors that get called back), so metric values are explainable.

Generation is vectorised with one :class:`numpy.random.Generator`; loops run over clients,
months or request types, never over rows. The same seed gives the same frames and
byte-identical files.
"""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow.parquet as pq

from cxpipe.schemas import (
    CLIENTS,
    FOLLOWUPS,
    PRIORITIES,
    PROJECTS,
    PROXIES,
    REQUEST_TYPES,
    RESPONDENT_LEVELS,
    SURVEY_INVITATIONS,
    SURVEY_KINDS,
    SURVEY_RESPONSES,
    TICKETS,
    Entity,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

DEMO_START: Final = date(2024, 11, 1)
DEMO_END: Final = date(2026, 10, 31)
AS_OF: Final = datetime(2026, 10, 31, 23, 59, tzinfo=UTC)
"""The moment the demo "extract" was taken: no timestamp lies after it."""

_EPOCH: Final = np.datetime64("2024-11-01T00:00", "m")
_EPOCH_US: Final = int(_EPOCH.astype("datetime64[us]").astype(np.int64))
_EPOCH_DAY: Final = int(_EPOCH.astype("datetime64[D]").astype(np.int64))
_AS_OF_MIN: Final = float((np.datetime64("2026-10-31T23:59", "m") - _EPOCH).astype(np.int64))
_N_MONTHS: Final = 24
_MONTH_DAY: Final[IntArray] = (
    np.arange(np.datetime64("2024-11"), np.datetime64("2026-12"), dtype="datetime64[M]")
    .astype("datetime64[D]")
    .astype(np.int64)
    - _EPOCH_DAY
)
"""Day offset of each month's first day, plus the day after the window (25 entries)."""
_N_DAYS: Final = int(_MONTH_DAY[-1])
_MIN_PER_DAY: Final = 1440.0
_MIN_PER_HOUR: Final = 60.0

# --- the planted effects -----------------------------------------------------------------
PERCEPTION_CLIENT: Final = "C07"
SPIKE_MONTH: Final = "2025-09"
CHURN_CLIENT: Final = "C11"
CHURN_END: Final = date(2026, 4, 15)
CHURN_DECLINE: Final = ("2025-11", "2026-04")
DECLINE_CLIENT: Final = "C04"
DECLINE_MONTHS: Final = ("2026-05", "2026-10")
PERCEPTION_GAP_POINTS: Final = 18.0
"""IT's lift on communication before rounding; clipping at 5 leaves about 16-17 points."""
_MONTHLY_DROP: Final = 0.3
"""How far the churned client's satisfaction, and the declining client's communication rating,
fall each month of their decline (on the 1-5 scale: 1.8 points over six months)."""

PLANTED: Final[dict[str, str]] = {
    "good_delivery_poor_perception": (
        f"{PERCEPTION_CLIENT} (Larkspur Retail) gets the best delivery of all clients (SLA "
        "compliance and on-time projects clearly above the others) yet gives the lowest CSAT, "
        "NPS and client experience rating over the window, with a low communication proxy; "
        "its CSAT and communication ratings are below the other clients' in every month from "
        f"{DEMO_START:%Y-%m} to {DEMO_END:%Y-%m}."
    ),
    "critical_spike": (
        f"In {SPIKE_MONTH} every client opens about four times its usual number of critical "
        "tickets (a major-incident month), and satisfaction dips slightly that month."
    ),
    "churned_client": (
        f"{CHURN_CLIENT} (Vantage Media) ends its relationship on {CHURN_END:%Y-%m-%d}; its "
        f"satisfaction declines steadily over the six months before, {CHURN_DECLINE[0]} to "
        f"{CHURN_DECLINE[1]}, and no tickets or surveys follow its exit."
    ),
    "perception_gap": (
        "IT's self-assessments (respondent_side 'it', survey_kind 'self_assessment', every "
        "quarter's wave from 2024-11 to 2026-08) rate communication 15-20 points higher "
        "(0-100 scale) than the clients do, while on the other proxies IT and clients differ "
        "by only about 5 points."
    ),
    "communication_decline": (
        f"{DECLINE_CLIENT} (Meridian Health Trust)'s communication rating drops steadily, month "
        f"by month, over the last six months ({DECLINE_MONTHS[0]} to {DECLINE_MONTHS[1]}) while "
        "its other ratings stay level."
    ),
}
"""Planted effect → what it is, naming the client and months (the demo's answer key)."""


@dataclass(frozen=True)
class DemoData:
    """The six canonical entities of one generated demo, each cast to its canonical schema."""

    clients: pl.DataFrame
    tickets: pl.DataFrame
    projects: pl.DataFrame
    survey_responses: pl.DataFrame
    survey_invitations: pl.DataFrame
    followups: pl.DataFrame

    def frames(self) -> dict[str, pl.DataFrame]:
        """Entity name → frame, in the order sources are usually read."""
        return {
            CLIENTS.name: self.clients,
            TICKETS.name: self.tickets,
            PROJECTS.name: self.projects,
            SURVEY_RESPONSES.name: self.survey_responses,
            SURVEY_INVITATIONS.name: self.survey_invitations,
            FOLLOWUPS.name: self.followups,
        }


# --- clients -------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Client:
    client_id: str
    name: str
    segment: str
    start: date
    end: date | None
    weight: float
    """Share of the ticket volume (before the active-days adjustment)."""
    mood: float
    """Baseline satisfaction on the 1-5 scale that every score is drawn around."""
    speed: float
    """Multiplier on handling times: below 1 is faster than the norm."""
    on_time: float
    """Probability that a project finishes by its planned end."""


def _client(row: str) -> _Client:
    """One row of the client table below; only the churned client has an end date."""
    cid, name, segment, start, weight, mood, speed, on_time = (p.strip() for p in row.split("|"))
    return _Client(
        client_id=cid,
        name=name,
        segment=segment,
        start=date.fromisoformat(start),
        end=CHURN_END if cid == CHURN_CLIENT else None,
        weight=float(weight),
        mood=float(mood),
        speed=float(speed),
        on_time=float(on_time),
    )


# id | name | segment | relationship start | ticket share | mood | speed | on-time share
_CLIENTS: Final = tuple(
    _client(row)
    for row in (
        "C01 | Northwind Logistics      | enterprise    | 2016-03-01 | .14 | 3.95 | 1.05 | .62",
        "C02 | Harbour City Council     | public sector | 2012-09-01 | .10 | 3.80 | 1.15 | .55",
        "C03 | Alder & Finch Solicitors | mid-market    | 2019-01-07 | .05 | 4.10 | 0.95 | .68",
        "C04 | Meridian Health Trust    | public sector | 2014-04-01 | .09 | 3.90 | 1.05 | .60",
        "C05 | Bluestone Manufacturing  | enterprise    | 2017-06-12 | .11 | 3.85 | 1.10 | .58",
        "C06 | Kestrel Insurance Group  | enterprise    | 2018-02-01 | .10 | 4.00 | 1.00 | .63",
        "C07 | Larkspur Retail          | enterprise    | 2020-10-01 | .10 | 3.05 | 0.50 | .95",
        "C08 | Oakridge University      | public sector | 2015-08-03 | .08 | 3.75 | 1.20 | .52",
        "C09 | Solent Energy            | enterprise    | 2024-06-01 | .09 | 3.95 | 1.00 | .64",
        "C10 | Pinecrest Foods          | mid-market    | 2021-05-04 | .05 | 4.05 | 0.95 | .66",
        "C11 | Vantage Media            | mid-market    | 2019-11-01 | .05 | 3.85 | 1.05 | .57",
        "C12 | Greyfield Architects     | mid-market    | 2025-06-02 | .04 | 4.15 | 0.95 | .62",
    )
)
_N_CLIENTS: Final = len(_CLIENTS)
_CLIENT_IDS: Final = tuple(c.client_id for c in _CLIENTS)
_EXEMPLARY: Final = np.array([c == PERCEPTION_CLIENT for c in _CLIENT_IDS])
"""The client whose delivery is best: fewer hand-offs, reopens, overruns and shortfalls."""
_USERS: Final = np.array([40 + int(c.weight * 3000) for c in _CLIENTS])
"""People per client who raise tickets and answer surveys (ids ``C01-U0001`` ...)."""
_IT_STAFF: Final = 40
"""IT staff who fill in self-assessments (ids ``IT-S0001`` ...)."""


def _month_index(label: str) -> int:
    year, month = (int(part) for part in label.split("-"))
    return (year - DEMO_START.year) * 12 + month - DEMO_START.month


def _day(value: date) -> int:
    """Days from the window's first day."""
    return (value - DEMO_START).days


def _active_days() -> BoolArray:
    """(client, day) → the relationship runs on that day."""
    days = np.arange(_N_DAYS)
    starts = np.array([_day(c.start) for c in _CLIENTS])
    ends = np.array([_day(c.end) if c.end else _N_DAYS for c in _CLIENTS])
    return (days[None, :] >= starts[:, None]) & (days[None, :] <= ends[:, None])


def _client_end_minute() -> FloatArray:
    """First minute after each client's relationship (the extract time when it runs on)."""
    return np.array([(_day(c.end) + 1) * _MIN_PER_DAY if c.end else _AS_OF_MIN for c in _CLIENTS])


def _clients_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "client_id": list(_CLIENT_IDS),
            "name": [c.name for c in _CLIENTS],
            "segment": [c.segment for c in _CLIENTS],
            "relationship_start": [c.start for c in _CLIENTS],
            "relationship_end": [c.end for c in _CLIENTS],
        }
    )


# --- helpers -------------------------------------------------------------------------------
def _pick(labels: Sequence[str], index: IntArray, valid: BoolArray | None = None) -> pl.Series:
    """Strings by index into ``labels``; null where ``valid`` is false."""
    series = pl.Series(values=list(labels), dtype=pl.String).gather(np.clip(index, 0, None))
    if valid is None:
        return series
    return pl.select(pl.when(pl.Series(valid)).then(series)).to_series()


def _timestamps(minutes: FloatArray) -> pl.Series:
    """Minutes from the window's start (NaN = null) → UTC timestamps."""
    micros = _EPOCH_US + minutes * 60_000_000.0
    return pl.Series(micros, nan_to_null=True).cast(pl.Int64).cast(pl.Datetime("us", "UTC"))


def _dates(days: FloatArray) -> pl.Series:
    """Days from the window's start (NaN = null) → dates."""
    return pl.Series(days + _EPOCH_DAY, nan_to_null=True).cast(pl.Int32).cast(pl.Date)


def _month_of(minutes: FloatArray) -> IntArray:
    """Window month (0-23) of each instant."""
    day = np.floor(minutes / _MIN_PER_DAY).astype(np.int64)
    month: IntArray = np.clip(np.searchsorted(_MONTH_DAY, day, side="right") - 1, 0, _N_MONTHS - 1)
    return month


def _choose(rng: np.random.Generator, probabilities: FloatArray) -> IntArray:
    """One categorical draw per row of an (n, k) probability matrix."""
    cumulative = np.cumsum(probabilities, axis=1)
    cumulative /= cumulative[:, -1:]
    u = rng.random(len(probabilities))
    drawn: IntArray = np.minimum((u[:, None] > cumulative).sum(axis=1), probabilities.shape[1] - 1)
    return drawn


def _lognormal(rng: np.random.Generator, median: FloatArray, sigma: float) -> FloatArray:
    drawn: FloatArray = median * np.exp(sigma * rng.standard_normal(len(median)))
    return drawn


def _score(values: FloatArray, low: int, high: int, present: BoolArray) -> FloatArray:
    """A latent value rounded onto an integer scale; NaN where the question was skipped."""
    return np.where(present, np.clip(np.rint(values), low, high), np.nan)


def _ids(prefix: str, n: int, width: int) -> pl.Series:
    numbers = pl.Series(np.arange(1, n + 1)).cast(pl.String).str.zfill(width)
    return pl.select(pl.concat_str(pl.lit(prefix), numbers)).to_series()


def _conform(frame: pl.DataFrame, entity: Entity) -> pl.DataFrame:
    """Exactly the entity's columns, in order, with its dtypes."""
    return frame.select(entity.columns).cast(entity.polars_schema)


# --- tickets -------------------------------------------------------------------------------
_REQUEST_SHARE: Final = (0.70, 0.12, 0.08, 0.10)
_PRIORITY_SHARE: Final = (  # high, medium, low per request type (critical: support only)
    (0.16, 0.50, 0.30),
    (0.10, 0.55, 0.35),
    (0.05, 0.45, 0.50),
    (0.05, 0.40, 0.55),
)
_CRITICAL_SHARE: Final = 0.035
"""Share of support tickets that are critical; four times that in the spike month."""
_TYPE_SLOWNESS: Final = np.array([1.0, 1.8, 1.5, 1.1])

_TEAMS: Final = (
    "Service Desk",
    "End User Computing",
    "Network & Infrastructure",
    "Cloud Platform",
    "Business Applications",
    "Security Operations",
    "Project Delivery",
)
_TEAM_SLOWNESS: Final = np.array([0.7, 1.0, 1.35, 0.95, 1.2, 0.9, 1.3])
_TEAM_HANDOFFS: Final = np.array([0.25, 0.40, 0.60, 0.45, 0.55, 0.35, 0.30])

_CATEGORIES: Final = (  # (request type, category, owning team, weight within the type)
    (0, "Access & identity", 0, 0.20),
    (0, "Email & collaboration", 1, 0.16),
    (0, "Hardware", 1, 0.15),
    (0, "Network & connectivity", 2, 0.12),
    (0, "Business applications", 4, 0.17),
    (0, "Printing", 0, 0.07),
    (0, "Security incident", 5, 0.05),
    (0, "Cloud & hosting", 3, 0.08),
    (1, "Implementation", 6, 0.45),
    (1, "Change request", 6, 0.35),
    (1, "Data migration", 4, 0.20),
    (2, "Architecture advice", 3, 0.40),
    (2, "Licensing", 0, 0.30),
    (2, "Security review", 5, 0.30),
    (3, "General enquiry", 0, 0.50),
    (3, "Procurement", 0, 0.30),
    (3, "Onboarding", 1, 0.20),
)
_CHANNELS: Final = ("portal", "email", "phone", "chat")
_CHANNEL_SHARE: Final = np.array([[0.45, 0.30, 0.15, 0.10], [0.20, 0.20, 0.50, 0.10]])

_RESPOND_TARGET_H: Final = np.array([1.0, 4.0, 8.0, 24.0])
_RESOLVE_TARGET_H: Final = np.array([4.0, 24.0, 72.0, 120.0])
_RESPOND_MEDIAN_H: Final = np.array([0.25, 1.2, 2.5, 7.0])
_RESOLVE_MEDIAN_H: Final = np.array([1.8, 8.0, 22.0, 38.0])

_SEASON: Final = {1: 1.08, 2: 1.0, 3: 1.02, 4: 0.97, 5: 0.98, 6: 0.96, 7: 0.9, 8: 0.86,
                  9: 1.06, 10: 1.05, 11: 1.03, 12: 0.88}  # fmt: skip


@dataclass(frozen=True)
class _Tickets:
    """Ticket facts the surveys need, row-aligned with :attr:`frame`."""

    frame: pl.DataFrame
    client: IntArray
    resolved: FloatArray
    priority: IntArray
    breached: BoolArray
    """Resolved after the resolve target (the source's due time or the priority default)."""
    late_response: BoolArray
    reopened: BoolArray
    handoffs: IntArray


def _ticket_counts(rng: np.random.Generator, total: int, active: BoolArray) -> IntArray:
    """(client, month) → tickets opened; sums to ``total`` exactly."""
    months = np.arange(_N_MONTHS)
    month_of_year = (DEMO_START.month - 1 + months) % 12 + 1
    season = np.array([_SEASON[int(m)] for m in month_of_year]) * (1 + 0.006 * months)
    share = np.array([c.weight for c in _CLIENTS])
    active_share = np.stack(
        [active[:, _MONTH_DAY[m] : _MONTH_DAY[m + 1]].mean(axis=1) for m in range(_N_MONTHS)],
        axis=1,
    )
    expected = share[:, None] * season[None, :] * active_share
    counts: IntArray = rng.multinomial(total, (expected / expected.sum()).ravel()).reshape(
        _N_CLIENTS, _N_MONTHS
    )
    return counts


def _opened_minutes(
    rng: np.random.Generator, client: IntArray, month: IntArray, critical: BoolArray
) -> FloatArray:
    """Opening instants: weekdays in office hours mostly; critical issues at any hour."""
    active = _active_days()
    weekday = (np.arange(_N_DAYS) + _EPOCH_DAY + 3) % 7  # 0 = Monday
    weight = np.where(weekday < 5, 1.0, 0.12) * active
    cumulative = np.concatenate([np.zeros((_N_CLIENTS, 1)), np.cumsum(weight, axis=1)], axis=1)
    cumulative /= cumulative[:, -1:]
    # Offset each client's CDF so one searchsorted serves all clients.
    flat = (cumulative[:, 1:] + 2.0 * np.arange(_N_CLIENTS)[:, None]).ravel()
    low = cumulative[client, _MONTH_DAY[month]]
    high = cumulative[client, _MONTH_DAY[month + 1]]
    target = low + rng.random(len(client)) * (high - low) + 2.0 * client
    day = np.searchsorted(flat, target, side="left") - client * _N_DAYS
    office = np.clip(rng.normal(11.5 * _MIN_PER_HOUR, 150.0, len(client)), 360.0, 1140.0)
    anytime = rng.random(len(client)) * _MIN_PER_DAY
    off_hours = rng.random(len(client)) < np.where(critical, 0.35, 0.08)
    opened: FloatArray = day * _MIN_PER_DAY + np.floor(np.where(off_hours, anytime, office))
    return opened


def _tickets(rng: np.random.Generator, total: int) -> _Tickets:
    counts = _ticket_counts(rng, total, _active_days())
    cell = np.repeat(np.arange(_N_CLIENTS * _N_MONTHS), counts.ravel())
    client, month = cell // _N_MONTHS, cell % _N_MONTHS
    n = len(cell)

    request_type = _choose(rng, np.tile(np.array(_REQUEST_SHARE), (n, 1)))
    critical_share = np.where(
        month == _month_index(SPIKE_MONTH), 4 * _CRITICAL_SHARE, _CRITICAL_SHARE
    )
    critical_share = np.where(request_type == 0, critical_share, 0.0)
    rest = np.array(_PRIORITY_SHARE)[request_type] * (1 - critical_share)[:, None]
    priority = _choose(rng, np.column_stack([critical_share, rest]))
    is_critical = priority == 0

    cat_type = np.array([c[0] for c in _CATEGORIES])
    cat_team = np.array([c[2] for c in _CATEGORIES])
    cat_weight = np.array([c[3] for c in _CATEGORIES])
    category = _choose(rng, np.where(cat_type[None, :] == request_type[:, None], cat_weight, 0.0))
    first_team = cat_team[category]

    speed = np.array([c.speed for c in _CLIENTS])[client]
    exemplary = _EXEMPLARY[client]
    handoff_rate = _TEAM_HANDOFFS[first_team] * np.where(exemplary, 0.5, 1.0)
    handoffs = np.minimum(rng.poisson(handoff_rate), 6)
    moved = (handoffs > 0) & (rng.random(n) < 0.4)
    team = np.where(moved, rng.integers(0, len(_TEAMS), n), first_team)
    reopens = np.where(
        rng.random(n) < np.where(exemplary, 0.025, 0.055) * (1 + 0.5 * (handoffs > 0)),
        1 + (rng.random(n) < 0.15),
        0,
    )

    opened = _opened_minutes(rng, client, month, is_critical)
    slowness = speed * _TEAM_SLOWNESS[first_team]
    respond = np.maximum(
        1.0, np.rint(_lognormal(rng, _RESPOND_MEDIAN_H[priority] * 60 * np.sqrt(slowness), 0.9))
    )
    respond = np.where(rng.random(n) < 0.01, np.nan, respond)  # solved before anyone replied
    resolve_median = _RESOLVE_MEDIAN_H[priority] * 60 * slowness * _TYPE_SLOWNESS[request_type]
    resolve = _lognormal(rng, resolve_median, 0.85) * (1 + 0.35 * handoffs)
    resolve += np.where(reopens > 0, _lognormal(rng, np.full(n, 36.0 * 60), 0.7), 0.0)
    resolve *= np.where(rng.random(n) < 0.008, 15.0, 1.0)  # the odd ticket that gets stuck
    resolve = np.rint(np.fmax(resolve, np.nan_to_num(respond) + 1))
    close_after = np.rint(_lognormal(rng, np.full(n, 60.0 * 60), 0.5))

    first_response = opened + respond
    resolved = opened + resolve
    closed = resolved + close_after
    first_response[first_response > _AS_OF_MIN] = np.nan
    resolved[resolved > _AS_OF_MIN] = np.nan
    closed[~(closed <= _AS_OF_MIN)] = np.nan
    status = np.where(np.isnan(resolved), 0, np.where(np.isnan(closed), 1, 2))

    source = np.where((request_type == 1) | (request_type == 2), 1, 0)  # Jira for delivery work
    has_due = (source == 0) & (rng.random(n) >= 0.03)
    respond_due = np.where(has_due, opened + _RESPOND_TARGET_H[priority] * 60, np.nan)
    resolve_due = np.where(has_due, opened + _RESOLVE_TARGET_H[priority] * 60, np.nan)

    last_event = np.fmax(np.fmax(opened, first_response), np.fmax(resolved, closed))
    idle_cap = np.where(status == 0, 3 * _MIN_PER_DAY, 30.0)
    updated = last_event + np.floor(rng.random(n) * np.minimum(idle_cap, _AS_OF_MIN - last_event))

    requester = np.floor(rng.random(n) * _USERS[client]).astype(np.int64) + 1
    channel = _choose(rng, _CHANNEL_SHARE[is_critical.astype(np.int64)])

    breached = resolve > _RESOLVE_TARGET_H[priority] * 60
    late_response = respond > _RESPOND_TARGET_H[priority] * 60

    frame = pl.DataFrame(
        {
            "row": np.arange(n),
            "source_system": _pick(("servicenow", "jira"), source),
            "prefix": _pick(("INC", "PRJ-", "ADV-", "RITM"), request_type),
            "client_id": _pick(_CLIENT_IDS, client),
            "requester_no": requester,
            "requester_ok": rng.random(n) >= 0.03,
            "request_type": _pick(REQUEST_TYPES, request_type),
            "category": _pick([c[1] for c in _CATEGORIES], category, rng.random(n) >= 0.04),
            "priority": _pick(PRIORITIES, priority),
            "status": _pick(("open", "resolved", "closed"), status),
            "opened_at": _timestamps(opened),
            "first_response_at": _timestamps(first_response),
            "resolved_at": _timestamps(resolved),
            "closed_at": _timestamps(closed),
            "respond_due_at": _timestamps(respond_due),
            "resolve_due_at": _timestamps(resolve_due),
            "updated_at": _timestamps(updated),
            "reopen_count": reopens,
            "reassignment_count": handoffs,
            "assignment_group": _pick(_TEAMS, team, rng.random(n) >= 0.02),
            "channel": _pick(_CHANNELS, channel, rng.random(n) >= 0.015),
        }
    ).sort("opened_at", "row")
    # Ticket numbers follow opening order within each numbering scheme, as in a real tool.
    number = pl.int_range(1, pl.len() + 1).over("prefix") + pl.when(
        pl.col("source_system") == "servicenow"
    ).then(1_000_000).otherwise(100)
    padded = (
        pl.when(pl.col("source_system") == "servicenow")
        .then(number.cast(pl.String).str.zfill(7))
        .otherwise(number.cast(pl.String))
    )
    frame = frame.with_columns(
        ticket_id=pl.concat_str("prefix", padded),
        requester_id=pl.when("requester_ok").then(
            pl.concat_str(
                "client_id", pl.lit("-U"), pl.col("requester_no").cast(pl.String).str.zfill(4)
            )
        ),
    ).sort("row")
    return _Tickets(
        frame=frame,
        client=client,
        resolved=resolved,
        priority=priority,
        breached=breached,
        late_response=late_response,
        reopened=reopens > 0,
        handoffs=handoffs,
    )


# --- projects ------------------------------------------------------------------------------
_PROJECT_THEMES: Final = (
    "ERP upgrade",
    "Laptop refresh",
    "Microsoft 365 migration",
    "Data warehouse build",
    "Network segmentation",
    "Service portal redesign",
    "Backup modernisation",
    "Identity and access review",
    "CRM integration",
    "Wi-Fi upgrade",
    "Cloud landing zone",
    "Payroll system replacement",
    "Disaster recovery test",
    "Document management rollout",
    "Cyber security assessment",
    "Telephony replacement",
    "Reporting dashboards",
    "Website replatforming",
)


@dataclass(frozen=True)
class _Projects:
    frame: pl.DataFrame
    client: IntArray
    actual_end: FloatArray
    """Day offset of completion; NaN while in progress."""
    on_time: BoolArray
    over_budget: BoolArray
    shortfall: BoolArray


def _projects(rng: np.random.Generator) -> _Projects:
    per_client = np.array([4 + round(c.weight * 160) for c in _CLIENTS])
    client = np.repeat(np.arange(_N_CLIENTS), per_client)
    n = len(client)
    duration = np.clip(np.rint(_lognormal(rng, np.full(n, 100.0), 0.5)), 30, 360)
    # Planned ends spread over the window and a few months past it (the in-progress work);
    # starts may predate the window, but never the relationship, nor follow the extract.
    first_end = np.array([max(_day(c.start), 0) + 14 for c in _CLIENTS])
    last_end = np.array([_day(c.end) - 45 if c.end else _N_DAYS + 150 for c in _CLIENTS])
    span = last_end[client] - first_end[client]
    planned_end = np.rint(first_end[client] + rng.random(n) * span)
    client_start = np.array([_day(c.start) for c in _CLIENTS])[client]
    start = np.clip(planned_end - duration, client_start, _N_DAYS - 21)
    planned_end = np.maximum(planned_end, start + 14)
    on_time_p = np.array([c.on_time for c in _CLIENTS])[client]
    on_time = rng.random(n) < on_time_p
    slip = np.where(
        on_time,
        -np.floor(rng.random(n) * 10),
        np.maximum(1, np.rint(_lognormal(rng, np.full(n, 21.0), 0.8))),
    )
    actual_end = np.maximum(planned_end + slip, start + 7)
    end_cap = np.array([_day(c.end) if c.end else np.inf for c in _CLIENTS])[client]
    actual_end = np.minimum(actual_end, end_cap - 1)
    done = actual_end <= _N_DAYS - 1
    progress = np.where(done, 1.0, np.clip((_N_DAYS - start) / (actual_end - start), 0.05, 0.95))

    careful = _EXEMPLARY[client]
    budget = np.rint(_lognormal(rng, np.full(n, 120_000.0), 0.7) / 100) * 100
    over_budget = rng.random(n) >= np.where(careful, 0.8, 0.6)
    cost_factor = np.where(
        over_budget,
        1 + np.maximum(_lognormal(rng, np.full(n, 0.12), 0.6), 0.01),
        0.85 + 0.15 * rng.random(n),
    )
    actual_cost = np.rint(budget * cost_factor * progress / 10) * 10
    promised = rng.integers(3, 13, n)
    short_by = rng.binomial(promised, np.where(careful, 0.02, 0.08))
    delivered = np.where(done, promised - short_by, np.floor(promised * progress))
    criteria = rng.integers(3, 9, n)
    met = rng.binomial(criteria, np.where(careful, 0.92, 0.78))

    has_budget = rng.random(n) >= 0.06
    has_deliverables = rng.random(n) >= 0.05
    has_criteria = rng.random(n) >= 0.08
    nan = np.nan
    frame = pl.DataFrame(
        {
            "row": np.arange(n),
            "client_id": _pick(_CLIENT_IDS, client),
            "theme": _pick(_PROJECT_THEMES, rng.integers(0, len(_PROJECT_THEMES), n)),
            "status": _pick(("in_progress", "completed"), done.astype(np.int64)),
            "planned_start": _dates(np.where(rng.random(n) >= 0.03, start, nan)),
            "planned_end": _dates(planned_end),
            "actual_end": _dates(np.where(done, actual_end, nan)),
            "budget": np.where(has_budget, budget, nan),
            "actual_cost": np.where(has_budget, actual_cost, nan),
            "currency": "EUR",
            "deliverables_promised": np.where(has_deliverables, promised, nan),
            "deliverables_delivered": np.where(has_deliverables, delivered, nan),
            "success_criteria_total": np.where(has_criteria, criteria, nan),
            "success_criteria_met": np.where(has_criteria & done, met, nan),
            "sort_key": start,
        },
        nan_to_null=True,
    ).sort("sort_key", "row")
    frame = frame.with_columns(
        project_id=_ids("P", n, 4),
        name=pl.concat_str("theme", pl.lit(" "), pl.col("planned_end").dt.year().cast(pl.String)),
    ).sort("row")
    return _Projects(
        frame=frame,
        client=client,
        actual_end=np.where(done, actual_end, np.nan),
        on_time=done & (actual_end <= planned_end),
        over_budget=over_budget,
        shortfall=short_by > 0,
    )


# --- satisfaction --------------------------------------------------------------------------
@dataclass(frozen=True)
class _Mood:
    """(client, month) offsets of the latent satisfaction every score is drawn around."""

    overall: FloatArray
    communication: FloatArray


def _mood(rng: np.random.Generator) -> _Mood:
    overall = np.array([c.mood for c in _CLIENTS])[:, None] + rng.normal(
        0.0, 0.07, (_N_CLIENTS, _N_MONTHS)
    )
    overall[:, _month_index(SPIKE_MONTH)] -= 0.25
    churn = _CLIENT_IDS.index(CHURN_CLIENT)
    first, last = (_month_index(m) for m in CHURN_DECLINE)
    overall[churn, first : last + 1] -= _MONTHLY_DROP * np.arange(1, last - first + 2)
    communication = np.zeros((_N_CLIENTS, _N_MONTHS))
    communication[_CLIENT_IDS.index(PERCEPTION_CLIENT)] -= 0.75
    decline = _CLIENT_IDS.index(DECLINE_CLIENT)
    first, last = (_month_index(m) for m in DECLINE_MONTHS)
    communication[decline, first : last + 1] -= _MONTHLY_DROP * np.arange(1, last - first + 2)
    return _Mood(overall=overall, communication=communication)


_LEVEL_EFFECT: Final = np.array([-0.10, -0.20, 0.10, 0.20, 0.10])
_KIND_MOOD: Final = np.array([0.30, -0.10, 0.0, 0.0])
"""A fixed ticket is a good moment; the relationship as a whole is judged more harshly."""
_KIND: Final = {kind: i for i, kind in enumerate(SURVEY_KINDS)}
_TRANSACTIONAL, _RELATIONSHIP, _POST_PROJECT, _SELF = (_KIND[k] for k in SURVEY_KINDS)
_RESPONSE_RATE: Final = np.array([0.27, 0.40, 0.45, 0.85])
_DELAY_MEDIAN_MIN: Final = np.array([4 * 60.0, 2 * 1440.0, 1.5 * 1440.0, 1440.0])
_DELAY_CAP_MIN: Final = np.array([10 * 1440.0, 28 * 1440.0, 21 * 1440.0, 14 * 1440.0])
_WAVE_MONTHS: Final = tuple(range(0, _N_MONTHS, 3))
"""Relationship and self-assessment waves: 2024-11, 2025-02, ... 2026-08 (once a quarter)."""

_SCORES: Final = ("nps_score", "csat", "ces", *PROXIES, "relevance")
_PRESENT: Final = np.array(  # share answering each of _SCORES, per survey kind
    [
        [0.55, 0.97, 0.75, 0.85, 0.85, 0.85, 0.08, 0.60, 0.25],
        [0.97, 0.85, 0.20, 0.92, 0.92, 0.92, 0.85, 0.90, 0.92],
        [0.90, 0.95, 0.30, 0.95, 0.95, 0.80, 0.90, 0.60, 0.85],
        [0.00, 0.00, 0.00, 0.98, 0.98, 0.98, 0.95, 0.95, 0.95],
    ]
)
_IMPORTANCE: Final = np.array([4.3, 4.1, 4.2, 3.6, 3.8])


@dataclass(frozen=True)
class _Invites:
    """Survey invitations with what the scores of a response to them would depend on."""

    client: IntArray
    sent: FloatArray
    kind: IntArray
    ticket: IntArray
    project: IntArray
    respondent: IntArray
    level: IntArray
    mood: FloatArray
    """Offset on every score (ticket and project experience, respondent level)."""
    timeliness: FloatArray
    responsiveness: FloatArray
    cost: FloatArray
    lost_time: FloatArray
    """Median lost minutes for a transactional response; NaN elsewhere."""
    theme: IntArray
    """The complaint a negative comment most likely makes (index into _NEGATIVE)."""

    @staticmethod
    def concat(parts: Sequence[_Invites]) -> _Invites:
        names = [f.name for f in fields(_Invites)]
        return _Invites(**{n: np.concatenate([getattr(p, n) for p in parts]) for n in names})

    def take(self, mask: BoolArray) -> _Invites:
        return _Invites(**{f.name: getattr(self, f.name)[mask] for f in fields(self)})


def _invites(
    client: IntArray,
    sent: FloatArray,
    kind: int,
    respondent: IntArray,
    level: IntArray,
    *,
    ticket: IntArray | None = None,
    project: IntArray | None = None,
    mood: FloatArray | None = None,
    timeliness: FloatArray | None = None,
    responsiveness: FloatArray | None = None,
    cost: FloatArray | None = None,
    lost_time: FloatArray | None = None,
    theme: IntArray | None = None,
) -> _Invites:
    """Invitations of one kind; what a kind does not set has no effect on the scores."""
    n = len(client)

    def zeros(values: FloatArray | None) -> FloatArray:
        return np.zeros(n) if values is None else values

    def missing(values: IntArray | None) -> IntArray:
        return np.full(n, -1) if values is None else values

    return _Invites(
        client=client,
        sent=sent,
        kind=np.full(n, kind),
        ticket=missing(ticket),
        project=missing(project),
        respondent=respondent,
        level=level,
        mood=zeros(mood),
        timeliness=zeros(timeliness),
        responsiveness=zeros(responsiveness),
        cost=zeros(cost),
        lost_time=np.full(n, np.nan) if lost_time is None else lost_time,
        theme=missing(theme),
    )


def _transactional_invites(rng: np.random.Generator, tickets: _Tickets) -> _Invites:
    """A quarter of resolved tickets get a short survey minutes after resolution."""
    sent = tickets.resolved + np.rint(2 + rng.random(len(tickets.resolved)) * 88)
    in_time = (sent <= _AS_OF_MIN) & (sent < _client_end_minute()[tickets.client])
    chosen = np.flatnonzero((rng.random(len(sent)) < 0.25) & in_time)
    breached = tickets.breached[chosen]
    late = tickets.late_response[chosen]
    reopened = tickets.reopened[chosen]
    handoffs = tickets.handoffs[chosen]
    requester = tickets.frame["requester_no"].to_numpy()[chosen]
    has_requester = tickets.frame["requester_ok"].to_numpy()[chosen]
    theme = np.select([breached, reopened, handoffs >= 2, late], [0, 2, 3, 0], default=-1)
    lost_base = np.array([240.0, 75.0, 30.0, 20.0])[tickets.priority[chosen]]
    return _invites(
        tickets.client[chosen],
        sent[chosen],
        _TRANSACTIONAL,
        np.where(has_requester, requester, -1),
        np.full(len(chosen), -1),
        ticket=chosen,
        mood=-0.7 * breached - 0.2 * late - 0.6 * reopened - 0.3 * (handoffs >= 2),
        timeliness=np.where(breached, -0.4, 0.0),
        responsiveness=np.where(late, -0.6, 0.0),
        lost_time=lost_base * np.where(breached, 2.0, 1.0) * (1 + reopened),
        theme=theme,
    )


def _wave_invites(rng: np.random.Generator, kind: int) -> _Invites:
    """Quarterly waves: client relationship surveys, or IT rating itself per client."""
    client_parts: list[IntArray] = []
    sent_parts: list[FloatArray] = []
    level_parts: list[IntArray] = []
    end = _client_end_minute()
    starts = np.array([_day(c.start) * _MIN_PER_DAY for c in _CLIENTS])
    for month in _WAVE_MONTHS:
        wave_day = _MONTH_DAY[month] + 2
        for c, spec in enumerate(_CLIENTS):
            if not starts[c] <= wave_day * _MIN_PER_DAY < end[c] - 30 * _MIN_PER_DAY:
                continue
            if kind == _SELF:
                size = 5
                levels = np.where(rng.random(size) < 0.7, 3, -1)
            else:
                size = 12 + round(spec.weight * 60)
                drawn = _choose(rng, np.tile([0.10, 0.50, 0.15, 0.15, 0.10], (size - 5, 1)))
                levels = np.concatenate([np.arange(5), drawn])  # every horizon is asked
            day = wave_day + np.floor(rng.random(size) * 7)
            client_parts.append(np.full(size, c))
            sent_parts.append(day * _MIN_PER_DAY + 480 + np.floor(rng.random(size) * 150))
            level_parts.append(levels)
    client = np.concatenate(client_parts)
    level = np.concatenate(level_parts)
    n = len(client)
    staff = 1 + np.floor(rng.random(n) * _IT_STAFF)
    respondent = np.where(kind == _SELF, staff, 1 + np.floor(rng.random(n) * _USERS[client]))
    return _invites(
        client,
        np.concatenate(sent_parts),
        kind,
        respondent.astype(np.int64),
        level,
        mood=np.where(level >= 0, _LEVEL_EFFECT[np.clip(level, 0, None)], 0.0),
        theme=np.where(rng.random(n) < 0.5, 1, -1),
    )


def _project_invites(rng: np.random.Generator, projects: _Projects) -> _Invites:
    """Two to four stakeholders per completed project, a few days after it ends."""
    size = rng.integers(2, 5, len(projects.client))
    row = np.repeat(np.arange(len(size)), size)
    sent = (
        (projects.actual_end[row] + 2 + np.floor(rng.random(len(row)) * 9)) * _MIN_PER_DAY
        + 540
        + np.floor(rng.random(len(row)) * 120)
    )
    keep = (
        ~np.isnan(sent) & (sent <= _AS_OF_MIN) & (sent < _client_end_minute()[projects.client[row]])
    )
    row, sent = row[keep], sent[keep]
    n = len(row)
    client = projects.client[row]
    on_time = projects.on_time[row]
    over = projects.over_budget[row]
    short = projects.shortfall[row]
    level = np.array([1, 4, 2])[rng.integers(0, 3, n)]
    return _invites(
        client,
        sent,
        _POST_PROJECT,
        (1 + np.floor(rng.random(n) * _USERS[client])).astype(np.int64),
        level,
        project=row,
        mood=np.where(on_time, 0.25, -0.45) - 0.2 * over - 0.3 * short + _LEVEL_EFFECT[level],
        timeliness=np.where(on_time, 0.2, -0.6),
        cost=np.where(over, -0.9, 0.0),
        theme=np.select([over, ~on_time], [5, 0], default=-1),
    )


# Comments. Negative ones are grouped by the complaint they make (a theme index).
_NEGATIVE: Final = (
    ("Slow response, nobody picked it up for hours.",
     "Took far too long to fix, we lost most of a day.",
     "Still waiting for a proper fix after several days."),
    ("Not kept informed, I had to chase for updates.",
     "Nobody told us what was happening until we called.",
     "We only found out the change had gone live from our own staff."),
    ("The issue came back the next day.",
     "Ticket was closed without actually fixing the problem."),
    ("Passed between three teams before anyone owned it.",
     "Had to explain the problem again to every new person."),
    ("Could not reach anyone by phone.",
     "The portal kept timing out, so I couldn't log the issue."),
    ("Invoice surprise: the final cost was well above the quote.",
     "Charges we were never told about appeared on the bill."),
    ("The services on offer don't match what our business needs now.",
     "IT is focused on its own projects, not our priorities."),
)  # fmt: skip
_TICKET_NEGATIVE: Final = (0, 1, 2, 3, 4)
_ENGAGEMENT_NEGATIVE: Final = (0, 1, 5, 6)
_OTHER_POOLS: Final = (
    (  # 7: positive, about a ticket
        "Great technician, sorted it out quickly.",
        "Kept informed at every step, thank you.",
        "Fast response and a clear explanation of the fix.",
        "Resolved first time, no need to chase.",
        "Easy to reach someone when I needed help.",
    ),
    (  # 8: positive, about a project or the relationship
        "Very professional team, easy to work with.",
        "The project team delivered what they promised.",
        "Costs were exactly as quoted, no surprises.",
        "Regular updates kept our managers in the loop.",
        "IT understands what our business needs.",
    ),
    (  # 9: neutral, about a ticket
        "Fixed in the end, but it took a couple of days.",
        "Okay service, though I had to explain the problem twice.",
        "Solution works; updates could be more regular.",
        "Reasonable, but the portal is hard to navigate.",
    ),
    (  # 10: neutral, about a project or the relationship
        "Fine overall, the handover between teams was a bit slow.",
        "Good people, but we rarely hear about plans in advance.",
        "Delivery was acceptable; the final invoice needed explaining.",
        "Solid work, though the priorities were not always ours.",
    ),
    (  # 11: IT's notes on its own self-assessment
        "We send the client a status report every week.",
        "Response times are well within target this quarter.",
        "The client has not raised any concerns with us.",
        "Communication with the client's key users works well.",
    ),
)
_POOLS: Final = (*_NEGATIVE, *_OTHER_POOLS)


def _comments(
    rng: np.random.Generator, invites: _Invites, scores: dict[str, FloatArray]
) -> pl.Series:
    """Plain-English comments on about 30 % of responses, their tone following the scores.

    Unhappy respondents comment more often, and about what went wrong for them: a proxy they
    rated 2 or lower, else the ticket's own failure (a breach, a reopen, a hand-off chain).
    """
    n = len(invites.client)
    proxies = np.column_stack([scores[p] for p in PROXIES])
    answered = ~np.isnan(proxies)
    proxy_mean = np.where(
        answered.any(axis=1),
        np.nansum(proxies, axis=1) / np.maximum(answered.sum(axis=1), 1),
        3.0,
    )
    nps_tone = np.select([scores["nps_score"] <= 6, scores["nps_score"] <= 8], [2.0, 3.0], 4.0)
    tone = np.where(
        ~np.isnan(scores["csat"]),
        scores["csat"],
        np.where(~np.isnan(scores["nps_score"]), nps_tone, np.rint(proxy_mean)),
    )
    negative, positive = tone <= 2, tone >= 4
    client_side = invites.kind != _SELF
    ticket = invites.kind == _TRANSACTIONAL
    chance = np.where(negative, 0.55, np.where(positive, 0.25, 0.30))
    has = rng.random(n) < np.where(client_side, chance, 0.12)

    fallback = np.where(
        ticket,
        np.array(_TICKET_NEGATIVE)[rng.integers(0, len(_TICKET_NEGATIVE), n)],
        np.array(_ENGAGEMENT_NEGATIVE)[rng.integers(0, len(_ENGAGEMENT_NEGATIVE), n)],
    )
    complaint = np.select(
        [
            scores["communication"] <= 2,
            ~ticket & (scores["cost_transparency"] <= 2),
            ~ticket & (scores["relevance"] <= 2),
            scores["accessibility"] <= 2,
            scores["timeliness"] <= 2,
            invites.theme >= 0,
        ],
        [1, 5, 6, 4, 0, invites.theme],
        default=fallback,
    )
    pool = np.select(
        [~client_side, negative, positive & ticket, positive, ticket],
        [11, complaint, 7, 8, 9],
        default=10,
    )
    sizes = np.array([len(group) for group in _POOLS])
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    sentence = offsets[pool] + np.floor(rng.random(n) * sizes[pool]).astype(np.int64)
    return _pick([s for group in _POOLS for s in group], sentence, has)


def _scores(
    rng: np.random.Generator, r: _Invites, submitted: FloatArray, mood: _Mood
) -> dict[str, FloatArray]:
    """Every score of every response, drawn around one latent satisfaction per response."""
    n = len(r.client)
    month = _month_of(submitted)
    latent = mood.overall[r.client, month] + _KIND_MOOD[r.kind] + r.mood + rng.normal(0, 0.65, n)
    present = rng.random((n, len(_SCORES))) < _PRESENT[r.kind]
    client_side = r.kind != _SELF
    # Nobody sends an empty form: keep CSAT (clients) or communication (IT) when all is blank.
    empty = ~present.any(axis=1)
    present[:, 1] |= empty & client_side
    present[:, 4] |= empty & ~client_side
    noise = rng.normal(0.0, 0.5, (n, len(_SCORES)))
    offsets = {
        "timeliness": r.timeliness,
        "communication": mood.communication[r.client, month],
        "responsiveness": r.responsiveness,
        "cost_transparency": r.cost,
        "accessibility": np.zeros(n),
        "relevance": np.where(r.level == 1, -0.2, 0.1),
    }
    scores = {
        "nps_score": _score(2.4 * (latent + noise[:, 0]) - 0.6, 0, 10, present[:, 0]),
        "csat": _score(latent + noise[:, 1], 1, 5, present[:, 1]),
        "ces": _score(7.6 - 1.35 * (latent + noise[:, 2]), 1, 7, present[:, 2]),
    }
    for i, name in enumerate((*PROXIES, "relevance"), start=3):
        scores[name] = _score(latent + offsets[name] + noise[:, i], 1, 5, present[:, i])

    # IT rates itself from what it hears from each client that quarter, plus its blind spot:
    # communication, which it rates PERCEPTION_GAP_POINTS higher than the clients do.
    own = ~client_side
    quarter = (month + DEMO_START.month % 3) // 3  # calendar quarters
    group = r.client * 9 + quarter
    for i, name in enumerate((*PROXIES, "relevance"), start=3):
        ok = client_side & ~np.isnan(scores[name])
        total = np.bincount(group[ok], scores[name][ok], _N_CLIENTS * 9)
        count = np.bincount(group[ok], minlength=_N_CLIENTS * 9)
        overall = total.reshape(_N_CLIENTS, 9).sum(1) / np.maximum(
            count.reshape(_N_CLIENTS, 9).sum(1), 1
        )
        heard = np.where(count > 0, total / np.maximum(count, 1), np.repeat(overall, 9))
        lift = PERCEPTION_GAP_POINTS / 25 if name == "communication" else 0.25
        it_view = heard[group] + lift + rng.normal(0.0, 0.5, n)
        scores[name] = np.where(own, _score(it_view, 1, 5, present[:, i]), scores[name])

    relationship = r.kind == _RELATIONSHIP
    importance_noise = rng.normal(0.0, 0.6, (n, len(PROXIES)))
    asked = rng.random((n, len(PROXIES))) < 0.88
    comm_matters = np.where(r.client == _CLIENT_IDS.index(PERCEPTION_CLIENT), 0.5, 0.0)
    for j, proxy in enumerate(PROXIES):
        boost = comm_matters if proxy == "communication" else np.zeros(n)
        scores[f"importance_{proxy}"] = _score(
            _IMPORTANCE[j] + boost + importance_noise[:, j], 1, 5, relationship & asked[:, j]
        )
    lost = np.rint(_lognormal(rng, np.nan_to_num(r.lost_time), 0.9) / 5) * 5
    scores["lost_time_minutes"] = np.where(
        (r.kind == _TRANSACTIONAL) & (rng.random(n) < 0.4), lost, np.nan
    )
    return scores


def _surveys(
    rng: np.random.Generator, tickets: _Tickets, projects: _Projects, mood: _Mood
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    invites = _Invites.concat(
        [
            _transactional_invites(rng, tickets),
            _wave_invites(rng, _RELATIONSHIP),
            _project_invites(rng, projects),
            _wave_invites(rng, _SELF),
        ]
    )
    n = len(invites.client)
    delay = np.minimum(
        np.rint(_lognormal(rng, _DELAY_MEDIAN_MIN[invites.kind], 1.1)) + 1,
        _DELAY_CAP_MIN[invites.kind],
    )
    submitted = invites.sent + delay
    answered = (
        (rng.random(n) < _RESPONSE_RATE[invites.kind])
        & (submitted <= _AS_OF_MIN)
        & (submitted < _client_end_minute()[invites.client])
    )
    invitations = (
        pl.DataFrame(
            {
                "row": np.arange(n),
                "client_id": _pick(_CLIENT_IDS, invites.client),
                "sent_at": _timestamps(invites.sent),
                "survey_kind": _pick(SURVEY_KINDS, invites.kind),
            }
        )
        .sort("sent_at", "row")
        .with_columns(invitation_id=_ids("INV", n, 7))
    )

    r = invites.take(answered)
    submitted = submitted[answered]
    scores = _scores(rng, r, submitted, mood)
    comment = _comments(rng, r, scores)
    side = (r.kind == _SELF).astype(np.int64)
    ticket_ids = tickets.frame["ticket_id"]
    project_ids = projects.frame["project_id"]
    responses = (
        pl.DataFrame(
            {
                "row": np.arange(len(r.client)),
                "client_id": _pick(_CLIENT_IDS, r.client),
                "respondent_no": r.respondent,
                "respondent_level": _pick(RESPONDENT_LEVELS, r.level, r.level >= 0),
                "respondent_side": _pick(("client", "it"), side),
                "survey_kind": _pick(SURVEY_KINDS, r.kind),
                "ticket_id": ticket_ids.gather(np.clip(r.ticket, 0, None)),
                "has_ticket": r.ticket >= 0,
                "project_id": project_ids.gather(np.clip(r.project, 0, None)),
                "has_project": r.project >= 0,
                "submitted_at": _timestamps(submitted),
                "comment": comment,
                **{name: pl.Series(values, nan_to_null=True) for name, values in scores.items()},
            }
        )
        .sort("submitted_at", "row")
        .with_columns(
            response_id=_ids("R", len(r.client), 6),
            ticket_id=pl.when("has_ticket").then("ticket_id"),
            project_id=pl.when("has_project").then("project_id"),
            respondent_id=pl.when(pl.col("respondent_no") >= 0).then(
                pl.concat_str(
                    pl.when(pl.col("respondent_side") == "it")
                    .then(pl.lit("IT-S"))
                    .otherwise(pl.concat_str("client_id", pl.lit("-U"))),
                    pl.col("respondent_no").cast(pl.String).str.zfill(4),
                )
            ),
        )
    )
    followups = _followups(rng, responses)
    return invitations, responses, followups


_ON_TIME_OUTCOMES: Final = (
    "Called back; explained the delay and apologised.",
    "Client satisfied after the call.",
    "Escalated to the service manager, fix scheduled.",
    "Meeting arranged with the account manager.",
    "Apologised and agreed a review of what went wrong.",
)
_SECOND_OUTCOME: Final = "Second call: client confirmed the fix holds."
_LATE_OUTCOMES: Final = (
    "Left a voicemail, no reply yet.",
    "Client still unhappy; escalated to the service manager.",
    "Called back; client said it was too late to matter.",
)


def _office_time(rng: np.random.Generator, minutes: FloatArray) -> FloatArray:
    """The instant itself in office hours (weekdays 08:00-18:00), else the next working morning."""
    day = np.floor(minutes / _MIN_PER_DAY)
    clock = minutes - day * _MIN_PER_DAY
    weekday = (day + _EPOCH_DAY + 3) % 7
    inside = (weekday < 5) & (clock >= 480) & (clock < 1080)
    next_day = day + (clock >= 1080)
    next_weekday = (next_day + _EPOCH_DAY + 3) % 7
    next_day += np.select([next_weekday == 5, next_weekday == 6], [2, 1], 0)
    morning = next_day * _MIN_PER_DAY + 510 + np.floor(rng.random(len(minutes)) * 150)
    moved: FloatArray = np.where(inside, np.floor(minutes), morning)
    return moved


def _followups(rng: np.random.Generator, responses: pl.DataFrame) -> pl.DataFrame:
    """Call-backs to detractors: most within a day, some a week late, some never."""
    detractors = responses.filter(
        (pl.col("respondent_side") == "client")
        & ((pl.col("nps_score") <= 6) | (pl.col("csat") <= 2))
    ).select("response_id", "submitted_at")
    n = detractors.height
    u = rng.random(n)
    late = (u >= 0.78) & (u < 0.9)
    # On time: within a few office hours (the next working morning at the latest). Late: five
    # to fourteen days on, always beyond two business days.
    delay = np.where(late, np.floor(5 + rng.random(n) * 9) * _MIN_PER_DAY, 30 + rng.random(n) * 240)
    submitted = (
        detractors["submitted_at"].dt.epoch("us").to_numpy().astype(np.float64) - _EPOCH_US
    ) / 60_000_000.0
    followed = np.where(u < 0.9, _office_time(rng, submitted + delay), np.nan)
    second = np.where(
        rng.random(n) < 0.06,
        _office_time(rng, followed + np.floor(1 + rng.random(n) * 4) * _MIN_PER_DAY),
        np.nan,
    )
    outcome = np.where(
        late,
        len(_ON_TIME_OUTCOMES) + rng.integers(0, len(_LATE_OUTCOMES), n),
        rng.integers(0, len(_ON_TIME_OUTCOMES), n),
    )
    outcomes = (*_ON_TIME_OUTCOMES, *_LATE_OUTCOMES, _SECOND_OUTCOME)
    rows = pl.concat(
        [
            pl.DataFrame(
                {
                    "response_id": detractors["response_id"],
                    "minute": at,
                    "outcome": _pick(outcomes, kind, rng.random(n) >= 0.05),
                },
                nan_to_null=True,
            )
            for at, kind in ((followed, outcome), (second, np.full(n, len(outcomes) - 1)))
        ]
    )
    rows = rows.filter(pl.col("minute").is_not_null() & (pl.col("minute") <= _AS_OF_MIN))
    return rows.with_columns(
        followed_up_at=_timestamps(rows["minute"].to_numpy().astype(np.float64))
    ).sort("followed_up_at", "response_id")


# --- public API ----------------------------------------------------------------------------
def generate(seed: int = 7, *, tickets: int = 50_000) -> DemoData:
    """Generate the demo's six entities; the same seed and size give the same frames."""
    if tickets < 1:
        raise ValueError(f"tickets must be at least 1, got {tickets}")
    rng = np.random.default_rng(seed)
    ticket_facts = _tickets(rng, tickets)
    project_facts = _projects(rng)
    mood = _mood(rng)
    invitations, responses, followups = _surveys(rng, ticket_facts, project_facts, mood)
    return DemoData(
        clients=_conform(_clients_frame(), CLIENTS),
        tickets=_conform(ticket_facts.frame.sort("opened_at", "ticket_id"), TICKETS),
        projects=_conform(project_facts.frame.sort("project_id"), PROJECTS),
        survey_responses=_conform(responses, SURVEY_RESPONSES),
        survey_invitations=_conform(invitations, SURVEY_INVITATIONS),
        followups=_conform(followups, FOLLOWUPS),
    )


FILE_NAMES: Final = {
    CLIENTS.name: "clients.csv",
    TICKETS.name: "tickets.csv.gz",
    PROJECTS.name: "projects.csv",
    SURVEY_RESPONSES.name: "survey_responses.parquet",
    SURVEY_INVITATIONS.name: "survey_invitations.jsonl",
    FOLLOWUPS.name: "followups.jsonl",
}
"""Entity → the file :func:`write_demo_files` writes it to (the demo config maps these)."""

_ISO_UTC: Final = "%Y-%m-%dT%H:%M:%SZ"


def _iso_strings(frame: pl.DataFrame) -> pl.DataFrame:
    """Timestamps as ISO 8601 UTC strings (``...Z``), the form exports usually carry."""
    return frame.with_columns(pl.col(pl.Datetime).dt.strftime(_ISO_UTC))


def write_demo_files(out_dir: Path, seed: int = 7, *, tickets: int = 50_000) -> dict[str, Path]:
    """Write the demo in the mix of formats real exports come in; same seed, same bytes."""
    data = generate(seed, tickets=tickets)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {entity: out_dir / name for entity, name in FILE_NAMES.items()}
    paths[CLIENTS.name].write_text(data.clients.write_csv(), encoding="utf-8")
    csv = data.tickets.write_csv(datetime_format=_ISO_UTC).encode("utf-8")
    paths[TICKETS.name].write_bytes(gzip.compress(csv, compresslevel=6, mtime=0))
    paths[PROJECTS.name].write_text(data.projects.write_csv(), encoding="utf-8")
    table = data.survey_responses.to_arrow().cast(SURVEY_RESPONSES.schema)
    pq.write_table(table, paths[SURVEY_RESPONSES.name], compression="zstd")
    for entity in (SURVEY_INVITATIONS, FOLLOWUPS):
        frame = _iso_strings(data.frames()[entity.name])
        paths[entity.name].write_text(frame.write_ndjson(), encoding="utf-8")
    return paths
