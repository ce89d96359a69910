"""Validation rules as plain data, so plugins can add rules without touching Great Expectations.

An :class:`Expectation` says *what* must hold; :mod:`cxpipe.validation.gx` decides *how* it is
checked. Keeping this module free of GX means ``import cxpipe`` and every plugin stay fast
(GX alone takes seconds to import) and the rules can be read, compared and listed in a
manifest without a validation engine.

Row-level rules quarantine the rows that break them and the run goes on; table-level rules
fail the run. A row rule can be declared ``level="table"`` when any breaking row should stop
the run instead.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from types import MappingProxyType
from typing import Any, Final, Literal, get_args

from cxpipe.schemas import Entity

Kind = Literal[
    "not_null",
    "in_set",
    "between",
    "unique",
    "ordered",
    "match_regex",
    "column_exists",
    "row_count_between",
]
Level = Literal["row", "table"]

KINDS: Final[tuple[Kind, ...]] = get_args(Kind)
TABLE_ONLY_KINDS: Final = frozenset({"column_exists", "row_count_between"})
"""Kinds that describe the whole table, so they have no failing rows to quarantine."""

_COLUMN_COUNT: Final[Mapping[str, tuple[int, int | None]]] = MappingProxyType(
    {
        "not_null": (1, 1),
        "in_set": (1, 1),
        "between": (1, 1),
        "unique": (1, None),
        "ordered": (2, 2),
        "match_regex": (1, 1),
        "column_exists": (1, 1),
        "row_count_between": (0, 0),
    }
)
_PARAMS: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {
        "not_null": frozenset(),
        "in_set": frozenset({"values"}),
        "between": frozenset({"min", "max"}),
        "unique": frozenset(),
        "ordered": frozenset(),
        "match_regex": frozenset({"pattern"}),
        "column_exists": frozenset(),
        "row_count_between": frozenset({"min", "max"}),
    }
)


Bound = float | date | None
"""A ``between`` bound: a number, a date or a timestamp (a UTC instant), or open."""


def format_number(value: Bound) -> str:
    """``1.0`` → ``"1"`` so messages read like the scale they describe; instants in UTC ISO."""
    if value is None:
        return "?"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()
    if math.isfinite(value) and float(value).is_integer():
        return str(int(value))
    return str(value)


def bound(value: Bound) -> Bound:
    """An infinite or missing bound means "no bound" (GX wants ``None``, not ``inf``)."""
    if value is None or (not isinstance(value, date) and math.isinf(value)):
        return None
    return value


@dataclass(frozen=True)
class Expectation:
    """One rule. Build it with the :class:`ExpectationSet` shortcuts rather than by hand.

    ``columns`` holds the column(s) the rule reads: one for most kinds, the key for
    ``unique``, ``(earlier, later)`` for ``ordered``, none for ``row_count_between``.
    ``params`` holds ``values`` (``in_set``), ``min``/``max`` (``between``,
    ``row_count_between``; ``None`` or ``inf`` for open) or ``pattern`` (``match_regex``).
    ``description`` is the rule in words; when left empty one is derived from the rule, and a
    description given explicitly is also appended to every quarantine message of the rule.
    """

    kind: Kind
    columns: tuple[str, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict, hash=False)
    level: Level | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown expectation kind {self.kind!r}; known: {', '.join(KINDS)}")
        columns = (self.columns,) if isinstance(self.columns, str) else tuple(self.columns)
        low, high = _COLUMN_COUNT[self.kind]
        if len(columns) < low or (high is not None and len(columns) > high):
            wanted = f"{low}" if low == high else f"at least {low}"
            raise ValueError(f"{self.kind} takes {wanted} column(s), got {columns!r}")
        params = dict(self.params)
        unknown = set(params) - _PARAMS[self.kind]
        if unknown:
            raise ValueError(f"{self.kind} does not take parameter(s) {sorted(unknown)}")
        if self.kind == "in_set":
            params["values"] = tuple(params.get("values", ()))
            if not params["values"]:
                raise ValueError("in_set needs a non-empty 'values'")
        if self.kind in {"between", "row_count_between"}:
            params.setdefault("min", None)
            params.setdefault("max", None)
            if bound(params["min"]) is None and bound(params["max"]) is None:
                raise ValueError(f"{self.kind} needs a finite 'min' or 'max'")
        if self.kind == "match_regex" and not isinstance(params.get("pattern"), str):
            raise ValueError("match_regex needs a 'pattern' string")
        level = self.level or ("table" if self.kind in TABLE_ONLY_KINDS else "row")
        if level not in ("row", "table"):
            raise ValueError(f"level must be 'row' or 'table', got {level!r}")
        if level == "row" and self.kind in TABLE_ONLY_KINDS:
            raise ValueError(f"{self.kind} is about the whole table; it cannot be row-level")
        object.__setattr__(self, "columns", columns)
        object.__setattr__(self, "params", MappingProxyType(params))
        object.__setattr__(self, "level", level)

    @property
    def column(self) -> str | None:
        """The column(s) as one label (``"source_system, ticket_id"``), or None."""
        return ", ".join(self.columns) or None

    @property
    def name(self) -> str:
        """A stable identifier such as ``between(csat)``, for manifests and check results."""
        return f"{self.kind}({', '.join(self.columns)})" if self.columns else self.kind

    @property
    def summary(self) -> str:
        """The rule in words: the explicit description, else one derived from the rule."""
        return self.description or self._derived_description()

    def _derived_description(self) -> str:
        cols = self.columns
        match self.kind:
            case "not_null":
                return f"{cols[0]} must not be null"
            case "in_set":
                return f"{cols[0]} must be one of {', '.join(map(str, self.params['values']))}"
            case "between":
                return f"{cols[0]} must be {range_text(self.params['min'], self.params['max'])}"
            case "unique":
                key = cols[0] if len(cols) == 1 else f"({', '.join(cols)})"
                return f"{key} must be unique"
            case "ordered":
                return f"{cols[0]} must not be after {cols[1]}"
            case "match_regex":
                return f"{cols[0]} must match {self.params['pattern']}"
            case "column_exists":
                return f"column {cols[0]} must exist"
            case "row_count_between":
                low, high = self.params["min"], self.params["max"]
                return f"the row count must be {range_text(low, high)}"
        raise AssertionError(self.kind)  # pragma: no cover - every kind is matched above


def range_text(low: Bound, high: Bound) -> str:
    """``within 1..5``, ``at least 0`` or ``at most 10``, skipping open bounds."""
    low, high = bound(low), bound(high)
    if low is not None and high is not None:
        return f"within {format_number(low)}..{format_number(high)}"
    if low is not None:
        return f"at least {format_number(low)}"
    return f"at most {format_number(high)}"


class ExpectationSet:
    """The rules for one entity, in the order they were added.

    cxpipe fills it with :func:`default_expectations`, then hands it to every plugin's
    ``cxpipe_add_expectations(entity, suite)``. Adding the same rule twice keeps one copy, so
    a plugin that restates a default does not double every quarantine reason.
    """

    def __init__(self, entity: str, expectations: Iterable[Expectation] = ()) -> None:
        self.entity = entity
        self._items: list[Expectation] = []
        for expectation in expectations:
            self.add(expectation)

    def add(self, expectation: Expectation) -> Expectation:
        if not isinstance(expectation, Expectation):
            raise TypeError(f"expected an Expectation, got {type(expectation).__name__}")
        if expectation not in self._items:
            self._items.append(expectation)
        return expectation

    def __iter__(self) -> Iterator[Expectation]:
        return iter(tuple(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, item: object) -> bool:
        return item in self._items

    def __repr__(self) -> str:
        return f"ExpectationSet({self.entity!r}, {len(self)} expectations)"

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column some rule reads, in first-use order."""
        return tuple(dict.fromkeys(c for e in self._items for c in e.columns))

    # Shortcuts: one per kind, so a plugin reads like the rule it states.

    def not_null(self, column: str, *, level: Level = "row", description: str = "") -> Expectation:
        return self.add(Expectation("not_null", (column,), level=level, description=description))

    def in_set(
        self, column: str, values: Iterable[Any], *, level: Level = "row", description: str = ""
    ) -> Expectation:
        return self.add(
            Expectation(
                "in_set",
                (column,),
                {"values": tuple(values)},
                level=level,
                description=description,
            )
        )

    def between(
        self,
        column: str,
        min: Bound = None,
        max: Bound = None,
        *,
        level: Level = "row",
        description: str = "",
    ) -> Expectation:
        return self.add(
            Expectation(
                "between",
                (column,),
                {"min": min, "max": max},
                level=level,
                description=description,
            )
        )

    def unique(self, *columns: str, level: Level = "row", description: str = "") -> Expectation:
        return self.add(Expectation("unique", columns, level=level, description=description))

    def ordered(
        self, earlier: str, later: str, *, level: Level = "row", description: str = ""
    ) -> Expectation:
        """``earlier <= later`` wherever both are present."""
        return self.add(
            Expectation("ordered", (earlier, later), level=level, description=description)
        )

    def match_regex(
        self, column: str, pattern: str, *, level: Level = "row", description: str = ""
    ) -> Expectation:
        """The value must contain a match of ``pattern`` (``re.search``, as GX's pandas engine
        does); anchor it with ``^…$`` to constrain the whole value."""
        return self.add(
            Expectation(
                "match_regex",
                (column,),
                {"pattern": pattern},
                level=level,
                description=description,
            )
        )

    def column_exists(self, column: str, *, description: str = "") -> Expectation:
        return self.add(Expectation("column_exists", (column,), description=description))

    def row_count_between(
        self,
        min: int | None = None,
        max: int | None = None,
        *,
        description: str = "",
    ) -> Expectation:
        return self.add(
            Expectation("row_count_between", (), {"min": min, "max": max}, description=description)
        )


