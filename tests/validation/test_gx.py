"""Validation through Great Expectations: every rule kind, quarantine reasons, row accounting,
table-level failures, duplicates and the polars → pandas hand-off."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pluggy
import polars as pl
import pytest

from cxpipe import hookimpl, hookspecs
from cxpipe.errors import ValidationFailed
from cxpipe.schemas import PROJECTS, REASON_DTYPE, TICKETS
from cxpipe.validation import (
    Expectation,
    ExpectationSet,
    ValidationOutcome,
    dedupe,
    default_expectations,
    validate,
    validate_with_duplicates,
)
from cxpipe.validation import gx as gx_module

from .factories import make_tickets, set_values, with_errors

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def lineage(frame: pl.DataFrame, file: str = "things.csv") -> pl.DataFrame:
    return frame.with_columns(
        _cx_source=pl.lit("things"),
        _cx_file=pl.lit(file),
        _cx_row=pl.int_range(1, frame.height + 1, dtype=pl.Int64),
    )


def check(frame: pl.DataFrame, *rules: Expectation) -> ValidationOutcome:
    return validate(lineage(frame), ExpectationSet("things", rules), source="things")


def failing_rows(outcome: ValidationOutcome) -> set[int]:
    return set(outcome.quarantined["_cx_row"].to_list())


def reasons(outcome: ValidationOutcome) -> dict[int, str]:
    rows = outcome.quarantined.select("_cx_row", "quarantine_reason").rows()
    return dict(rows)


def assert_accounted(frame: pl.DataFrame, outcome: ValidationOutcome) -> None:
    """Every input row is either kept or quarantined, exactly once."""
    assert outcome.rows_in == frame.height == outcome.kept.height + outcome.quarantined.height
    keys = ["_cx_file", "_cx_row"]
    kept = set(outcome.kept.select(keys).rows())
    quarantined = set(outcome.quarantined.select(keys).rows())
    assert len(kept) == outcome.kept.height
    assert len(quarantined) == outcome.quarantined.height
    assert not kept & quarantined
    assert kept | quarantined == set(frame.select(keys).rows())


# ---------------------------------------------------------------------------------------------
# Each kind on a small frame


def test_not_null() -> None:
    outcome = check(pl.DataFrame({"a": ["x", None, "z"]}), Expectation("not_null", ("a",)))
    assert reasons(outcome) == {2: "a is null"}
    assert outcome.quarantined["quarantine_reasons"].to_list() == [
        [{"check": "not_null", "column": "a", "value": None, "message": "a is null"}]
    ]


def test_in_set_ignores_nulls() -> None:
    frame = pl.DataFrame({"priority": ["high", "urgent", None, "low"]})
    outcome = check(frame, Expectation("in_set", ("priority",), {"values": ("high", "low")}))
    assert reasons(outcome) == {2: "priority = 'urgent' is not one of high, low"}


@pytest.mark.parametrize("dtype", [pl.Int8, pl.Int32, pl.Int64, pl.Float64])
def test_between_on_every_numeric_type(dtype: pl.DataType) -> None:
    frame = pl.DataFrame({"csat": pl.Series([3, 0, None, 6, 5, 1], dtype=dtype)})
    outcome = check(frame, Expectation("between", ("csat",), {"min": 1, "max": 5}))
    zero, six = ("0.0", "6.0") if dtype == pl.Float64 else ("0", "6")
    assert reasons(outcome) == {
        2: f"csat = {zero} is outside 1..5",
        4: f"csat = {six} is outside 1..5",
    }
    assert outcome.kept.schema == lineage(frame).schema  # the float cast is GX's alone


def test_between_with_an_open_bound() -> None:
    frame = pl.DataFrame({"budget": [-1.5, 0.0, 1e12]})
    outcome = check(frame, Expectation("between", ("budget",), {"min": 0, "max": float("inf")}))
    assert reasons(outcome) == {1: "budget = -1.5 is below 0"}


def test_unique_single_column_ignores_nulls() -> None:
    frame = pl.DataFrame({"id": ["a", "b", "a", None, None]})
    outcome = check(frame, Expectation("unique", ("id",)))
    assert reasons(outcome) == {1: "id = 'a' is not unique", 3: "id = 'a' is not unique"}


def test_unique_compound_key_ignores_incomplete_keys() -> None:
    frame = pl.DataFrame({"system": ["snow", "snow", "snow", None, None], "id": [1, 2, 1, 1, 1]})
    outcome = check(frame, Expectation("unique", ("system", "id")))
    expected = "(system, id) = ('snow', 1) is not unique"
    assert reasons(outcome) == {1: expected, 3: expected}
    assert outcome.quarantined["quarantine_reasons"].to_list()[0][0]["value"] == "snow, 1"


def test_ordered_timestamps_allow_equal_and_skip_missing() -> None:
    frame = pl.DataFrame(
        {
            "opened_at": [T0, T0, T0, None, T0],
            "resolved_at": [T0 + timedelta(hours=1), T0, T0 - timedelta(hours=2), T0, None],
        }
    )
    outcome = check(frame, Expectation("ordered", ("opened_at", "resolved_at")))
    assert reasons(outcome) == {
        3: "resolved_at (2023-12-31 22:00:00.000000+00:00) is before "
        "opened_at (2024-01-01 00:00:00.000000+00:00)"
    }
    (reason,) = outcome.quarantined["quarantine_reasons"].to_list()[0]
    assert reason["column"] == "opened_at, resolved_at"


def test_ordered_dates() -> None:
    frame = pl.DataFrame(
        {
            "planned_start": [date(2024, 1, 1), date(2024, 3, 1), None],
            "planned_end": [date(2024, 2, 1), date(2024, 2, 1), date(2024, 1, 1)],
        }
    )
    outcome = check(frame, Expectation("ordered", ("planned_start", "planned_end")))
    assert reasons(outcome) == {2: "planned_end (2024-02-01) is before planned_start (2024-03-01)"}


def test_match_regex_searches_so_anchor_for_whole_values() -> None:
    frame = pl.DataFrame({"ticket_id": ["INC1", "X2", None, "aINC3"]})
    anchored = check(frame, Expectation("match_regex", ("ticket_id",), {"pattern": r"^INC\d+$"}))
    assert reasons(anchored) == {
        2: r"ticket_id = 'X2' does not match ^INC\d+$",
        4: r"ticket_id = 'aINC3' does not match ^INC\d+$",
    }
    loose = check(frame, Expectation("match_regex", ("ticket_id",), {"pattern": "INC"}))
    assert failing_rows(loose) == {2}


def test_passing_table_rules_keep_every_row() -> None:
    frame = pl.DataFrame({"a": [1, 2]})
    outcome = check(
        frame,
        Expectation("column_exists", ("a",)),
        Expectation("row_count_between", (), {"min": 1, "max": 2}),
    )
    assert outcome.quarantined.height == 0
    assert outcome.kept.equals(lineage(frame))
    assert [(c.name, c.success) for c in outcome.checks] == [
        ("column_exists(a)", True),
        ("row_count_between", True),
    ]


# ---------------------------------------------------------------------------------------------
# Quarantine content and shape


def test_one_quarantine_row_per_input_row_with_every_reason_in_suite_order() -> None:
    frame = make_tickets(6)
    frame = set_values(
        frame,
        {
            1: {"priority": "urgent", "reopen_count": -1, "status": None},
            3: {"resolved_at": T0 - timedelta(days=1), "closed_at": T0 - timedelta(days=2)},
        },
    )
    outcome = validate(frame, default_expectations(TICKETS), source="incidents")
    assert_accounted(frame, outcome)
    assert failing_rows(outcome) == {2, 4}
    quarantined = outcome.quarantined.sort("_cx_row")
    first = quarantined["quarantine_reasons"][0].to_list()
    assert [r["check"] for r in first] == ["not_null", "in_set", "between"]
    assert quarantined["quarantine_reason"][0] == (
        "status is null; "
        "priority = 'urgent' is not one of critical, high, medium, low; "
        "reopen_count = -1 is outside 0..10000"
    )
    assert [r["value"] for r in first] == [None, "urgent", "-1"]
    second = quarantined["quarantine_reasons"][1].to_list()
    assert [r["column"] for r in second] == [
        "opened_at, resolved_at",
        "opened_at, closed_at",
        "resolved_at, closed_at",
    ]


def test_kept_and_quarantined_keep_the_input_types_and_extra_columns() -> None:
    frame = make_tickets(4).with_columns(team_size=pl.lit(3, pl.UInt16))
    frame = with_errors(set_values(frame, {0: {"priority": "P1"}}), {})
    outcome = validate(frame, default_expectations(TICKETS), source="incidents")
    input_schema = frame.drop("_cx_errors").schema
    assert outcome.kept.schema == input_schema
    expected: dict[str, pl.DataType] = dict(input_schema)
    expected["quarantine_reasons"] = pl.List(REASON_DTYPE)
    expected["quarantine_reason"] = pl.String()
    assert outcome.quarantined.schema == pl.Schema(expected)


def test_nothing_quarantined_still_gives_a_typed_empty_quarantine() -> None:
    frame = make_tickets(3)
    outcome = validate_with_duplicates(
        frame, default_expectations(TICKETS), entity=TICKETS, source="incidents"
    )
    assert outcome.kept.equals(frame)
    assert outcome.quarantined.height == 0
    assert outcome.quarantined.columns == [
        *frame.columns,
        "quarantine_reasons",
        "quarantine_reason",
    ]


def test_conform_errors_quarantine_the_row_and_come_first() -> None:
    frame = set_values(make_tickets(4), {1: {"opened_at": None}, 2: {"priority": "urgent"}})
    parse_error = {
        "check": "parse",
        "column": "opened_at",
        "value": "31/02/2024",
        "message": "opened_at = '31/02/2024' is not a valid timestamp",
    }
    count_error = {
        "check": "parse",
        "column": "reopen_count",
        "value": "many",
        "message": "reopen_count = 'many' is not a whole number in range",
    }
    frame = with_errors(frame, {1: [parse_error], 2: [count_error]})
    frame = set_values(frame, {2: {"reopen_count": None}})
    outcome = validate(frame, default_expectations(TICKETS), source="incidents")
    assert_accounted(frame, outcome)
    assert "_cx_errors" not in outcome.kept.columns
    assert "_cx_errors" not in outcome.quarantined.columns
    # GX's "opened_at is null" is dropped: conform's reason names the raw value.
    assert reasons(outcome) == {
        2: "opened_at = '31/02/2024' is not a valid timestamp",
        3: "reopen_count = 'many' is not a whole number in range; "
        "priority = 'urgent' is not one of critical, high, medium, low",
    }
    conform = outcome.checks[0]
    assert (conform.name, conform.unexpected_count, conform.success) == ("conform", 2, False)


def test_a_row_flagged_only_by_conform_is_quarantined() -> None:
    error = {"check": "parse", "column": "channel", "value": "?", "message": "channel = '?' is bad"}
    frame = with_errors(make_tickets(3), {0: [error]})
    outcome = validate(frame, default_expectations(TICKETS), source="incidents")
    assert reasons(outcome) == {1: "channel = '?' is bad"}
    assert outcome.quarantined["quarantine_reasons"].to_list() == [[error]]


def test_every_failing_row_is_found_beyond_gx_result_caps() -> None:
    """GX caps failing *values* at 200 even in COMPLETE; failing row positions must not be."""
    n = 6_000
    i = pl.int_range(n, eager=True)
    frame = pl.DataFrame(
        {
            "score": (i % 3).cast(pl.Int8),  # 2000 zeros out of 1..2
            "key": (i % 4_500).cast(pl.String),  # 1500 keys twice: 3000 rows
            "start": pl.Series([T0] * n),
            # the first 1200 rows end before they start
            "end": pl.select(pl.lit(T0) + pl.duration(hours=pl.int_range(n) - 1_200)).to_series(),
        }
    )
    outcome = check(
        frame,
        Expectation("between", ("score",), {"min": 1, "max": 2}),
        Expectation("unique", ("key",)),
        Expectation("ordered", ("start", "end")),
    )
    counts = {c.kind: c.unexpected_count for c in outcome.checks}
    assert counts == {"between": 2_000, "unique": 3_000, "ordered": 1_200}
    broken = outcome.quarantined["quarantine_reasons"].explode().struct.field("check")
    assert broken.value_counts().sort("check").rows() == [
        ("between", 2_000),
        ("ordered", 1_200),
        ("unique", 3_000),
    ]
    expected = frame.with_row_index().filter(
        (pl.col("score") == 0) | pl.col("key").is_duplicated() | (pl.col("end") < pl.col("start"))
    )
    assert outcome.quarantined.height == expected.height
    assert_accounted(lineage(frame), outcome)


# ---------------------------------------------------------------------------------------------
# Duplicates


def test_dedupe_keeps_the_latest_version_by_watermark() -> None:
    base = make_tickets(3)
    newer = base[0].with_columns(updated_at=pl.lit(T0 + timedelta(days=5)), status=pl.lit("open"))
    older = base[0].with_columns(updated_at=pl.lit(T0 - timedelta(days=5)))
    frame = pl.concat([newer, base, older]).with_columns(_cx_row=pl.int_range(1, 6, dtype=pl.Int64))
    rows, superseded = dedupe(frame, TICKETS)
    assert rows.height + superseded.height == frame.height
    assert rows.filter(ticket_id="T0")["status"].to_list() == ["open"]
    assert sorted(superseded["_cx_row"].to_list()) == [2, 5]
    assert set(superseded["quarantine_reason"]) == {
        "superseded duplicate of source_system='snow', ticket_id='T0'; "
        "the latest is row 1 of tickets.csv"
    }
    assert superseded["quarantine_reasons"][0].to_list()[0]["check"] == "superseded"


def test_dedupe_breaks_watermark_ties_by_row_and_ranks_missing_watermarks_lowest() -> None:
    base = make_tickets(1)
    frame = pl.concat([base, base, base.with_columns(updated_at=None)]).with_columns(
        _cx_row=pl.Series([7, 3, 9], dtype=pl.Int64)
    )
    rows, superseded = dedupe(frame, TICKETS)
    assert rows["_cx_row"].to_list() == [7]
    assert sorted(superseded["_cx_row"].to_list()) == [3, 9]


def test_dedupe_without_watermark_keeps_the_last_row_and_leaves_incomplete_keys() -> None:
    frame = lineage(
        pl.DataFrame({"project_id": ["p1", "p1", None, None], "name": ["old", "new", "a", "b"]})
    )
    rows, superseded = dedupe(frame, PROJECTS)
    assert rows["name"].to_list() == ["new", "a", "b"]
    assert superseded["quarantine_reason"].to_list() == [
        "superseded duplicate of project_id='p1'; the latest is row 2 of things.csv"
    ]


def test_dedupe_keeps_conform_errors_for_validation_and_reports_them_on_superseded_rows() -> None:
    error = {"check": "parse", "column": "channel", "value": "?", "message": "channel = '?' is bad"}
    base = make_tickets(1)
    frame = with_errors(
        pl.concat([base, base]).with_columns(_cx_row=pl.Series([1, 2], dtype=pl.Int64)),
        {0: [error], 1: [error]},
    )
    rows, superseded = dedupe(frame, TICKETS)
    assert rows["_cx_errors"].to_list() == [[error]]
    assert [r["check"] for r in superseded["quarantine_reasons"][0]] == ["parse", "superseded"]


def test_accounting_holds_with_duplicates_bad_rows_and_conform_errors() -> None:
    tickets = make_tickets(300)
    bad: dict[int, dict[str, Any]] = {i: {"priority": "P9"} for i in range(0, 300, 7)}
    bad |= {i: {"reassignment_count": -2, "client_id": None} for i in range(3, 300, 11)}
    tickets = set_values(tickets, bad)
    again = tickets[::5].with_columns(
        updated_at=pl.col("updated_at") + timedelta(hours=1), _cx_file=pl.lit("update.csv")
    )
    frame = with_errors(
        pl.concat([tickets, again, tickets[10:20].with_columns(_cx_file=pl.lit("again.csv"))]),
        {i: [{"check": "parse", "column": "c", "value": "v", "message": "m"}] for i in (4, 350)},
    )
    outcome = validate_with_duplicates(
        frame, default_expectations(TICKETS), entity=TICKETS, source="incidents"
    )
    assert_accounted(frame, outcome)
    superseded = outcome.quarantined.filter(
        pl.col("quarantine_reason").str.contains("superseded duplicate")
    )
    assert superseded.height == again.height + 10
    assert outcome.checks[0].name == "dedupe(source_system, ticket_id)"
    assert outcome.checks[0].unexpected_count == superseded.height
    assert outcome.kept.select(pl.struct("source_system", "ticket_id").is_unique().all()).item()


# ---------------------------------------------------------------------------------------------
# Table-level failures stop the run


def test_a_missing_column_fails_the_run_naming_source_entity_and_column() -> None:
    frame = make_tickets(5).drop("opened_at")
    with pytest.raises(ValidationFailed) as failure:
        validate(frame, default_expectations(TICKETS), source="incidents")
    assert (
        str(failure.value) == "source 'incidents' (tickets): required column 'opened_at' is missing"
    )


def test_every_missing_column_is_listed() -> None:
    frame = make_tickets(5).drop("priority", "channel")
    with pytest.raises(ValidationFailed) as failure:
        validate(frame, default_expectations(TICKETS), source="incidents")
    assert str(failure.value) == (
        "source 'incidents' (tickets): required column 'priority' is missing; "
        "required column 'channel' is missing"
    )


def test_an_empty_source_fails_the_run() -> None:
    with pytest.raises(ValidationFailed) as failure:
        validate(make_tickets(0), default_expectations(TICKETS), source="incidents")
    assert str(failure.value) == "source 'incidents' (tickets): expected at least 1 row, got 0"


def test_a_row_rule_declared_table_level_fails_the_run_instead_of_quarantining() -> None:
    frame = pl.DataFrame({"csat": pl.Series([3, 0, 9], dtype=pl.Int8)})
    rule = Expectation("between", ("csat",), {"min": 1, "max": 5}, level="table")
    with pytest.raises(ValidationFailed) as failure:
        check(frame, rule)
    assert str(failure.value) == (
        "source 'things' (things): 2 rows break 'csat must be within 1..5' "
        "(first: row 2 of things.csv)"
    )


def test_a_rule_on_an_absent_column_fails_the_run() -> None:
    with pytest.raises(ValidationFailed, match=r"column 'team' needed by not_null\(team\)"):
        check(pl.DataFrame({"a": [1]}), Expectation("not_null", ("team",)))


def test_a_rule_gx_cannot_evaluate_fails_the_run_with_gx_reason() -> None:
    frame = pl.DataFrame({"status": ["open", "closed"]})
    with pytest.raises(ValidationFailed, match=r"could not check status must be within 1\.\.5"):
        check(frame, Expectation("between", ("status",), {"min": 1, "max": 5}))


# ---------------------------------------------------------------------------------------------
# Plugins add rules through the hook, never through GX


class TicketIdPlugin:
    @hookimpl
    def cxpipe_add_expectations(self, entity: str, suite: ExpectationSet) -> None:
        if entity == "tickets":
            suite.match_regex("ticket_id", r"^T\d+$", description="ids look like T123")
            suite.add(Expectation("in_set", ("channel",), {"values": ("email", "phone")}))


def test_a_plugin_rule_quarantines_rows_like_a_default_one() -> None:
    pm = pluggy.PluginManager("cxpipe")
    pm.add_hookspecs(hookspecs)
    pm.register(TicketIdPlugin(), name="ticket-ids")
    suite = default_expectations(TICKETS)
    pm.hook.cxpipe_add_expectations(entity="tickets", suite=suite)
    frame = set_values(make_tickets(3), {0: {"ticket_id": "X9"}, 2: {"channel": "fax"}})
    outcome = validate(frame, suite, source="incidents")
    assert reasons(outcome) == {
        1: r"ticket_id = 'X9' does not match ^T\d+$ (ids look like T123)",
        3: "channel = 'fax' is not one of email, phone",
    }
    assert {c.name for c in outcome.checks} >= {"match_regex(ticket_id)", "in_set(channel)"}


# ---------------------------------------------------------------------------------------------
# The polars → pandas hand-off and the GX context


def test_to_pandas_keeps_nulls_and_uses_the_fast_dtypes() -> None:
    frame = pl.DataFrame(
        {
            "s": ["a", None],
            "i8": pl.Series([1, None], dtype=pl.Int8),
            "i32": pl.Series([None, 7], dtype=pl.Int32),
            "f": [1.5, None],
            "t": [T0, None],
            "d": [date(2024, 1, 1), None],
            "b": [True, None],
            "c": pl.Series(["x", None], dtype=pl.Categorical),
        }
    )
    pdf = gx_module.to_pandas(frame)
    assert pdf.index.name == "__cx_pos"
    assert list(pdf.index) == [0, 1]
    dtypes = {c: str(t) for c, t in pdf.dtypes.items()}
    assert dtypes == {
        "s": "large_string[pyarrow]",
        "i8": "int8[pyarrow]",
        "i32": "int32[pyarrow]",
        "f": "float64",
        "t": "datetime64[us, UTC]",
        "d": "date32[day][pyarrow]",
        "b": "bool[pyarrow]",
        "c": "category",
    }
    assert pdf.isna().to_dict("list") == {
        "s": [False, True],
        "i8": [False, True],
        "i32": [True, False],
        "f": [False, True],
        "t": [False, True],
        "d": [False, True],
        "b": [False, True],
        "c": [False, True],
    }
    assert pdf["t"][0].to_pydatetime() == T0
    assert pdf["i32"][1] == 7


def test_the_gx_context_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    gx_module._engine.cache_clear()
    try:
        check(pl.DataFrame({"a": [1, None]}), Expectation("not_null", ("a",)))
    finally:
        gx_module._engine.cache_clear()
    assert list(tmp_path.iterdir()) == []


def test_validations_from_several_threads_take_turns() -> None:
    frames = [set_values(make_tickets(50), {i: {"priority": "P0"}}) for i in range(4)]

    def run(frame: pl.DataFrame) -> Any:
        return validate(frame, default_expectations(TICKETS), source="incidents")

    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(run, frames))
    assert [failing_rows(o) for o in outcomes] == [{1}, {2}, {3}, {4}]


@pytest.mark.slow
def test_a_million_tickets_through_the_default_suite() -> None:
    n = 1_000_000
    frame = make_tickets(n)
    i = pl.int_range(n)
    frame = frame.with_columns(
        priority=pl.when(i % 100 == 0).then(pl.lit("P1")).otherwise("priority"),
        resolved_at=pl.when(i % 250 == 1)
        .then(pl.col("opened_at") - timedelta(hours=1))
        .otherwise("resolved_at"),
    )
    frame = pl.concat([frame, frame[:1_000].with_columns(_cx_row=pl.col("_cx_row") + n)])
    suite = default_expectations(TICKETS)
    gx_module._engine()  # the one-off GX import and context are not the validation's cost
    started = time.perf_counter()
    outcome = validate_with_duplicates(frame, suite, entity=TICKETS, source="incidents")
    elapsed = time.perf_counter() - started
    print(
        f"\nvalidated {frame.height:,} tickets × {len(suite)} expectations in {elapsed:.2f} s "
        f"({outcome.kept.height:,} kept, {outcome.quarantined.height:,} quarantined)"
    )
    assert outcome.rows_in == frame.height
    assert outcome.quarantined.height == 1_000 + n // 100 + n // 250
    assert elapsed < 120  # a sanity bound for a shared machine, not a benchmark


def test_an_outcome_that_loses_rows_cannot_be_built() -> None:
    frame = make_tickets(2)
    with pytest.raises(RuntimeError, match="3 rows in, but 2 kept"):
        ValidationOutcome("incidents", "tickets", 3, frame, frame.clear(), ())
