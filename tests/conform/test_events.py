"""Folding an event log into one row per ticket."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from cxpipe.config import SourceConfig
from cxpipe.conform import conform
from cxpipe.schemas import TICKETS

CONFIG = SourceConfig.model_validate(
    {
        "name": "log",
        "kind": "file",
        "entity": "tickets",
        "datetime_format": "%d/%m/%Y %H:%M",
        "columns": {
            "ticket_id": "number",
            "client_id": {"value": "acme"},
            "request_type": {"value": "support"},
            "priority": {"value": "low"},
            "status": "state",
            "opened_at": "opened",
            "updated_at": "updated",
            "reopen_count": "reopens",
            "reassignment_count": "hops",
            "assignment_group": "group",
        },
        "keep": [{"column": "seq", "type": "int"}],
        "events": {
            "key": "ticket_id",
            "order_by": ["seq"],
            "first": ["assignment_group"],
            "first_when": {
                "first_response_at": {
                    "at": "updated_at",
                    "column": "status",
                    "values": ["Active"],
                }
            },
        },
    }
)


def _log() -> pl.LazyFrame:
    rows = [
        # number, state, opened, updated, seq, reopens, hops, group
        ("A", "New", "1/3/2016 09:00", "1/3/2016 09:00", "1", "0", "0", "Desk"),
        ("A", "Active", "1/3/2016 09:00", "1/3/2016 09:30", "2", "0", "1", "Network"),
        ("A", "Closed", "1/3/2016 09:00", "2/3/2016 10:00", "10", "1", "2", "Network"),
        ("B", "New", "5/3/2016 08:00", "5/3/2016 08:00", "1", "0", "0", "Desk"),
        ("B", "Active", "bad date", "5/3/2016 08:10", "2", "0", "0", "Desk"),
    ]
    cols = list(zip(*rows, strict=True))
    names = ["number", "state", "opened", "updated", "seq", "reopens", "hops", "group"]
    frame = {n: list(c) for n, c in zip(names, cols, strict=True)}
    # Shuffle the event order: the fold must sort by seq numerically (10 after 2).
    order = [2, 0, 4, 1, 3]
    shuffled = {k: [v[i] for i in order] for k, v in frame.items()}
    return pl.LazyFrame(
        {**shuffled, "_cx_file": ["log.csv"] * 5, "_cx_row": [i + 1 for i in order]}
    )


def test_fold_takes_last_first_and_derived_values() -> None:
    out = conform(_log(), CONFIG, TICKETS).collect().sort("ticket_id")
    assert out.height == 2
    a = out.row(0, named=True)
    assert a["status"] == "Closed"  # last by seq (10 > 2 numerically)
    assert a["assignment_group"] == "Desk"  # `first`
    assert a["reopen_count"] == 1
    assert a["reassignment_count"] == 2
    assert a["first_response_at"] == datetime(2016, 3, 1, 9, 30, tzinfo=UTC)
    assert a["_cx_events"] == 3
    assert a["_cx_row"] == 1  # the ticket's first event in the file


def test_a_bad_event_keeps_its_error_with_the_ticket() -> None:
    out = conform(_log(), CONFIG, TICKETS).collect().sort("ticket_id")
    b_errors = out.row(1, named=True)["_cx_errors"]
    assert [e["value"] for e in b_errors] == ["bad date"]
    assert out["_cx_events"].sum() == 5  # every event accounted for
