"""The call-back list: who is a detractor, when they are due, and the follow-up statuses."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

import polars as pl
import pyarrow as pa
import pytest

from cxpipe.analysis import AnalysisContext, conform_to, result_schema
from cxpipe.details.builtin import CORE_TABLES
from cxpipe.details.followups import STATUSES, detractor_followups
from cxpipe.metrics.base import MetricContext
from cxpipe.schemas import FOLLOWUPS, METRIC_VALUES

from ..metrics.fixtures import responses, tickets, ts


def followups(*rows: dict[str, Any]) -> pl.DataFrame:
    built = pl.DataFrame(list(rows), schema=FOLLOWUPS.polars_schema)
    return pl.concat([FOLLOWUPS.empty(), built], how="vertical")


def context(
    frames: Mapping[str, pl.DataFrame],
    *,
    settings: Mapping[str, Any] | None = None,
    metric: MetricContext | None = None,
) -> AnalysisContext:
    return AnalysisContext(
        metric=metric or MetricContext(settings=dict(settings or {})),
        frames={name: frame.lazy() for name, frame in frames.items()},
        metric_values=pl.from_arrow(METRIC_VALUES.empty_table()).lazy(),  # type: ignore[union-attr]
        catalog={},
    )


def compute(frames: Mapping[str, pl.DataFrame], **kwargs: Any) -> pl.DataFrame:
    """As the runner does: the plugin's plan, conformed to the declared schema, collected."""
    spec = detractor_followups
    plan = conform_to(spec.function(context(frames, **kwargs)), result_schema(spec.schema))
    return plan.collect()


def by_id(table: pl.DataFrame) -> dict[str, dict[str, Any]]:
    return {row["response_id"]: row for row in table.iter_rows(named=True)}


SURVEYS = responses(
    {"response_id": "d1", "nps_score": 6, "submitted_at": ts("2024-03-01 09:00")},
    {"response_id": "d2", "csat": 2, "submitted_at": ts("2024-03-01 10:00")},
    {"response_id": "d3", "nps_score": 0, "csat": 5, "submitted_at": ts("2024-03-02 08:00")},
    {"response_id": "d4", "nps_score": 3, "submitted_at": ts("2024-03-09 12:00")},
    {"response_id": "d5", "csat": 1, "submitted_at": ts("2024-03-03 12:00"), "comment": "slow"},
    {"response_id": "passive", "nps_score": 7, "csat": 3, "submitted_at": ts("2024-03-01")},
    {"response_id": "promoter", "nps_score": 10, "submitted_at": ts("2024-03-01")},
    {"response_id": "unscored", "submitted_at": ts("2024-03-01"), "comment": "no score"},
    {
        "response_id": "it_self",
        "respondent_side": "it",
        "survey_kind": "self_assessment",
        "nps_score": 2,
        "submitted_at": ts("2024-03-01"),
    },
)
CALLS = followups(
    # d1 due 2024-03-03 09:00: first call exactly on the deadline (on time), a second later.
    {"response_id": "d1", "followed_up_at": ts("2024-03-03 09:00"), "outcome": "voicemail"},
    {"response_id": "d1", "followed_up_at": ts("2024-03-05 11:00"), "outcome": "resolved"},
    {"response_id": "d1", "followed_up_at": ts("2024-03-06 11:00"), "outcome": None},
    # d2 due 2024-03-03 10:00: called a minute late.
    {"response_id": "d2", "followed_up_at": ts("2024-03-03 10:01"), "outcome": "apologised"},
    # a follow-up of a non-detractor is not listed.
    {"response_id": "promoter", "followed_up_at": ts("2024-03-10 12:00"), "outcome": "thanks"},
)
# d3 (due 03-04 08:00) and d5 (due 03-05 12:00) have no call and the data reaches 03-10
# 12:00: overdue. d4 is due 03-11 12:00, after the data ends: open.


def test_one_row_per_client_detractor() -> None:
    table = compute({"survey_responses": SURVEYS})
    assert sorted(table["response_id"]) == ["d1", "d2", "d3", "d4", "d5"]


def test_due_by_is_window_days_on_the_elapsed_clock() -> None:
    rows = by_id(compute({"survey_responses": SURVEYS}))
    for rid, row in rows.items():
        assert row["due_by"] - row["submitted_at"] == timedelta(days=2), rid
    rows = by_id(
        compute({"survey_responses": SURVEYS}, settings={"followup_window_business_days": 1.5})
    )
    assert rows["d1"]["due_by"] == ts("2024-03-02 21:00")


def test_due_by_comes_from_the_runs_clock() -> None:
    class NextMondayNoon:
        """A stand-in business clock: everything is due the Monday after, at noon."""

        unit = "business hours"

        def with_hours(self, frame: pl.LazyFrame, start: str, end: str, name: str) -> Any:
            raise AssertionError("not used")

        def with_deadline(self, frame: pl.LazyFrame, start: str, hours: pl.Expr, name: str) -> Any:
            raise AssertionError("not used")

        def with_deadline_days(
            self, frame: pl.LazyFrame, start: str, days: float, name: str
        ) -> pl.LazyFrame:
            assert days == 2.0
            monday = pl.col(start).dt.truncate("1w").dt.offset_by("1w").dt.offset_by("12h")
            return frame.with_columns(monday.alias(name))

    metric = MetricContext(clock=NextMondayNoon())
    rows = by_id(compute({"survey_responses": SURVEYS}, metric=metric))
    assert rows["d1"]["due_by"] == ts("2024-03-04 12:00")  # submitted Friday 2024-03-01