FUTURE_HORIZON_DAYS: Final = 1.0
"""How far past the run's start a timestamp of something that already happened may lie
(clock skew, a misdeclared time zone) before its row is quarantined."""

HAPPENED: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "tickets": ("opened_at", "first_response_at", "resolved_at", "closed_at", "updated_at"),
        "survey_responses": ("submitted_at",),
        "survey_invitations": ("sent_at",),
        "followups": ("followed_up_at",),
    }
)
"""Per entity, the timestamps that record an event that has taken place, so cannot be in
the future (due dates and planned dates can, and are not listed)."""


def default_expectations(
    entity: Entity,
    *,
    expect_rows: bool = True,
    now: datetime | None = None,
    future_horizon_days: float | None = FUTURE_HORIZON_DAYS,
) -> ExpectationSet:
    """The rules the canonical schema implies, before any plugin adds its own.

    Every canonical column exists; required columns are not null; labelled columns hold only
    their labels; ranged columns stay in range; ordered timestamps do not run backwards; the
    primary key is unique; and, with ``expect_rows`` (a full read of a source whose config
    expects rows), the source delivered at least one row. Timestamps of events that have
    happened (:data:`HAPPENED`) may not be more than ``future_horizon_days`` after ``now``
    (the run's start; the current time when not given); ``None`` turns that rule off.
    """
    suite = ExpectationSet(entity.name)
    if expect_rows:
        suite.row_count_between(min=1)
    for column in entity.columns:
        suite.column_exists(column)
    for column in entity.required:
        suite.not_null(column)
    for column, labels in entity.labels.items():
        suite.in_set(column, labels)
    for column, (low, high) in entity.ranges.items():
        suite.between(column, low, high)
    for earlier, later in entity.ordered:
        suite.ordered(earlier, later)
    if future_horizon_days is not None:
        latest = (now or datetime.now(UTC)) + timedelta(days=future_horizon_days)
        latest = latest.replace(microsecond=0)
        horizon = format_number(future_horizon_days)
        for column in HAPPENED.get(entity.name, ()):
            if column in entity.columns:
                suite.between(
                    column,
                    max=latest,
                    description=f"in the future: more than {horizon} day(s) after the run started",
                )
    suite.unique(*entity.primary_key)
    return suite
