"""Parsing source values into canonical types, with a reason for every value that fails.

A value that cannot be parsed does not stop the run and is not silently nulled: the
parse yields null *and* an error record (check, column, offending value, message) that
sends the row to quarantine. Everything here is a polars expression: no loop per row.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from cxpipe.schemas import REASON_DTYPE

ERROR_DTYPE = REASON_DTYPE
"""One reason a row is bad (the shape quarantine stores)."""

_ISO_WITH_ZONE = "%Y-%m-%dT%H:%M:%S%.f%#z"
_NAIVE_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
)
_INT_BOUNDS: dict[pl.DataType, tuple[int, int]] = {
    pl.Int8(): (-(2**7), 2**7 - 1),
    pl.Int16(): (-(2**15), 2**15 - 1),
    pl.Int32(): (-(2**31), 2**31 - 1),
    pl.Int64(): (-(2**63), 2**63 - 1),
}


@dataclass(frozen=True)
class Parsed:
    """A parsed column and the error it raises for rows whose value could not be parsed."""

    value: pl.Expr
    error: pl.Expr  # null, or an ERROR_DTYPE struct


@dataclass(frozen=True)
class ParseOptions:
    timezone: str = "UTC"
    datetime_format: str | None = None
    date_format: str | None = None
    decimal_comma: bool = False


def error_struct(column: str, raw: pl.Expr, message: pl.Expr | str, check: str) -> pl.Expr:
    return pl.struct(
        check=pl.lit(check, dtype=pl.String),
        column=pl.lit(column, dtype=pl.String),
        value=raw.cast(pl.String),
        message=pl.lit(message) if isinstance(message, str) else message,
    )


def _failed(raw: pl.Expr, value: pl.Expr) -> pl.Expr:
    return raw.is_not_null() & value.is_null()


def _number_text(raw: pl.Expr, options: ParseOptions) -> pl.Expr:
    text = raw.cast(pl.String).str.strip_chars()
    if options.decimal_comma:
        text = text.str.replace_all(".", "", literal=True).str.replace(",", ".", literal=True)
    return text


def parse_float(column: str, raw: pl.Expr, options: ParseOptions) -> Parsed:
    value = _number_text(raw, options).cast(pl.Float64, strict=False)
    bad = _failed(raw, value) | value.is_nan() | value.is_infinite()
    error = pl.when(bad).then(
        error_struct(
            column, raw, pl.format("{} = '{}' is not a number", pl.lit(column), raw), "parse"
        )
    )
    return Parsed(pl.when(~bad).then(value), error)


def parse_int(column: str, raw: pl.Expr, dtype: pl.DataType, options: ParseOptions) -> Parsed:
    number = _number_text(raw, options).cast(pl.Float64, strict=False)
    low, high = _INT_BOUNDS[dtype]
    whole = (number == number.floor()) & number.is_between(low, high)
    bad = raw.is_not_null() & (number.is_null() | ~whole)
    message = pl.format("{} = '{}' is not a whole number in range", pl.lit(column), raw)
    error = pl.when(bad).then(error_struct(column, raw, message, "parse"))
    return Parsed(pl.when(~bad).then(number).cast(dtype), error)


def parse_datetime(column: str, raw: pl.Expr, fmt: str | None, options: ParseOptions) -> Parsed:
    """Parse to UTC. Naive values are read in the source's time zone; a wall time that does
    not exist there (skipped by a DST change) is an error, an ambiguous one takes the
    earlier instant."""
    text = raw.cast(pl.String).str.strip_chars()

    def localise(naive: pl.Expr) -> pl.Expr:
        return naive.dt.replace_time_zone(
            options.timezone, ambiguous="earliest", non_existent="null"
        ).dt.convert_time_zone("UTC")

    if fmt is not None:
        if "%z" in fmt or "%#z" in fmt or "%Z" in fmt:
            value = text.str.to_datetime(fmt, strict=False, time_unit="us", time_zone="UTC")
        else:
            value = localise(text.str.to_datetime(fmt, strict=False, time_unit="us"))
        expected = f"expected format {fmt}"
    else:
        value = pl.coalesce(
            text.str.to_datetime(_ISO_WITH_ZONE, strict=False, time_unit="us", time_zone="UTC"),
            *(
                localise(text.str.to_datetime(f, strict=False, time_unit="us"))
                for f in _NAIVE_FORMATS
            ),
        )
        expected = "expected ISO 8601; set a format for other layouts"
    message = pl.format(
        "{} = '{}' is not a valid timestamp ({})", pl.lit(column), raw, pl.lit(expected)
    )
    error = pl.when(_failed(raw, value)).then(error_struct(column, raw, message, "parse"))
    return Parsed(value, error)


def parse_date(column: str, raw: pl.Expr, fmt: str | None) -> Parsed:
    text = raw.cast(pl.String).str.strip_chars()
    value = text.str.to_date(fmt or "%Y-%m-%d", strict=False)
    message = pl.format(
        "{} = '{}' is not a valid date (expected format {})",
        pl.lit(column),
        raw,
        pl.lit(fmt or "%Y-%m-%d"),
    )
    error = pl.when(_failed(raw, value)).then(error_struct(column, raw, message, "parse"))
    return Parsed(value, error)


def parse_bool(column: str, raw: pl.Expr) -> Parsed:
    text = raw.cast(pl.String).str.strip_chars().str.to_lowercase()
    truthy = text.is_in(["true", "t", "yes", "y", "1"])
    falsy = text.is_in(["false", "f", "no", "n", "0"])
    value = pl.when(truthy).then(True).when(falsy).then(False)
    message = pl.format("{} = '{}' is not true or false", pl.lit(column), raw)
    error = pl.when(_failed(raw, value)).then(error_struct(column, raw, message, "parse"))
    return Parsed(value.cast(pl.Boolean), error)


def parse_to(
    column: str,
    raw: pl.Expr,
    source_dtype: pl.DataType,
    target: pl.DataType,
    *,
    fmt: str | None,
    options: ParseOptions,
) -> Parsed:
    """Parse ``raw`` (of ``source_dtype``) into ``target``; typed sources are converted."""
    no_error = pl.lit(None, dtype=ERROR_DTYPE)
    if target == pl.String:
        return Parsed(raw.cast(pl.String), no_error)
    if isinstance(target, pl.Datetime):
        if isinstance(source_dtype, pl.Datetime):
            value = raw if source_dtype.time_zone else raw.dt.replace_time_zone(options.timezone)
            return Parsed(value.dt.convert_time_zone("UTC").dt.cast_time_unit("us"), no_error)
        if source_dtype == pl.Date:
            midnight = raw.cast(pl.Datetime("us")).dt.replace_time_zone(options.timezone)
            return Parsed(midnight.dt.convert_time_zone("UTC"), no_error)
        return parse_datetime(column, raw, fmt or options.datetime_format, options)
    if target == pl.Date:
        if isinstance(source_dtype, pl.Datetime):
            return Parsed(raw.dt.date(), no_error)
        if source_dtype == pl.Date:
            return Parsed(raw, no_error)
        return parse_date(column, raw, fmt or options.date_format)
    if target == pl.Boolean:
        return parse_bool(column, raw)
    if target.is_integer():
        return parse_int(column, raw, target, options)
    if target.is_float():
        return parse_float(column, raw, options)
    raise TypeError(f"cannot parse into {target}")
