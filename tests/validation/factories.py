"""Frames shaped like conform's output, built vectorised so a million rows take a second."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from cxpipe.schemas import PRIORITIES, REQUEST_TYPES, TICKETS

ERROR_DTYPE = pl.List(
    pl.Struct({"check": pl.String, "column": pl.String, "value": pl.String, "message": pl.String})
)


def make_tickets(n: int, *, file: str = "tickets.csv", source: str = "incidents") -> pl.DataFrame:
    """``n`` valid tickets in the canonical schema plus the lineage columns."""
    i = pl.int_range(n, dtype=pl.Int64)
    opened = pl.lit(datetime(2024, 1, 1, tzinfo=UTC)) + pl.duration(minutes=i)
    frame = pl.select(
        ticket_id=pl.concat_str(pl.lit("T"), i.cast(pl.String)),
        source_system=pl.lit("snow"),
        client_id=pl.concat_str(pl.lit("C"), (i % 50).cast(pl.String)),
        requester_id=pl.lit(None, pl.String),
        request_type=pl.lit(pl.Series(REQUEST_TYPES)).gather(i % len(REQUEST_TYPES)),
        category=pl.lit("email"),
        priority=pl.lit(pl.Series(PRIORITIES)).gather(i % len(PRIORITIES)),
        status=pl.lit("closed"),
        opened_at=opened,
        first_response_at=opened + timedelta(minutes=10),
        resolved_at=opened + timedelta(hours=2),
        closed_at=opened + timedelta(hours=3),
        respond_due_at=opened + timedelta(hours=1),
        resolve_due_at=opened + timedelta(hours=8),
        updated_at=opened + timedelta(hours=3),
        reopen_count=pl.lit(0),
        reassignment_count=i % 3,
        assignment_group=pl.lit("service desk"),
        channel=pl.lit(None, pl.String),
    ).cast(TICKETS.polars_schema)
    return frame.with_columns(
        _cx_source=pl.lit(source),
        _cx_file=pl.lit(file),
        _cx_row=(i + 1),
    )


def set_values(frame: pl.DataFrame, rows: dict[int, dict[str, Any]]) -> pl.DataFrame:
    """``frame`` with some cells replaced, by 0-based row position, keeping each dtype."""
    columns = {c: frame[c].to_list() for c in {c for row in rows.values() for c in row}}
    for position, values in rows.items():
        for column, value in values.items():
            columns[column][position] = value
    return frame.with_columns(
        pl.Series(c, v, dtype=frame.schema[c], strict=False) for c, v in columns.items()
    )


def with_errors(frame: pl.DataFrame, errors: dict[int, list[dict[str, str]]]) -> pl.DataFrame:
    """``frame`` plus conform's ``_cx_errors``: the given errors by row position, else empty."""
    column = [errors.get(i, []) for i in range(frame.height)]
    return frame.with_columns(pl.Series("_cx_errors", column, dtype=ERROR_DTYPE))
