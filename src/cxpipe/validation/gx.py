"""Run an :class:`ExpectationSet` through Great Expectations and split a frame into kept and
quarantined rows.

This is the only module that imports Great Expectations, and it does so inside functions:
the import alone takes seconds, and ``import cxpipe`` must stay fast. It owns the polars →
pandas hand-off too, since GX 1.x validates pandas, not polars.

Measured choices (GX 1.24, pandas 3; 1 M tickets × the 39 default rules take about 2–3 s):

- pandas columns are Arrow-backed (``pd.ArrowDtype``: zero-copy, nulls stay nulls) except
  timestamps (numpy: GX was ~30× slower on time-zoned Arrow timestamps), dictionary columns
  (pandas categoricals) and float64 (numpy). Numeric columns under a ``between`` rule are
  cast to float64 first: GX vectorises that rule only for numpy int64/float64 and calls
  Python once per value for any other dtype (~1 s per million rows and rule).
- ``result_format`` is ``COMPLETE`` with ``unexpected_index_column_names`` naming the pandas
  index (a ``RangeIndex`` named ``__cx_pos``, the row's position in the polars frame) and
  ``exclude_unexpected_values``. That returns every failing position however many there are
  (GX caps ``unexpected_list``, the failing *values*, at 200 even in ``COMPLETE``), and it
  avoids GX's per-row ``.at[]`` loop that a named *column* triggers (4 s instead of 0.5 s for
  100k failures). Failing values are read back from the polars frame instead, and a count
  that disagrees with GX's ``unexpected_count`` is an error, never a silent keep.
- GX fingerprints every batch it loads with ``hash_pandas_object`` over the whole frame
  (~0.8 s per million tickets); ``Batch.validate`` loads the batch a second time, so the
  suite runs through GX's v1 ``Validator`` directly, which loads it once.
- Sources above :data:`CHUNK_ROWS` rows go to GX in chunks (row rules) plus one call on the
  key columns (``unique``, row count), so validation memory stays bounded by the chunk; the
  chunk results are merged (counts summed, positions concatenated) into what one call gives.
- Rows that conform already flagged (a non-empty ``_cx_errors``) are checked by GX like any
  other row, so their quarantine entry lists every broken rule. A GX finding on a column that
  conform already flagged in the same row is dropped: conform's reason carries the raw value
  (``'31/02/2024' is not a date``), GX would only see the null it left behind.
- Duplicates of a primary key are settled in polars before GX (:func:`dedupe`): the latest
  version by the entity's watermark wins, and the others are quarantined as superseded.
"""

from __future__ import annotations

import functools
import logging
import threading
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import polars as pl
import pyarrow as pa

from cxpipe.errors import ValidationFailed
from cxpipe.schemas import REASON_DTYPE, REASON_FIELDS, Entity
from cxpipe.validation.expectations import (
    Expectation,
    ExpectationSet,
    Level,
    bound,
    format_number,
    range_text,
)

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]  # no stubs installed

ERRORS_COLUMN: Final = "_cx_errors"
"""Set by conform: ``list[struct{check, column, value, message}]``, the row's cast failures."""
FILE_COLUMN: Final = "_cx_file"
ROW_COLUMN: Final = "_cx_row"
REASONS_COLUMN: Final = "quarantine_reasons"
REASON_COLUMN: Final = "quarantine_reason"

_POS: Final = "__cx_pos"
_SEQ: Final = "__cx_seq"
_FINDINGS_SCHEMA: Final = pl.Schema(
    {_POS: pl.UInt32, _SEQ: pl.Int64, **dict.fromkeys(REASON_FIELDS, pl.String)}
)
_LOCK = threading.Lock()
"""GX's context and metric cache are not documented as thread-safe; validations take turns."""


@dataclass(frozen=True)
class CheckResult:
    """How one expectation fared, for the run manifest and the validation summary."""

    name: str
    kind: str
    column: str | None
    level: Level
    success: bool
    unexpected_count: int
    description: str


