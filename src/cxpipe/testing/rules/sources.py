"""The rules a source plugin keeps, checked on a :class:`SourceCase`."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import polars as pl

from cxpipe.config import SourceConfig
from cxpipe.conform import conform
from cxpipe.errors import ConfigError
from cxpipe.registry import Registry
from cxpipe.schemas import Entity, get_entity
from cxpipe.sources.base import Extract, Source, SourceOptions
from cxpipe.testing.rules.base import expect

T = TypeVar("T")

UNKNOWN_OPTION = "cxpipe_contract_unknown_option"
"""The option key :func:`rejects_unknown_options` adds; no real source has it."""

_SHOWN = 5
"""How many offending rows a failure message lists."""


def call_with_timeout(function: Callable[[], T], seconds: float, what: str) -> T:
    """``function()``, or an :class:`AssertionError` if it has not returned after ``seconds``.

    It runs in a daemon thread: a call that never returns cannot be stopped, but it no
    longer holds up the test (nor the interpreter's exit).
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = function()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name=f"cxpipe-contract: {what}", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise AssertionError(
            f"{what} did not finish within {seconds:g} s; a paginator that never reaches its "
            f"last page? Stop when a page is empty or has no next cursor, and cap the pages"
        )
    if "error" in box:
        raise box["error"]
    value: T = box["value"]
    return value


@dataclass(frozen=True)
class Extracted:
    """One extract: what ``extract()`` returned, its rows collected, and how long it took."""

    extract: Extract
    rows: pl.DataFrame
    seconds: float


@dataclass
class SourceCase:
    """A source class with the ``[[sources]]`` table it is tested with.

    Extracts are read once and remembered, so every rule sees the same rows; an error is
    remembered too and re-raised by every rule that needs the rows.
    """

    source_cls: type[Source]
    config: SourceConfig
    since: datetime | None = None
    """A watermark for the incremental rule; ``None`` skips it."""
    since_tolerance: timedelta = timedelta(0)
    """How far before ``since`` an incremental read may deliberately start."""
    base_dir: Path | None = None
    """Relative paths in the options are resolved against it (the config file's folder)."""
    timeout: float = 30.0
    """Seconds one extract (pages fetched and collected) may take."""
    _memo: dict[str, tuple[Any, BaseException | None]] = field(
        default_factory=dict, init=False, repr=False
    )

    def __post_init__(self) -> None:
        if self.since is not None and self.since.tzinfo is None:
            self.since = self.since.replace(tzinfo=UTC)  # watermarks are UTC

    @property
    def entity(self) -> Entity:
        return get_entity(self.config.entity)

    def make_source(self, config: SourceConfig | None = None) -> Source:
        """An instance of the source, as the runner makes one."""
        base = self.base_dir

        def resolve(path: str) -> str:  # as CxpipeConfig.resolve: URLs stay as they are
            if base is None or "://" in path:
                return path
            return os.path.normpath(base / path)

        return self.source_cls(config or self.config, resolve_path=resolve)

    def _once(self, key: str, what: str, compute: Callable[[], T]) -> T:
        if key not in self._memo:
            try:
                self._memo[key] = (compute(), None)
            except Exception as exc:
                self._memo[key] = (None, exc)
        value, error = self._memo[key]
        if isinstance(error, AssertionError):
            raise AssertionError(*error.args) from error.__cause__
        if error is not None:
            raise AssertionError(f"{what} failed: {error}") from error
        result: T = value
        return result

    def extracted(self, since: datetime | None = None) -> Extracted:
        """``extract(since)`` with its frame collected, within the timeout."""

        def read() -> Extracted:
            source = self.make_source()
            started = time.perf_counter()
            extract = source.extract(since)
            if not isinstance(extract, Extract):
                raise AssertionError(
                    f"{self.source_cls.__name__}.extract() returned {type(extract).__name__}; "
                    f"return cxpipe.sources.base.Extract(frame=...)"
                )
            if not isinstance(extract.frame, pl.LazyFrame):
                raise AssertionError(
                    f"Extract.frame is a {type(extract.frame).__name__}; hand conform a "
                    f"polars LazyFrame (``frame.lazy()``)"
                )
            rows = extract.frame.collect()
            return Extracted(extract, rows, time.perf_counter() - started)

        what = f"{self.source_cls.__name__}.extract({'since' if since else ''})"
        return self._once(
            f"extract:{since}", what, lambda: call_with_timeout(read, self.timeout, what)
        )

    def conformed(self, since: datetime | None = None) -> pl.DataFrame:
        """The extract mapped onto the entity by the case's config, as a run does it."""
        rows = self.extracted(since).rows
        return self._once(
            f"conform:{since}",
            f"conforming {self.source_cls.__name__}'s rows with the test config",
            lambda: conform(rows.lazy(), self.config, self.entity).collect(),
        )


def _sample(frame: pl.DataFrame, columns: list[str]) -> str:
    shown = [c for c in ("_cx_file", "_cx_row", *columns) if c in frame.columns]
    return str(frame.select(shown).head(_SHOWN).rows(named=True))


def declares_kind_and_options(case: SourceCase) -> None:
    """The class sets ``kind`` (a non-empty string) and ``Options``, a
    :class:`~cxpipe.sources.base.SourceOptions` model that forbids unknown keys, and the
    registry accepts it."""
    cls = case.source_cls
    expect(
        isinstance(cls, type) and issubclass(cls, Source),
        f"{cls!r} is not a subclass of cxpipe.sources.base.Source",
    )
    kind = getattr(cls, "kind", None)
    expect(
        isinstance(kind, str) and kind.strip(),
        f'{cls.__name__} sets no `kind`; add `kind = "<system>"` (the name a [[sources]] '
        f"table's `kind` uses)",
    )
    options = getattr(cls, "Options", None)
    if not (isinstance(options, type) and issubclass(options, SourceOptions)):
        raise AssertionError(
            f"{cls.__name__}.Options must subclass cxpipe.sources.base.SourceOptions"
        )
    extra = options.model_config.get("extra")
    expect(
        extra == "forbid",
        f"{cls.__name__}.Options allows unknown keys (model_config extra={extra!r}); a "
        f"misspelt option must be an error",
    )
    Registry().add_source(cls)


def rejects_unknown_options(case: SourceCase) -> None:
    """An unknown key in ``[sources.options]`` is a :class:`~cxpipe.errors.ConfigError`
    that names the key, raised when the source is made (before anything is read)."""
    options: Mapping[str, Any] = {**case.config.options, UNKNOWN_OPTION: True}
    config = case.config.model_copy(update={"options": options})
    try:
        case.make_source(config)
    except ConfigError as exc:
        expect(
            UNKNOWN_OPTION in str(exc),
            f"the error for an unknown option does not name the key: {exc}",
        )
        return
    raise AssertionError(
        f"{case.source_cls.__name__} accepted the unknown option {UNKNOWN_OPTION!r}; give it an "
        f"`Options` model (a SourceOptions subclass) and call super().__init__"
    )


def extract_terminates(case: SourceCase) -> None:
    """``extract()`` returns and its frame collects within the timeout (every page fetched,
    the paginator stops)."""
    case.extracted()


def extract_has_lineage(case: SourceCase) -> None:
    """``extract()`` returns an :class:`~cxpipe.sources.base.Extract` whose frame is a
    LazyFrame with at least one row, ``_cx_file`` (String, never null) and ``_cx_row``
    (Int64, 1-based, unique within its file)."""
    extracted = case.extracted()
    schema = extracted.extract.frame.collect_schema()
    rows = extracted.rows
    for name, dtype in (("_cx_file", pl.String()), ("_cx_row", pl.Int64())):
        expect(
            name in schema,
            f"the extract has no {name!r} column; add lineage: "
            f"frame.with_row_index('_cx_row', offset=1).with_columns(_cx_file=pl.lit(...), "
            f"_cx_row=pl.col('_cx_row').cast(pl.Int64))",
        )
        expect(
            schema[name] == dtype and rows.schema[name] == dtype,
            f"{name!r} is {rows.schema[name]}, not {dtype}",
        )
    expect(rows.height > 0, "the extract has no rows on the test data; give it a fixture with rows")
    expect(rows["_cx_file"].null_count() == 0, "_cx_file is null on some rows")
    bad = rows.filter(pl.col("_cx_row").is_null() | (pl.col("_cx_row") < 1))
    expect(bad.height == 0, f"_cx_row must be 1-based and never null: {_sample(bad, [])}")
    duplicated = rows.filter(pl.struct("_cx_file", "_cx_row").is_duplicated())
    expect(
        duplicated.height == 0,
        f"_cx_row repeats within a file (number rows across the whole page stream): "
        f"{_sample(duplicated, [])}",
    )


def conforms_to_entity(case: SourceCase) -> None:
    """Mapped with the test config, the rows have every column of the canonical entity
    with the canonical dtype."""
    conformed = case.conformed()
    for name, dtype in case.entity.polars_schema.items():
        expect(name in conformed.columns, f"conformed rows lack canonical column {name!r}")
        expect(
            conformed.schema[name] == dtype,
            f"{name!r} is {conformed.schema[name]} after conform, the entity says {dtype}",
        )


def no_conform_errors(case: SourceCase) -> None:
    """No value of the test data fails to parse (``_cx_errors`` is empty on every row)."""
    conformed = case.conformed()
    bad = conformed.filter(pl.col("_cx_errors").list.len() > 0)
    if bad.height:
        errors = bad.select("_cx_file", "_cx_row", "_cx_errors").head(_SHOWN).rows(named=True)
        raise AssertionError(
            f"{bad.height} of {conformed.height} rows have values conform cannot parse "
            f"(fix the source's output or the test config's mapping): {errors}"
        )


def valid_rows(case: SourceCase) -> None:
    """Every conformed row keeps the entity's row rules that validation applies: required
    columns filled, labels from their closed sets, numbers in range, timestamps in order.
    On the test data nothing would be quarantined."""
    conformed, entity = case.conformed(), case.entity
    checks: list[tuple[str, pl.Expr]] = [
        (f"{c} is null", pl.col(c).is_null()) for c in entity.required
    ]
    checks += [
        (f"{c} not in {labels}", ~pl.col(c).is_in(labels)) for c, labels in entity.labels.items()
    ]
    checks += [
        (f"{c} outside [{lo:g}, {hi:g}]", (pl.col(c) < lo) | (pl.col(c) > hi))
        for c, (lo, hi) in entity.ranges.items()
    ]
    checks += [(f"{a} after {b}", pl.col(a) > pl.col(b)) for a, b in entity.ordered]
    failures = []
    for label, broken in checks:
        bad = conformed.filter(broken.fill_null(False))
        if bad.height:
            failures.append(f"{label}: {bad.height} rows, e.g. {_sample(bad, [])}")
    expect(not failures, "rows validation would quarantine: " + "; ".join(failures))


def primary_key_unique(case: SourceCase) -> None:
    """The entity's primary key is never null and unique over the conformed rows."""
    conformed, key = case.conformed(), list(case.entity.primary_key)
    nulls = conformed.filter(pl.any_horizontal(pl.col(key).is_null()))
    expect(nulls.height == 0, f"primary key {key} is null on some rows: {_sample(nulls, key)}")
    duplicated = conformed.filter(pl.struct(key).is_duplicated())
    expect(
        duplicated.height == 0,
        f"primary key {key} repeats ({duplicated.height} rows): {_sample(duplicated, key)}",
    )


def watermark_present(case: SourceCase) -> None:
    """For entities read incrementally (tickets, survey responses, invitations), the
    watermark column exists and is filled on every conformed row."""
    column = case.entity.watermark
    if column is None:
        return
    conformed = case.conformed()
    expect(column in conformed.columns, f"no watermark column {column!r}")
    nulls = conformed.filter(pl.col(column).is_null())
    expect(
        nulls.height == 0,
        f"watermark {column!r} is null on {nulls.height} rows (map it, or a timestamp it is "
        f"derived from): {_sample(nulls, [column])}",
    )


def since_filters(case: SourceCase) -> None:
    """Given ``since``, a second extract returns no row whose watermark is older than it,
    less the declared ``since_tolerance`` (an incremental read reads only what changed).
    Skipped when the test gives no ``since`` or the entity has no watermark."""
    column, since = case.entity.watermark, case.since
    if since is None or column is None:
        return
    bound = since - case.since_tolerance
    older = case.conformed(since).filter(pl.col(column) < bound)
    allowed = f" - {case.since_tolerance}" if case.since_tolerance else ""
    expect(
        older.height == 0,
        f"extract(since={since.isoformat()}) returned {older.height} rows older than "
        f"`since`{allowed} (push `since` into the query, or filter the frame): "
        f"{_sample(older, [column])}",
    )


SourceRule = Callable[[SourceCase], None]

SOURCE_RULES: Mapping[str, SourceRule] = {
    rule.__name__: rule
    for rule in (
        declares_kind_and_options,
        rejects_unknown_options,
        extract_terminates,
        extract_has_lineage,
        conforms_to_entity,
        no_conform_errors,
        valid_rows,
        primary_key_unique,
        watermark_present,
        since_filters,
    )
}
"""Rule name → rule, in the order the test class runs them."""
