"""Mapping a source's columns onto a canonical entity, as its ``[[sources]]`` table says.

The order is fixed so a config reads top to bottom: null tokens → label maps → parse to
the canonical type (times to UTC) → scale → fold an event log → derived defaults →
lineage. The result has every canonical column (typed), the ``keep`` columns, the lineage
columns and ``_cx_errors`` (why a row cannot be trusted, for quarantine).
"""

from __future__ import annotations

import difflib

import polars as pl

from cxpipe.config import ColumnSpec, SourceConfig
from cxpipe.conform.events import fold_events
from cxpipe.conform.parse import ERROR_DTYPE, ParseOptions, parse_to
from cxpipe.errors import ConformError
from cxpipe.schemas import Entity

_KEEP_TYPES: dict[str, pl.DataType] = {
    "string": pl.String(),
    "int": pl.Int64(),
    "float": pl.Float64(),
    "datetime": pl.Datetime("us", "UTC"),
    "date": pl.Date(),
    "bool": pl.Boolean(),
}

_DERIVED_DEFAULTS = ("source_system", "updated_at")
"""Required columns cxpipe can fill when a source lacks them (see :func:`_derived`)."""


def _null_tokens(frame: pl.LazyFrame, tokens: list[str]) -> pl.LazyFrame:
    schema = frame.collect_schema()
    strings = [n for n, t in schema.items() if t == pl.String and not n.startswith("_cx_")]
    if not tokens or not strings:
        return frame
    return frame.with_columns(
        pl.when(pl.col(n).str.strip_chars().is_in(tokens)).then(None).otherwise(pl.col(n)).alias(n)
        for n in strings
    )


def _missing_column(config: SourceConfig, entity: Entity, wanted: str, have: list[str]) -> str:
    close = difflib.get_close_matches(wanted, have, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    shown = ", ".join(have[:30]) + (" …" if len(have) > 30 else "")
    return (
        f"source {config.name!r} ({entity.name}): column {wanted!r} is not in the source"
        f"{hint}. Source columns: {shown}"
    )


def conform(frame: pl.LazyFrame, config: SourceConfig, entity: Entity) -> pl.LazyFrame:
    """Map ``frame`` (a source's columns + ``_cx_file``/``_cx_row``) onto ``entity``."""
    frame = _null_tokens(frame, config.null_values)
    schema = frame.collect_schema()
    have = [n for n in schema.names() if not n.startswith("_cx_")]
    options = ParseOptions(
        timezone=config.timezone,
        datetime_format=config.datetime_format,
        date_format=config.date_format,
        decimal_comma=config.decimal_comma,
    )
    target = entity.polars_schema
    values: list[pl.Expr] = []
    errors: list[pl.Expr] = []
    for name, dtype in target.items():
        spec = config.column_spec(name)
        if spec is None and name in have:
            spec = ColumnSpec(column=name)
        if spec is None:
            if name in entity.required and name not in _DERIVED_DEFAULTS:
                raise ConformError(
                    f"source {config.name!r} ({entity.name}): required column {name!r} is not "
                    f"mapped and the source has no column of that name; map it under "
                    f"[sources.columns] or give a constant with {{ value = ... }}. Source "
                    f"columns: {', '.join(have[:30])}"
                )
            values.append(pl.lit(None, dtype=dtype).alias(name))
            continue
        if spec.value is not None:
            raw = pl.lit(str(spec.value), dtype=pl.String)
            source_dtype: pl.DataType = pl.String()
        else:
            assert spec.column is not None
            if spec.column not in have:
                raise ConformError(_missing_column(config, entity, spec.column, have))
            raw = pl.col(spec.column)
            source_dtype = schema[spec.column]
        if spec.map is not None:
            raw = raw.cast(pl.String).replace(spec.map)
            source_dtype = pl.String()
        parsed = parse_to(name, raw, source_dtype, dtype, fmt=spec.format, options=options)
        value = parsed.value
        errors.append(parsed.error)
        if spec.scale is not None:
            value = (value * spec.scale).cast(dtype)
        if spec.plus_days is not None:
            if spec.plus_days not in have:
                raise ConformError(_missing_column(config, entity, spec.plus_days, have))
            days = parse_to(
                spec.plus_days,
                pl.col(spec.plus_days),
                schema[spec.plus_days],
                pl.Int32(),
                fmt=None,
                options=options,
            )
            value = value + pl.duration(days=days.value)
            errors.append(days.error)
        values.append(value.alias(name))

    for keep in config.keep_specs():
        if keep.column not in have:
            raise ConformError(_missing_column(config, entity, keep.column, have))
        if keep.column in target:
            continue
        parsed = parse_to(
            keep.column,
            pl.col(keep.column),
            schema[keep.column],
            _KEEP_TYPES[keep.type],
            fmt=keep.format,
            options=options,
        )
        values.append(parsed.value.alias(keep.column))
        errors.append(parsed.error)

    error_list = (
        pl.concat_list(errors).list.drop_nulls()
        if errors
        else pl.lit([], dtype=pl.List(ERROR_DTYPE))
    )
    mapped = frame.select(
        *values,
        _cx_errors=error_list,
        _cx_file=pl.col("_cx_file").cast(pl.String),
        # a plugin numbering rows with with_row_index hands UInt32; outputs stay signed
        _cx_row=pl.col("_cx_row").cast(pl.Int64),
    )
    if config.events is not None:
        mapped = fold_events(mapped, config.events, source=config.name)
    else:
        mapped = mapped.with_columns(_cx_events=pl.lit(1, dtype=pl.Int64))
    return mapped.with_columns(
        *_derived(entity, config), _cx_source=pl.lit(config.name, dtype=pl.String)
    )


def _derived(entity: Entity, config: SourceConfig) -> list[pl.Expr]:
    """Fill required columns a source may legitimately lack.

    ``source_system`` defaults to the source's name; ``updated_at`` (the watermark) to the
    latest timestamp the row has, which is what an export without an audit column knows.
    """
    exprs: list[pl.Expr] = []
    columns = entity.columns
    if "source_system" in columns:
        exprs.append(pl.col("source_system").fill_null(pl.lit(config.name, dtype=pl.String)))
    if "updated_at" in columns:
        candidates = [
            c
            for c in ("closed_at", "resolved_at", "first_response_at", "opened_at")
            if c in columns
        ]
        exprs.append(pl.col("updated_at").fill_null(pl.max_horizontal(candidates)))
    return exprs