@dataclass(frozen=True)
class ValidationOutcome:
    """One source's rows, split: every input row is kept or quarantined, exactly once."""

    source: str
    entity: str
    rows_in: int
    kept: pl.DataFrame
    """Rows that passed, with the input's columns minus ``_cx_errors``."""
    quarantined: pl.DataFrame
    """Failed rows, one per input row, with ``quarantine_reasons`` and ``quarantine_reason``."""
    checks: tuple[CheckResult, ...]

    def __post_init__(self) -> None:
        # The run manifest promises rows read = kept + quarantined; a miss here is a bug.
        if self.rows_in != self.kept.height + self.quarantined.height:
            raise RuntimeError(
                f"source {self.source!r}: {self.rows_in} rows in, but {self.kept.height} kept "
                f"+ {self.quarantined.height} quarantined"
            )


# ---------------------------------------------------------------------------------------------
# polars → pandas, and the GX engine


def _pandas_type(arrow_type: pa.DataType) -> Any:
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]  # no stubs installed

    if (
        pa.types.is_timestamp(arrow_type)
        or pa.types.is_dictionary(arrow_type)
        or pa.types.is_float64(arrow_type)
    ):
        return None  # numpy datetime64 / pandas Categorical / numpy float64: GX's fast paths
    return pd.ArrowDtype(arrow_type)


def to_pandas(frame: pl.DataFrame, *, offset: int = 0) -> pd.DataFrame:
    """The frame as GX wants it: Arrow-backed columns, numpy timestamps and floats, positions.

    The index is a ``RangeIndex`` named ``__cx_pos`` starting at ``offset``, so a failing row
    GX reports is the row at that position in the frame ``frame`` was sliced from.
    """
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]  # no stubs installed

    result = frame.to_arrow().to_pandas(types_mapper=_pandas_type)
    result.index = pd.RangeIndex(offset, offset + frame.height, name=_POS)
    return result


@dataclass(frozen=True)
class _Engine:
    gx: Any
    validator: Any
    batch_definition: Any


@functools.cache
def _engine() -> _Engine:
    """An ephemeral GX context (nothing written to disk, no analytics, no progress bars)."""
    gx_logger = logging.getLogger("great_expectations")
    if gx_logger.level == logging.NOTSET:  # leave a level someone chose on purpose alone
        gx_logger.setLevel(logging.WARNING)  # GX logs hundreds of INFO lines on import

    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )
    from great_expectations.validator.v1_validator import Validator

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
    )
    context = gx.get_context(mode="ephemeral", project_config=config)
    asset = context.data_sources.add_pandas("cxpipe").add_dataframe_asset("frame")
    return _Engine(gx, Validator, asset.add_batch_definition_whole_dataframe("whole frame"))