def test_statuses_and_first_follow_up() -> None:
    rows = by_id(compute({"survey_responses": SURVEYS, "followups": CALLS}))
    assert {rid: row["status"] for rid, row in rows.items()} == {
        "d1": "on_time",
        "d2": "late",
        "d3": "overdue",
        "d4": "open",
        "d5": "overdue",
    }
    assert set(STATUSES) == {row["status"] for row in rows.values()}
    d1 = rows["d1"]
    assert d1["followed_up_at"] == ts("2024-03-03 09:00")
    assert d1["last_followed_up_at"] == ts("2024-03-06 11:00")
    assert d1["followup_count"] == 3
    assert d1["outcome"] == "resolved"  # the latest outcome recorded, not the last call's null
    assert rows["d3"]["followup_count"] == 0
    assert rows["d3"]["followed_up_at"] is None
    # the latest instant in the data: the follow-up of the promoter
    assert {row["status_as_of"] for row in rows.values()} == {ts("2024-03-10 12:00")}


def test_as_of_reaches_the_latest_ticket_update() -> None:
    later = tickets({"opened_at": ts("2024-03-01"), "updated_at": ts("2024-03-12 00:00")})
    rows = by_id(compute({"survey_responses": SURVEYS, "followups": CALLS, "tickets": later}))
    assert rows["d4"]["status"] == "overdue"  # due 03-11 12:00, data now reaches 03-12
    assert rows["d4"]["status_as_of"] == ts("2024-03-12 00:00")


def test_without_followups_source_the_list_has_no_status() -> None:
    table = compute({"survey_responses": SURVEYS})
    assert table.height == 5
    for column in ("followed_up_at", "outcome", "status", "followup_count", "status_as_of"):
        assert table[column].null_count() == table.height, column
    assert table["due_by"].null_count() == 0


def test_detail_columns_are_carried() -> None:
    surveys = responses(
        {
            "response_id": "x",
            "client_id": "C9",
            "respondent_id": "u1",
            "respondent_level": "business_user",
            "survey_kind": "post_project",
            "ticket_id": "t7",
            "project_id": "p3",
            "submitted_at": ts("2024-01-01 08:00"),
            "nps_score": 4,
            "csat": 3,
            "comment": "Le projet a pris du retard.",
        }
    )
    row = compute({"survey_responses": surveys}).row(0, named=True)
    assert row["client_id"] == "C9"
    assert row["respondent_id"] == "u1"
    assert row["respondent_level"] == "business_user"
    assert row["survey_kind"] == "post_project"
    assert (row["ticket_id"], row["project_id"]) == ("t7", "p3")
    assert (row["nps_score"], row["csat"]) == (4, 3)
    assert row["comment"] == "Le projet a pris du retard."


def test_sorted_by_deadline() -> None:
    table = compute({"survey_responses": SURVEYS, "followups": CALLS})
    assert table["due_by"].is_sorted()


def test_schema_declares_run_columns_last_and_documents_every_column() -> None:
    schema = detractor_followups.schema
    assert schema.names[-2:] == ["run_id", "computed_at"]
    assert schema.field("run_id").type == pa.string()
    assert schema.field("computed_at").type == pa.timestamp("us", tz="UTC")
    assert set(detractor_followups.column_docs) == set(schema.names)
    assert detractor_followups.inputs == ("survey_responses",)
    assert detractor_followups in CORE_TABLES


def test_result_matches_declared_schema_and_writes_as_arrow() -> None:
    table = compute({"survey_responses": SURVEYS, "followups": CALLS})
    assert table.schema == result_schema(detractor_followups.schema)
    stamped = table.with_columns(
        run_id=pl.lit("r", dtype=pl.String),
        computed_at=pl.lit(datetime(2024, 3, 10), dtype=pl.Datetime("us", "UTC")),
    )
    arrow = stamped.select(detractor_followups.schema.names).to_arrow()
    assert arrow.cast(detractor_followups.schema).num_rows == 5


def test_empty_input_gives_empty_table() -> None:
    empty = {"survey_responses": responses(), "followups": followups()}
    table = compute(empty)
    assert table.height == 0
    assert table.schema == result_schema(detractor_followups.schema)


@pytest.fixture
def collect_forbidden(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def refuse(*_args: Any, **_kwargs: Any) -> pl.DataFrame:
        raise AssertionError("a table must not collect while building its plan")

    with monkeypatch.context() as patch:
        patch.setattr(pl.LazyFrame, "collect", refuse)
        yield


def test_plan_is_lazy(collect_forbidden: None) -> None:
    plan = detractor_followups.function(context({"survey_responses": SURVEYS, "followups": CALLS}))
    assert isinstance(plan, pl.LazyFrame)


def test_inputs_are_not_mutated_and_result_is_deterministic() -> None:
    frames = {"survey_responses": SURVEYS.clone(), "followups": CALLS.clone()}
    first = compute(frames).sort("response_id")
    second = compute(frames).sort("response_id")
    assert first.equals(second)
    assert frames["survey_responses"].equals(SURVEYS)
    assert frames["followups"].equals(CALLS)
