"""``cxpipe.toml``: one validated file for a whole run.

Every table forbids unknown keys and says which key it did not know, with the closest
valid one, because a typo that is silently ignored is a metric silently wrong. Relative
paths are resolved against the config file's folder. Secrets never live here: a source
plugin reads them from the environment or a Prefect Secret block.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cxpipe.actions.settings import ActionPlanSettings
from cxpipe.calendars import BusinessTimeSettings
from cxpipe.errors import ConfigError
from cxpipe.metrics.base import Grain
from cxpipe.models import check_timezone
from cxpipe.schemas import ENTITIES, PRIORITIES, PROXIES
from cxpipe.signals.settings import SignalSettings


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnSpec(_Strict):
    """How one canonical column is made from the source: a column, or a constant."""

    column: str | None = None
    """The source column to read."""
    value: str | int | float | bool | None = None
    """A constant, for a field the export lacks (``source_system``, a single client)."""
    format: str | None = None
    """strftime format for dates and timestamps (``%d/%m/%Y %H:%M`` for day-first)."""
    map: dict[str, str | None] | None = None
    """Label map applied before the cast (``"1 - Critical" = "critical"``); unmapped
    labels pass through unchanged, so validation can quarantine them by name."""
    scale: float | None = None
    """Multiply a numeric value (hours → minutes: 60)."""
    plus_days: str | None = None
    """Add the whole number of days held in this source column to a date or timestamp
    (an export that gives a start and a duration instead of an end)."""

    @model_validator(mode="after")
    def _one_origin(self) -> ColumnSpec:
        if (self.column is None) == (self.value is None):
            raise ValueError("give exactly one of `column` (a source column) or `value`")
        return self


class KeepSpec(_Strict):
    """An extra source column carried through, parsed to a type (for folding and ordering)."""

    column: str
    type: Literal["string", "int", "float", "datetime", "date", "bool"] = "string"
    format: str | None = None


class FirstWhen(_Strict):
    """An event-log derivation: the first ``at`` among events whose ``column`` is in ``values``."""

    at: str
    column: str
    values: list[str]


class EventLogFold(_Strict):
    """Fold an event log (one row per ticket event) into one row per ticket.

    Every column takes the value of the **last** event (ordered by ``order_by``) unless it
    is listed in ``first``, ``min`` or ``max``, or derived by ``first_when``.
    """

    key: str = "ticket_id"
    order_by: list[str]
    first: list[str] = Field(default_factory=list)
    min: list[str] = Field(default_factory=list)
    max: list[str] = Field(default_factory=list)
    first_when: dict[str, FirstWhen] = Field(default_factory=dict)


class SourceConfig(_Strict):
    name: str
    kind: str
    entity: str
    enabled: bool = True
    options: dict[str, Any] = Field(default_factory=dict)
    """Settings of the source plugin itself (for ``file``: path, format, encoding…)."""
    columns: dict[str, str | ColumnSpec] = Field(default_factory=dict)
    """Canonical column → source column name, or a :class:`ColumnSpec`. Canonical columns
    not listed are read from a source column of the same name when there is one."""
    keep: list[str | KeepSpec] = Field(default_factory=list)
    """Extra source columns carried through to the validated data (and quarantine); a
    plain name stays a string, a :class:`KeepSpec` is parsed to its type."""
    null_values: list[str] = Field(default_factory=lambda: [""])
    """Strings that mean "no value" (``?``, ``NA``), matched after trimming spaces."""
    timezone: str = "UTC"
    """Time zone of naive timestamps in the source; everything is stored as UTC."""
    datetime_format: str | None = None
    """Default strftime format of timestamp columns; ISO 8601 is tried when unset."""
    date_format: str | None = None
    decimal_comma: bool = False
    """Numbers are written ``1.234,5``: ``.`` groups thousands and ``,`` is the decimal mark."""
    events: EventLogFold | None = None
    expect_rows: bool = True
    """A full read that yields zero rows fails the run (it usually means a broken export);
    an incremental read that finds nothing changed does not."""
    incremental: bool = False
    """Read only what changed since the last committed watermark and merge it, by primary
    key (latest watermark wins), into the rows earlier runs delivered. Needs an entity with
    a watermark column (tickets, survey_responses, survey_invitations)."""

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        return check_timezone(value)

    @field_validator("entity")
    @classmethod
    def _known_entity(cls, value: str) -> str:
        if value not in ENTITIES:
            raise ValueError(
                f"unknown entity {value!r}{_suggest(value, ENTITIES)}; "
                f"one of: {', '.join(ENTITIES)}"
            )
        return value

    @model_validator(mode="after")
    def _incremental_needs_a_watermark(self) -> SourceConfig:
        if self.incremental and ENTITIES[self.entity].watermark is None:
            readable = [name for name, e in ENTITIES.items() if e.watermark]
            raise ValueError(
                f"incremental: {self.entity} has no watermark column to read incrementally "
                f"by; incremental reads work for {', '.join(readable)}"
            )
        return self

    @model_validator(mode="after")
    def _known_columns(self) -> SourceConfig:
        entity = ENTITIES[self.entity]
        allowed = set(entity.columns)
        for name in self.columns:
            if name not in allowed:
                raise ValueError(
                    f"columns.{name}: {name!r} is not a column of {self.entity}"
                    f"{_suggest(name, allowed)} (carry extra columns with `keep`)"
                )
        return self

    def keep_specs(self) -> list[KeepSpec]:
        return [KeepSpec(column=k) if isinstance(k, str) else k for k in self.keep]

    def column_spec(self, canonical: str) -> ColumnSpec | None:
        spec = self.columns.get(canonical)
        if spec is None:
            return None
        return ColumnSpec(column=spec) if isinstance(spec, str) else spec

    def source_columns(self) -> list[str]:
        """The source columns this config reads (mapped, added as days, or kept), each
        once: what a source that builds its own frame must provide even when it read
        nothing."""
        names: list[str] = []
        for canonical in self.columns:
            spec = self.column_spec(canonical)
            if spec is not None:
                names += [c for c in (spec.column, spec.plus_days) if c]
        names += [keep.column for keep in self.keep_specs()]
        return list(dict.fromkeys(names))


class SlaTarget(_Strict):
    respond_hours: float | None = None
    resolve_hours: float | None = None


def _default_sla() -> dict[str, SlaTarget]:
    hours = {"critical": (1, 4), "high": (4, 24), "medium": (8, 72), "low": (24, 120)}
    return {p: SlaTarget(respond_hours=r, resolve_hours=s) for p, (r, s) in hours.items()}


class MetricSettings(_Strict):
    sla_targets: dict[str, SlaTarget] = Field(default_factory=_default_sla)
    """Per priority: respond and resolve targets in hours, used where a ticket has no due time."""
    proxy_weights: dict[str, float] = Field(default_factory=lambda: dict.fromkeys(PROXIES, 1.0))
    on_time_grace_days: int = 0
    budget_tolerance: float = 0.0
    followup_window_business_days: float = Field(default=2.0, gt=0)
    """A detractor should be called back within this many business days of responding
    (``detractor_followup_rate_pct`` and the call-back list's ``due_by``)."""
    theme_languages: list[str] = Field(default_factory=lambda: ["en", "fr"])
    """Which shipped lexicons comments are matched against for feedback themes."""
    theme_lexicon: str | None = None
    """A TOML lexicon file adding to (or replacing, theme by theme) the shipped ones,
    relative to the config file."""
    only: list[str] | None = None
    """Compute only these metric computations (by registered name); all when unset."""
    skip: list[str] = Field(default_factory=list)

    @field_validator("sla_targets")
    @classmethod
    def _known_priorities(cls, value: dict[str, SlaTarget]) -> dict[str, SlaTarget]:
        for name in value:
            if name not in PRIORITIES:
                raise ValueError(f"unknown priority {name!r}{_suggest(name, PRIORITIES)}")
        return value

    @field_validator("proxy_weights")
    @classmethod
    def _known_proxies(cls, value: dict[str, float]) -> dict[str, float]:
        for name, weight in value.items():
            if name not in PROXIES:
                raise ValueError(f"unknown proxy {name!r}{_suggest(name, PROXIES)}")
            if weight < 0:
                raise ValueError(f"proxy weight for {name!r} must not be negative")
        return value


class RunSettings(_Strict):
    period_grain: Grain = "month"
    output: str = "output"
    """Output root: a folder (relative to the config file) or a filesystem URL."""
    plugins_dir: str | None = None
    """A folder of ``*.py`` plugin files for a team's one-off plugins."""
    lock_timeout_seconds: float = Field(default=0.0, ge=0.0)
    """How long a run waits for another run on the same output root to finish (0: fail at
    once, naming the holder)."""


class CxpipeConfig(_Strict):
    run: RunSettings = Field(default_factory=RunSettings)
    metrics: MetricSettings = Field(default_factory=MetricSettings)
    business_time: BusinessTimeSettings | None = None
    """Business calendars; without this table durations are elapsed hours."""
    signals: SignalSettings = Field(default_factory=SignalSettings)
    action_plan: ActionPlanSettings = Field(default_factory=ActionPlanSettings)
    sources: list[SourceConfig]
    base_dir: Path = Field(default=Path("."), exclude=True)
    config_hash: str = Field(default="", exclude=True)

    @model_validator(mode="after")
    def _unique_source_names(self) -> CxpipeConfig:
        seen: set[str] = set()
        for source in self.sources:
            if source.name in seen:
                raise ValueError(f"two sources are named {source.name!r}; names must be unique")
            seen.add(source.name)
        return self

    def resolve(self, path: str) -> str:
        """A path from the config, made absolute against the config file's folder."""
        if "://" in path:
            return path
        return os.path.normpath(self.base_dir / path)

    @property
    def output_root(self) -> str:
        return self.resolve(self.run.output)

    @property
    def plugins_path(self) -> Path | None:
        return Path(self.resolve(self.run.plugins_dir)) if self.run.plugins_dir else None

    def enabled_sources(self) -> list[SourceConfig]:
        return [s for s in self.sources if s.enabled]


def _suggest(name: str, choices: Any) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _allowed_keys(model: type[BaseModel], location: tuple[Any, ...]) -> list[str]:
    """The field names valid at a pydantic error location, for a did-you-mean hint."""
    current: Any = model
    for part in location[:-1]:
        if isinstance(part, int) or current is None:
            continue
        fields = getattr(current, "model_fields", {})
        if part not in fields:
            return []
        annotation = fields[part].annotation
        current = _model_in(annotation)
    return list(getattr(current, "model_fields", {}))


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def format_validation_error(
    exc: ValidationError, origin: str, model: type[BaseModel] | None = None
) -> str:
    """One line per problem, with its key path and, for an unknown key, the closest valid one."""
    lines = [f"{origin}: invalid configuration"]
    for error in exc.errors():
        location = ".".join(str(p) for p in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            key = str(error["loc"][-1])
            hint = _suggest(key, _allowed_keys(model or CxpipeConfig, tuple(error["loc"])))
            message = f"unknown key {key!r}{hint}"
        lines.append(f"  - {location}: {message}")
    return "\n".join(lines)


def parse_config(data: dict[str, Any], *, base_dir: Path, origin: str = "<config>") -> CxpipeConfig:
    digest = hashlib.sha256(repr(sorted(data.items())).encode()).hexdigest()[:16]
    try:
        config = CxpipeConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, origin)) from None
    return config.model_copy(update={"base_dir": base_dir.resolve(), "config_hash": digest})


def load_config(path: str | Path) -> CxpipeConfig:
    """Read and validate a ``cxpipe.toml``; every problem is reported with its key path."""
    file = Path(path)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {file}: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from None
    config = parse_config(data, base_dir=file.parent, origin=str(file))
    return config.model_copy(update={"config_hash": hashlib.sha256(raw).hexdigest()[:16]})