@contextmanager
def _quiet() -> Iterator[None]:
    """GX and pandas warn about their own internals on every run; nothing a user can act on.

    Python's warning filters are process-wide, so other threads are muted too while GX runs.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _gx_expectation(gx: Any, expectation: Expectation, index: int) -> Any:
    """The GX 1.x expectation for one of ours; ``meta`` carries its position in the suite."""
    found = gx.expectations
    cols = list(expectation.columns)
    params = expectation.params
    meta = {"cx_index": index}
    match expectation.kind:
        case "not_null":
            return found.ExpectColumnValuesToNotBeNull(column=cols[0], meta=meta)
        case "in_set":
            return found.ExpectColumnValuesToBeInSet(
                column=cols[0], value_set=list(params["values"]), meta=meta
            )
        case "between":
            return found.ExpectColumnValuesToBeBetween(
                column=cols[0],
                min_value=bound(params["min"]),
                max_value=bound(params["max"]),
                meta=meta,
            )
        case "unique" if len(cols) == 1:
            return found.ExpectColumnValuesToBeUnique(column=cols[0], meta=meta)
        case "unique":
            return found.ExpectCompoundColumnsToBeUnique(
                column_list=cols, ignore_row_if="any_value_is_missing", meta=meta
            )
        case "ordered":
            earlier, later = cols
            return found.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A=later,
                column_B=earlier,
                or_equal=True,
                ignore_row_if="either_value_is_missing",
                meta=meta,
            )
        case "match_regex":
            return found.ExpectColumnValuesToMatchRegex(
                column=cols[0], regex=params["pattern"], meta=meta
            )
        case "column_exists":
            return found.ExpectColumnToExist(column=cols[0], meta=meta)
        case "row_count_between":
            return found.ExpectTableRowCountToBeBetween(
                min_value=bound(params["min"]), max_value=bound(params["max"]), meta=meta
            )
    raise AssertionError(expectation.kind)  # pragma: no cover - Expectation checks its kind


_RESULT_FORMAT: Final[Mapping[str, Any]] = {
    "result_format": "COMPLETE",
    "unexpected_index_column_names": [_POS],
    "exclude_unexpected_values": True,
    "return_unexpected_index_query": False,
}


@dataclass(frozen=True)
class _Result:
    success: bool
    unexpected_count: int
    positions: list[int]
    observed: Any
    error: str | None


def _exception_message(info: Any) -> str | None:
    """GX nests exception info by metric id when a metric fails; find the first message."""
    if not isinstance(info, Mapping):
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message") or "unknown error")
    for value in info.values():
        message = _exception_message(value)
        if message:
            return message
    return None


def _run_gx(pdf: pd.DataFrame, expectations: Mapping[int, Expectation]) -> dict[int, _Result]:
    with _LOCK, _quiet():
        engine = _engine()
        suite = engine.gx.ExpectationSuite(name="cxpipe")
        for index, expectation in expectations.items():
            suite.add_expectation(_gx_expectation(engine.gx, expectation, index))
        # As ``ValidationDefinition.run`` does, minus storing results in the context (they
        # would pile up run after run); unlike ``Batch.validate`` it loads the batch once.
        validator = engine.validator(
            batch_definition=engine.batch_definition,
            batch_parameters={"dataframe": pdf},
            result_format=dict(_RESULT_FORMAT),
        )
        report = validator.validate_expectation_suite(suite)
    results: dict[int, _Result] = {}
    for item in report.results:
        index = int(item.expectation_config.meta["cx_index"])
        body = item.result or {}
        positions: list[int] = []
        for entry in body.get("unexpected_index_list") or ():
            positions.extend(int(p) for p in entry[_POS])
        unexpected = int(body.get("unexpected_count") or 0)
        if positions and len(positions) != unexpected:
            # A row rule must name every failing row, or bad rows would be kept unseen.
            raise RuntimeError(
                f"GX counted {unexpected} failing rows for {expectations[index].name} "
                f"but listed {len(positions)}"
            )
        results[index] = _Result(
            success=bool(item.success),
            unexpected_count=unexpected,
            positions=positions,
            observed=body.get("observed_value"),
            error=_exception_message(item.exception_info),
        )
    return results


CHUNK_ROWS: Final = 1_000_000
"""Rows handed to GX at a time. Row rules only look at their own row, so they run chunk by
chunk: the pandas copy and GX's per-rule masks then stay bounded by the chunk, not the
source (10 M tickets in one go needed several GiB more). Rules about the whole table
(``unique``, ``row_count_between``) run once, on just the columns they read."""
_WHOLE_TABLE: Final = frozenset({"unique", "row_count_between"})


def _row_counter(height: int) -> pl.DataFrame:
    """A one-column stand-in with the frame's height, for rules that read no column."""
    return pl.select(pl.repeat(0, height, dtype=pl.Int8).alias("__cx_rows"))


