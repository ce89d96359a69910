"""Conform by configuration: renames, constants, null tokens, label maps, errors."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import polars as pl
import pytest

from cxpipe.config import SourceConfig
from cxpipe.conform import conform
from cxpipe.errors import ConformError
from cxpipe.schemas import PROJECTS, SURVEY_RESPONSES, TICKETS


def _raw(**columns: list[Any]) -> pl.LazyFrame:
    n = len(next(iter(columns.values())))
    return pl.LazyFrame(
        {**columns, "_cx_file": ["export.csv"] * n, "_cx_row": list(range(1, n + 1))},
    )


def _ticket_config(**overrides: Any) -> SourceConfig:
    base: dict[str, Any] = {
        "name": "itsm",
        "kind": "file",
        "entity": "tickets",
        "null_values": ["?", ""],
        "datetime_format": "%d/%m/%Y %H:%M",
        "columns": {
            "ticket_id": "number",
            "client_id": {"value": "acme"},
            "request_type": {"value": "support"},
            "status": "state",
            "opened_at": "opened",
            "resolved_at": "resolved",
            "reopen_count": {"value": 0},
            "reassignment_count": "hops",
            "priority": {
                "column": "prio",
                "map": {"1 - Critical": "critical", "3 - Moderate": "medium"},
            },
        },
        "keep": ["location"],
    }
    base.update(overrides)
    return SourceConfig.model_validate(base)


def test_maps_renames_constants_labels_and_null_tokens() -> None:
    raw = _raw(
        number=["INC1", "INC2"],
        state=["Closed", "Active"],
        opened=["29/2/2016 01:16", "1/3/2016 09:00"],
        resolved=["1/3/2016 01:16", "?"],
        hops=["2", "0"],
        prio=["1 - Critical", "3 - Moderate"],
        location=["Location 143", "?"],
    )
    out = conform(raw, _ticket_config(), TICKETS).collect()
    assert out.columns[: len(TICKETS.columns)] == list(TICKETS.columns)
    assert out["priority"].to_list() == ["critical", "medium"]
    assert out["client_id"].to_list() == ["acme", "acme"]
    assert out["source_system"].to_list() == ["itsm", "itsm"]  # defaults to the source name
    assert out["resolved_at"].to_list() == [datetime(2016, 3, 1, 1, 16, tzinfo=UTC), None]
    assert out["reassignment_count"].dtype == pl.Int32
    assert out["location"].to_list() == ["Location 143", None]
    # updated_at, absent from the export, is the latest timestamp the row has.
    assert out["updated_at"].to_list() == [
        datetime(2016, 3, 1, 1, 16, tzinfo=UTC),
        datetime(2016, 3, 1, 9, 0, tzinfo=UTC),
    ]
    assert out["_cx_errors"].list.len().to_list() == [0, 0]
    assert out["_cx_source"].to_list() == ["itsm", "itsm"]


def test_unmapped_label_passes_through_for_validation_to_quarantine() -> None:
    raw = _raw(
        number=["INC1"],
        state=["New"],
        opened=["1/3/2016 09:00"],
        resolved=[None],
        hops=["0"],
        prio=["9 - Whatever"],
        location=["x"],
    )
    out = conform(raw, _ticket_config(), TICKETS).collect()
    assert out["priority"].to_list() == ["9 - Whatever"]


def test_bad_values_become_row_errors_not_crashes() -> None:
    raw = _raw(
        number=["INC1", "INC2"],
        state=["New", "New"],
        opened=["31/02/2016 10:00", "1/3/2016 09:00"],
        resolved=[None, None],
        hops=["two", "1"],
        prio=["3 - Moderate"] * 2,
        location=["a", "b"],
    )
    out = conform(raw, _ticket_config(), TICKETS).collect()
    errors = out["_cx_errors"].to_list()
    assert {e["column"] for e in errors[0]} == {"opened_at", "reassignment_count"}
    assert errors[1] == []


def test_missing_required_column_names_source_and_field() -> None:
    config = _ticket_config(columns={"ticket_id": "number"})
    with pytest.raises(
        ConformError, match=r"source 'itsm' \(tickets\): required column 'client_id'"
    ):
        conform(_raw(number=["1"]), config, TICKETS)


def test_mapped_column_absent_from_source_suggests_the_close_one() -> None:
    config = _ticket_config()
    raw = _raw(
        number=["1"],
        state=["New"],
        opened=["1/3/2016 09:00"],
        resolved=[None],
        hops=["0"],
        priority=["3 - Moderate"],
        location=["x"],
    )
    with pytest.raises(ConformError, match=r"column 'prio' is not in the source"):
        conform(raw, config, TICKETS)


def test_scale_and_typed_sources() -> None:
    config = SourceConfig.model_validate(
        {
            "name": "survey",
            "kind": "file",
            "entity": "survey_responses",
            "columns": {
                "response_id": "id",
                "client_id": {"value": "acme"},
                "respondent_side": {"value": "client"},
                "survey_kind": {"value": "transactional"},
                "submitted_at": "at",
                "csat": "score",
                "lost_time_minutes": {"column": "lost_hours", "scale": 60},
            },
        }
    )
    raw = _raw(
        id=[1, 2],
        at=[datetime(2025, 1, 1, 12), datetime(2025, 1, 2, 12)],
        score=[4.0, 5.0],
        lost_hours=[1.5, None],
    )
    out = conform(raw, config, SURVEY_RESPONSES).collect()
    assert out["response_id"].to_list() == ["1", "2"]
    assert out["submitted_at"].dtype == pl.Datetime("us", "UTC")
    assert out["csat"].to_list() == [4, 5]
    assert out["lost_time_minutes"].to_list() == [90.0, None]


def test_plus_days_derives_an_end_from_start_and_duration() -> None:
    config = SourceConfig.model_validate(
        {
            "name": "projects",
            "kind": "file",
            "entity": "projects",
            "columns": {
                "project_id": "id",
                "client_id": {"value": "acme"},
                "name": "id",
                "status": {"value": "completed"},
                "planned_end": "due",
                "actual_end": {"column": "start", "plus_days": "days"},
            },
        }
    )
    raw = _raw(
        id=["1", "2"],
        due=["1997-04-15", "1997-01-01"],
        start=["1996-12-10", "1996-12-10"],
        days=["107", "ten"],
    )
    out = conform(raw, config, PROJECTS).collect()
    assert out["actual_end"].to_list() == [date(1997, 3, 27), None]
    assert [e["column"] for e in out["_cx_errors"][1]] == ["days"]
