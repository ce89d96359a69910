"""The declarative side: rules as data, and the defaults the canonical schemas imply."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cxpipe.schemas import ENTITIES, SURVEY_RESPONSES, TICKETS
from cxpipe.validation.expectations import Expectation, ExpectationSet, default_expectations


def test_shortcuts_build_each_kind_with_its_default_level() -> None:
    suite = ExpectationSet("tickets")
    made = [
        suite.not_null("a"),
        suite.in_set("a", ["x", "y"]),
        suite.between("n", 1, 5),
        suite.unique("a", "b"),
        suite.ordered("start", "end"),
        suite.match_regex("a", r"^T\d+$"),
        suite.column_exists("a"),
        suite.row_count_between(min=1),
    ]
    assert [e.kind for e in suite] == [
        "not_null",
        "in_set",
        "between",
        "unique",
        "ordered",
        "match_regex",
        "column_exists",
        "row_count_between",
    ]
    assert list(suite) == made
    assert [e.level for e in suite] == ["row"] * 6 + ["table"] * 2
    assert suite.columns == ("a", "n", "b", "start", "end")
    assert made[3].column == "a, b"
    assert made[7].column is None


def test_names_and_descriptions_read_like_the_rule() -> None:
    suite = ExpectationSet("survey_responses")
    assert suite.between("csat", 1, 5).summary == "csat must be within 1..5"
    assert suite.between("budget", 0, float("inf")).summary == "budget must be at least 0"
    assert suite.ordered("opened_at", "closed_at").name == "ordered(opened_at, closed_at)"
    assert suite.in_set("side", ["client", "it"]).summary == "side must be one of client, it"
    assert suite.row_count_between(min=1).name == "row_count_between"
    custom = suite.match_regex("ticket_id", "^INC", description="ServiceNow ids start INC")
    assert custom.summary == "ServiceNow ids start INC"


def test_the_same_rule_added_twice_is_kept_once() -> None:
    suite = ExpectationSet("tickets")
    suite.in_set("priority", ("low", "high"))
    suite.add(Expectation("in_set", ("priority",), {"values": ["low", "high"]}))
    assert len(suite) == 1
    suite.in_set("priority", ("low",))
    assert len(suite) == 2


def test_expectations_are_immutable_and_hashable() -> None:
    rule = Expectation("between", ("csat",), {"min": 1, "max": 5})
    with pytest.raises(AttributeError):
        rule.kind = "not_null"  # type: ignore[misc]
    with pytest.raises(TypeError):
        rule.params["min"] = 0  # type: ignore[index]
    assert hash(rule) == hash(Expectation("between", ("csat",), {"min": 1, "max": 5}))


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"kind": "nonsense", "columns": ("a",)}, "unknown expectation kind"),
        ({"kind": "not_null", "columns": ()}, "takes 1 column"),
        ({"kind": "ordered", "columns": ("a",)}, "takes 2 column"),
        ({"kind": "unique", "columns": ()}, "at least 1"),
        ({"kind": "in_set", "columns": ("a",)}, "non-empty 'values'"),
        ({"kind": "between", "columns": ("a",)}, "finite 'min' or 'max'"),
        ({"kind": "match_regex", "columns": ("a",)}, "'pattern' string"),
        ({"kind": "not_null", "columns": ("a",), "params": {"x": 1}}, "does not take"),
        ({"kind": "column_exists", "columns": ("a",), "level": "row"}, "whole table"),
        ({"kind": "not_null", "columns": ("a",), "level": "rows"}, "level must be"),
    ],
)
def test_malformed_rules_are_refused_when_declared(kwargs: dict[str, object], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        Expectation(**kwargs)  # type: ignore[arg-type]


def test_adding_something_else_than_an_expectation_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="expected an Expectation"):
        ExpectationSet("tickets").add("not_null(a)")  # type: ignore[arg-type]


def test_default_tickets_suite_follows_the_schema() -> None:
    suite = default_expectations(TICKETS, future_horizon_days=None)
    by_kind: dict[str, list[Expectation]] = {}
    for rule in suite:
        by_kind.setdefault(rule.kind, []).append(rule)
    assert suite.entity == "tickets"
    assert [e.columns[0] for e in by_kind["column_exists"]] == list(TICKETS.columns)
    assert [e.columns[0] for e in by_kind["not_null"]] == list(TICKETS.required)
    assert {e.columns[0]: e.params["values"] for e in by_kind["in_set"]} == dict(TICKETS.labels)
    assert {e.columns[0]: (e.params["min"], e.params["max"]) for e in by_kind["between"]} == dict(
        TICKETS.ranges
    )
    assert [e.columns for e in by_kind["ordered"]] == list(TICKETS.ordered)
    assert [e.columns for e in by_kind["unique"]] == [TICKETS.primary_key]
    (row_count,) = by_kind["row_count_between"]
    assert row_count.params["min"] == 1


def test_default_suite_bounds_event_timestamps_by_the_future_horizon() -> None:
    now = datetime(2026, 1, 1, 12, 30, 15, 999, tzinfo=UTC)
    suite = default_expectations(TICKETS, now=now, future_horizon_days=2)
    horizon = {
        e.columns[0]: e
        for e in suite
        if e.kind == "between" and e.params["max"] == (datetime(2026, 1, 3, 12, 30, 15, tzinfo=UTC))
    }
    assert sorted(horizon) == [
        "closed_at",
        "first_response_at",
        "opened_at",
        "resolved_at",
        "updated_at",
    ]  # due dates may lie ahead
    assert horizon["opened_at"].summary == (
        "in the future: more than 2 day(s) after the run started"
    )


def test_default_suite_of_every_entity_builds() -> None:
    for entity in ENTITIES.values():
        suite = default_expectations(entity)
        assert set(suite.columns) == set(entity.columns)
    assert any(e.name == "between(csat)" for e in default_expectations(SURVEY_RESPONSES))