def _merged(parts: Sequence[Mapping[int, _Result]]) -> dict[int, _Result]:
    """The results of chunks combined as if GX had seen every row at once."""
    merged: dict[int, _Result] = {}
    for part in parts:
        for index, result in part.items():
            seen = merged.get(index)
            merged[index] = (
                result
                if seen is None
                else _Result(
                    success=seen.success and result.success,
                    unexpected_count=seen.unexpected_count + result.unexpected_count,
                    positions=seen.positions + result.positions,
                    observed=seen.observed if seen.observed is not None else result.observed,
                    error=seen.error or result.error,
                )
            )
    return merged


def _run_chunked(
    gx_input: pl.DataFrame, expectations: Mapping[int, Expectation], chunk_rows: int
) -> dict[int, _Result]:
    """:func:`_run_gx` over ``gx_input`` at most ``chunk_rows`` rows at a time (see
    :data:`CHUNK_ROWS`); a frame that fits in one chunk is validated in one call."""
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be positive")
    if gx_input.height <= chunk_rows:
        return _run_gx(to_pandas(gx_input), expectations)
    whole = {i: e for i, e in expectations.items() if e.kind in _WHOLE_TABLE}
    local = {i: e for i, e in expectations.items() if i not in whole}
    parts: list[dict[int, _Result]] = []
    if whole:
        columns = list(dict.fromkeys(c for e in whole.values() for c in e.columns))
        table = gx_input.select(columns) if columns else _row_counter(gx_input.height)
        parts.append(_run_gx(to_pandas(table), whole))
        del table
    if local:
        for offset in range(0, gx_input.height, chunk_rows):
            chunk = gx_input.slice(offset, chunk_rows)
            parts.append(_run_gx(to_pandas(chunk, offset=offset), local))
    return _merged(parts)


# ---------------------------------------------------------------------------------------------
# Messages, written in polars so thousands of failing rows cost one vectorised pass


def _shown(column: str, dtype: pl.DataType) -> pl.Expr:
    """The value as a message shows it: strings quoted, nulls as ``null``."""
    text = pl.col(column).cast(pl.String)
    if dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum):
        text = pl.concat_str(pl.lit("'"), text, pl.lit("'"))
    return pl.when(pl.col(column).is_null()).then(pl.lit("null")).otherwise(text)


def _joined(parts: Sequence[pl.Expr]) -> pl.Expr:
    return pl.concat_str(parts, separator=", ") if len(parts) > 1 else parts[0]


def _text(*parts: pl.Expr | str) -> pl.Expr:
    return pl.concat_str([pl.lit(p) if isinstance(p, str) else p for p in parts])


def _row_message(expectation: Expectation, schema: pl.Schema) -> tuple[pl.Expr, pl.Expr]:
    """``(value, message)`` expressions for a row that breaks ``expectation``."""
    cols = expectation.columns
    shown = [_shown(c, schema[c]) for c in cols]
    raw = [pl.col(c).cast(pl.String) for c in cols]
    params = expectation.params
    value = _joined(raw)
    match expectation.kind:
        case "not_null":
            value, message = pl.lit(None, pl.String), pl.lit(f"{cols[0]} is null")
        case "in_set":
            labels = ", ".join(map(str, params["values"]))
            message = _text(f"{cols[0]} = ", shown[0], f" is not one of {labels}")
        case "between":
            low, high = bound(params["min"]), bound(params["max"])
            if low is not None and high is not None:
                where = f"outside {format_number(low)}..{format_number(high)}"
            elif low is not None:
                where = f"below {format_number(low)}"
            else:
                where = f"above {format_number(high)}"
            message = _text(f"{cols[0]} = ", shown[0], f" is {where}")
        case "unique":
            key = ", ".join(cols) if len(cols) == 1 else f"({', '.join(cols)})"
            values = shown[0] if len(cols) == 1 else _text("(", _joined(shown), ")")
            message = _text(f"{key} = ", values, " is not unique")
        case "ordered":
            earlier, later = cols
            message = _text(f"{later} (", shown[1], f") is before {earlier} (", shown[0], ")")
        case "match_regex":
            message = _text(f"{cols[0]} = ", shown[0], f" does not match {params['pattern']}")
        case _:  # pragma: no cover - table-only kinds never reach row messages
            raise AssertionError(expectation.kind)
    if expectation.description:
        message = _text(message, f" ({expectation.description})")
    return value, message


