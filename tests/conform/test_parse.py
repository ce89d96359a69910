"""Parsing: every failure is a null value plus a reason naming column and value."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest

from cxpipe.conform.parse import ParseOptions, parse_to


def _parse(
    values: list[str | None],
    target: pl.DataType,
    fmt: str | None = None,
    *,
    timezone: str = "UTC",
    decimal_comma: bool = False,
) -> pl.DataFrame:
    frame = pl.DataFrame({"raw": values}, schema={"raw": pl.String})
    options = ParseOptions(timezone=timezone, decimal_comma=decimal_comma)
    parsed = parse_to("field", pl.col("raw"), pl.String(), target, fmt=fmt, options=options)
    return frame.select(value=parsed.value, error=parsed.error)


def test_day_first_timestamps_are_not_swapped() -> None:
    out = _parse(["29/2/2016 01:16", "3/4/2016 10:05"], pl.Datetime("us", "UTC"), "%d/%m/%Y %H:%M")
    assert out["value"].to_list() == [
        datetime(2016, 2, 29, 1, 16, tzinfo=UTC),
        datetime(2016, 4, 3, 10, 5, tzinfo=UTC),
    ]
    assert out["error"].null_count() == 2


def test_iso_with_and_without_zone_and_local_time_zone() -> None:
    out = _parse(
        ["2025-03-04T09:15:00Z", "2025-03-04T09:15:00+02:00", "2025-07-01 12:00"],
        pl.Datetime("us", "UTC"),
        timezone="Europe/Paris",
    )
    assert out["value"].to_list() == [
        datetime(2025, 3, 4, 9, 15, tzinfo=UTC),
        datetime(2025, 3, 4, 7, 15, tzinfo=UTC),
        datetime(2025, 7, 1, 10, 0, tzinfo=UTC),  # CEST is UTC+2
    ]


def test_wall_time_skipped_by_dst_is_an_error() -> None:
    out = _parse(["2025-03-30 02:30"], pl.Datetime("us", "UTC"), timezone="Europe/Paris")
    assert out["value"].to_list() == [None]
    assert out["error"][0]["column"] == "field"


def test_unparseable_value_gives_reason_with_value() -> None:
    out = _parse(["yesterday", None], pl.Datetime("us", "UTC"))
    assert out["value"].to_list() == [None, None]
    error = out["error"][0]
    assert error["check"] == "parse"
    assert error["value"] == "yesterday"
    assert "field = 'yesterday' is not a valid timestamp" in error["message"]
    assert out["error"][1] is None  # a missing value is not a parse error


def test_integers_accept_float_strings_and_reject_fractions_and_overflow() -> None:
    out = _parse(["3.0", "4", "3.5", "300", "x"], pl.Int8())
    assert out["value"].to_list() == [3, 4, None, None, None]
    assert [e is None for e in out["error"].to_list()] == [True, True, False, False, False]


def test_decimal_comma() -> None:
    out = _parse(["1.234,50", "-991,9"], pl.Float64(), decimal_comma=True)
    assert out["value"].to_list() == [1234.5, -991.9]


def test_dates_with_format() -> None:
    out = _parse(["14/01/1994", "1994-01-14"], pl.Date(), "%d/%m/%Y")
    assert out["value"].to_list() == [date(1994, 1, 14), None]
    assert "expected format %d/%m/%Y" in out["error"][1]["message"]


@pytest.mark.parametrize(("text", "expected"), [("true", True), ("No", False), ("maybe", None)])
def test_booleans(text: str, expected: bool | None) -> None:
    assert _parse([text], pl.Boolean())["value"].to_list() == [expected]