def _table_message(expectation: Expectation, result: _Result, frame: pl.DataFrame) -> str:
    """Why a table-level expectation failed, in words a user can act on."""
    if result.error is not None:
        return f"could not check {expectation.summary}: {result.error}"
    match expectation.kind:
        case "column_exists":
            text = f"required column {expectation.columns[0]!r} is missing"
        case "row_count_between":
            low, high = expectation.params["min"], expectation.params["max"]
            unit = "row" if (bound(low), bound(high)) in ((1, None), (None, 1)) else "rows"
            text = f"expected {range_text(low, high)} {unit}, got {result.observed}"
        case _:
            count = result.unexpected_count
            text = f"{count} row{'s' if count != 1 else ''} break {expectation.summary!r}"
            if result.positions and {FILE_COLUMN, ROW_COLUMN} <= set(frame.columns):
                first = frame.row(min(result.positions), named=True)
                text += f" (first: row {first[ROW_COLUMN]} of {first[FILE_COLUMN]})"
            return text
    if expectation.description:
        text += f" ({expectation.description})"
    return text


# ---------------------------------------------------------------------------------------------
# Splitting a frame into kept and quarantined rows


def _conform_findings(frame: pl.DataFrame) -> pl.DataFrame:
    """Conform's ``_cx_errors``, one finding per error, ordered before any GX finding."""
    if ERRORS_COLUMN not in frame.columns:
        return pl.DataFrame(schema=_FINDINGS_SCHEMA)
    exploded = (
        frame.select(_POS, ERRORS_COLUMN)
        .filter(pl.col(ERRORS_COLUMN).list.len() > 0)
        .explode(ERRORS_COLUMN)
        .with_row_index(_SEQ)
    )
    errors = pl.col(ERRORS_COLUMN)
    return exploded.select(
        _POS,
        (pl.col(_SEQ).cast(pl.Int64) - exploded.height).alias(_SEQ),
        *(errors.struct.field(name).cast(pl.String).alias(name) for name in REASON_FIELDS),
    )


def _split(
    frame: pl.DataFrame, findings: pl.DataFrame, *, keep_errors: bool = False
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Kept rows and quarantined rows (one per failing row, every reason attached).

    ``frame`` carries ``__cx_pos``; ``findings`` has one row per broken rule. Both results
    drop ``__cx_pos``; the quarantine keeps every other input column except ``_cx_errors``
    (now in its reasons), and the kept rows keep ``_cx_errors`` only if ``keep_errors`` (for
    validation still to come).
    """
    reasons = findings.group_by(_POS).agg(
        pl.struct(*REASON_FIELDS).sort_by(_SEQ).alias(REASONS_COLUMN),
        pl.col("message").sort_by(_SEQ).str.join("; ").alias(REASON_COLUMN),
    )
    internal = [c for c in (_POS, ERRORS_COLUMN) if c in frame.columns]
    kept = frame.filter(pl.col(_POS).is_in(reasons[_POS].implode()).not_())
    kept = kept.drop(_POS if keep_errors else internal)
    quarantined = (
        frame.join(reasons, on=_POS, how="inner")
        .sort(_POS)
        .drop(internal)
        .with_columns(pl.col(REASONS_COLUMN).cast(pl.List(REASON_DTYPE)))
    )
    return kept, quarantined


def _with_positions(frame: pl.DataFrame) -> pl.DataFrame:
    if _POS in frame.columns:
        raise ValueError(f"column {_POS!r} is reserved for cxpipe's validation")
    return frame.with_row_index(_POS)


def dedupe(frame: pl.DataFrame, entity: Entity) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Keep one row per primary key: the latest by ``entity.watermark``, then by ``_cx_row``.

    Returns ``(rows, superseded)``; ``superseded`` has the quarantine shape, with the reason
    ``superseded duplicate of <key>`` naming the row that won. A source re-exporting a ticket
    after an update is normal, so this is settled before validation rather than failing the
    unique-key rule. Rows whose key is incomplete are left for ``not_null`` to quarantine.
    The latest version wins even if it later fails validation: falling back silently to an
    older version would report stale data as current.
    """
    key = list(entity.primary_key)
    positioned = _with_positions(frame)
    if not key or not set(key) <= set(frame.columns):
        return _split(positioned, pl.DataFrame(schema=_FINDINGS_SCHEMA), keep_errors=True)
    order = [c for c in (entity.watermark, ROW_COLUMN) if c is not None and c in frame.columns]
    order.append(_POS)

    def latest(column: str) -> pl.Expr:
        return pl.col(column).sort_by(order, nulls_last=False).last().over(key)

    complete = pl.all_horizontal(pl.col(c).is_not_null() for c in key)
    superseded = positioned.filter(complete & (pl.col(_POS) != latest(_POS)))
    if superseded.height == 0:
        return _split(positioned, pl.DataFrame(schema=_FINDINGS_SCHEMA), keep_errors=True)
    parts: list[pl.Expr | str] = ["superseded duplicate of "]
    parts.append(_joined([_text(f"{c}=", _shown(c, frame.schema[c])) for c in key]))
    if {FILE_COLUMN, ROW_COLUMN} <= set(frame.columns):
        winners = positioned.filter(complete).select(
            *key, latest(ROW_COLUMN).alias("__row"), latest(FILE_COLUMN).alias("__file")
        )
        superseded = superseded.join(winners.unique(key), on=key, how="left")
        parts += ["; the latest is row ", pl.col("__row").cast(pl.String), " of "]
        parts.append(pl.col("__file"))
    findings = pl.concat(
        [
            _conform_findings(superseded),
            superseded.select(
                _POS,
                pl.lit(0, pl.Int64).alias(_SEQ),
                pl.lit("superseded").alias("check"),
                pl.lit(", ".join(key)).alias("column"),
                _joined([pl.col(c).cast(pl.String) for c in key]).alias("value"),
                _text(*parts).alias("message"),
            ),
        ]
    )
    return _split(positioned, findings, keep_errors=True)


def validate(
    frame: pl.DataFrame, suite: ExpectationSet, *, source: str, chunk_rows: int = CHUNK_ROWS
) -> ValidationOutcome:
    """Check ``frame`` against ``suite``; quarantine failing rows, fail on table-level breaks.

    Raises :class:`~cxpipe.errors.ValidationFailed` naming the source, the entity, each broken
    table-level rule and its column (a missing column, too few rows, a table-level row rule
    with failing rows, a rule GX could not evaluate). Otherwise every input row is either in
    ``kept`` or, once, in ``quarantined``. GX sees at most ``chunk_rows`` rows at a time
    (:data:`CHUNK_ROWS`); the outcome does not depend on it.
    """
    positioned = _with_positions(frame)
    expectations = dict(enumerate(suite))
    missing = [c for c in suite.columns if c not in frame.columns]
    runnable = {
        i: e
        for i, e in expectations.items()
        if e.kind == "column_exists" or not set(e.columns) & set(missing)
    }
    present = [c for c in suite.columns if c in frame.columns]
    # GX compares numbers in a vectorised way only for numpy int64/float64 columns; any other
    # dtype (int32, int8, Arrow-backed) falls back to a Python call per value (~1 s per
    # million rows and rule). Float64 holds every int32 exactly.
    ranged = [
        c
        for e in suite
        if e.kind == "between"
        for c in e.columns
        if c in frame.columns and frame.schema[c].is_numeric()
    ]
    gx_input = frame.select(present).with_columns(pl.col(ranged).cast(pl.Float64))
    if not present:  # no checked column, but the row count still needs the height
        gx_input = _row_counter(frame.height)
    results = _run_chunked(gx_input, runnable, chunk_rows)
    del gx_input

    problems: list[str] = []
    reported_missing = {
        e.columns[0]
        for i, e in runnable.items()
        if e.kind == "column_exists" and not results[i].success
    }
    checks: list[CheckResult] = []
    row_failures: dict[int, list[int]] = {}
    for i, expectation in expectations.items():
        result = results.get(i)
        if result is None:  # a row rule whose column is missing: it cannot run
            absent = [c for c in expectation.columns if c in missing]
            if not set(absent) <= reported_missing:
                problems.append(
                    f"column {', '.join(map(repr, absent))} needed by {expectation.name} is missing"
                )
            result = _Result(False, 0, [], None, "missing column")
        elif result.error is not None or (
            not result.success and (expectation.level == "table" or not result.positions)
        ):
            problems.append(_table_message(expectation, result, frame))
        elif result.positions:
            row_failures[i] = result.positions
        checks.append(
            CheckResult(
                name=expectation.name,
                kind=expectation.kind,
                column=expectation.column,
                level=expectation.level or "row",
                success=result.success and result.error is None,
                unexpected_count=result.unexpected_count,
                description=expectation.summary,
            )
        )
    if problems:
        raise ValidationFailed(f"source {source!r} ({suite.entity}): " + "; ".join(problems))

    conform = _conform_findings(positioned)
    gx_findings = [
        _failing_rows(positioned, expectations[i], i, positions)
        for i, positions in row_failures.items()
    ]
    if gx_findings:
        flagged = conform.select(_POS, "column")
        found = pl.concat(gx_findings).join(flagged, on=[_POS, "column"], how="anti")
        findings = pl.concat([conform, found])
    else:
        findings = conform
    kept, quarantined = _split(positioned, findings)
    if ERRORS_COLUMN in frame.columns:
        flagged_rows = conform[_POS].n_unique()
        checks.insert(
            0,
            CheckResult(
                name="conform",
                kind="conform",
                column=None,
                level="row",
                success=flagged_rows == 0,
                unexpected_count=flagged_rows,
                description="values must convert to the canonical types",
            ),
        )
    return ValidationOutcome(source, suite.entity, frame.height, kept, quarantined, tuple(checks))


def _failing_rows(
    frame: pl.DataFrame, expectation: Expectation, seq: int, positions: list[int]
) -> pl.DataFrame:
    value, message = _row_message(expectation, frame.schema)
    rows = frame.select(_POS, *expectation.columns)[positions]
    return rows.select(
        _POS,
        pl.lit(seq, pl.Int64).alias(_SEQ),
        pl.lit(expectation.kind).alias("check"),
        pl.lit(expectation.column).alias("column"),
        value.alias("value"),
        message.alias("message"),
    )


def validate_with_duplicates(
    frame: pl.DataFrame, suite: ExpectationSet, *, entity: Entity, source: str
) -> ValidationOutcome:
    """What the runner calls per source: :func:`dedupe`, then :func:`validate`, combined.

    The superseded duplicates join the quarantine, so the row accounting still covers every
    input row.
    """
    rows, superseded = dedupe(frame, entity)
    outcome = validate(rows, suite, source=source)
    dedupe_check = CheckResult(
        name=f"dedupe({', '.join(entity.primary_key)})",
        kind="dedupe",
        column=", ".join(entity.primary_key) or None,
        level="row",
        success=superseded.height == 0,
        unexpected_count=superseded.height,
        description="one row per primary key: the latest version wins",
    )
    return ValidationOutcome(
        source,
        outcome.entity,
        frame.height,
        outcome.kept,
        pl.concat([superseded, outcome.quarantined]),
        (dedupe_check, *outcome.checks),
    )
