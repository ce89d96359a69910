"""The test-class factories, as a plugin author's pytest session sees them."""

from __future__ import annotations

import textwrap
from datetime import timedelta

import pytest

from cxpipe.metrics.builtin import CORE_METRICS
from cxpipe.sources.files import FileSource
from cxpipe.testing import (
    METRIC_RULES,
    SOURCE_RULES,
    get_metric_test_class,
    get_source_test_class,
)

pytest_plugins = ("pytester",)

PLUGIN_TESTS = textwrap.dedent(
    """
    import polars as pl

    from cxpipe import metric
    from cxpipe.metrics.aggregate import count_rows
    from cxpipe.testing import get_metric_test_class


    @metric(name="acme.volume", title="Volume", description="Tickets opened.",
            unit="count", polarity="neutral", inputs=("tickets",))
    def volume(ctx, tickets):
        return count_rows(tickets, metric="acme.volume", at="opened_at", grain=ctx.grain)


    @metric(name="acme.eager", title="Eager", description="Collects too early.",
            unit="count", polarity="neutral", inputs=("tickets",))
    def eager(ctx, tickets):
        tickets = tickets.collect().lazy()
        return count_rows(tickets, metric="acme.eager", at="opened_at", grain=ctx.grain)


    TestVolume = get_metric_test_class(volume, grains=("month",))
    TestEager = get_metric_test_class(
        eager, grains=("month",), skip={"deterministic": "the clock moves"}
    )
    """
)


def test_one_test_per_rule_and_failures_name_the_rule(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_acme=PLUGIN_TESTS)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=2 * len(METRIC_RULES) - 2, failed=1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "E * the metric collected while building its plan*",
            "FAILED *TestEager::test_lazy_planning*",
        ]
    )


def test_classes_are_named_and_carry_their_settings() -> None:
    spec = CORE_METRICS[0]
    cls = get_metric_test_class(spec, grains=("week",))
    assert cls.__name__ == "TestTicketVolumeContract"
    assert cls.cxpipe.spec is spec
    assert {f"test_{rule}" for rule in METRIC_RULES} <= set(dir(cls))
    source_cls = get_source_test_class(FileSource, config={"entity": "tickets"})
    assert {f"test_{rule}" for rule in SOURCE_RULES} <= set(dir(source_cls))


def test_mistakes_in_the_factory_call_fail_at_import() -> None:
    spec = CORE_METRICS[0]
    with pytest.raises(ValueError, match="unknown rule"):
        get_metric_test_class(spec, skip={"determinstic": "typo"})
    with pytest.raises(ValueError, match="reads tickets"):
        get_metric_test_class(spec, inputs={})
    with pytest.raises(TypeError, match=r"@cxpipe\.metric"):
        get_metric_test_class(spec.function)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="config kind 'jira'"):
        get_source_test_class(FileSource, config={"entity": "tickets", "kind": "jira"})
    with pytest.raises(Exception, match="unknown entity"):
        get_source_test_class(FileSource, config={"entity": "ticket"})


SOURCE_TESTS = textwrap.dedent(
    """
    from datetime import UTC, datetime, timedelta

    import polars as pl
    import pytest

    from cxpipe.sources.base import Extract, Source
    from cxpipe.sources.files import FileSource
    from cxpipe.testing import get_source_test_class, make_tickets

    SINCE = datetime(2026, 3, 1, tzinfo=UTC)


    class MinuteTickets(Source):
        '''Filters by the minute, like Jira's JQL: re-reads up to a minute before `since`.'''

        kind = "acme.minute_tickets"

        def extract(self, since=None):
            base = SINCE - timedelta(minutes=3)
            tickets = make_tickets(6).with_columns(
                updated_at=pl.Series([base + timedelta(minutes=i) for i in range(6)]),
                opened_at=pl.lit(base - timedelta(days=1)),
                first_response_at=pl.lit(None, dtype=pl.Datetime("us", "UTC")),
                resolved_at=pl.lit(None, dtype=pl.Datetime("us", "UTC")),
                closed_at=pl.lit(None, dtype=pl.Datetime("us", "UTC")),
                status=pl.lit("open"),
            )
            if since is not None:
                floor = since.replace(second=0) - timedelta(minutes=1)
                tickets = tickets.filter(pl.col("updated_at") >= floor)
            frame = tickets.with_columns(
                _cx_file=pl.lit("api"), _cx_row=pl.int_range(1, pl.len() + 1, dtype=pl.Int64)
            )
            return Extract(frame=frame.lazy())


    @pytest.fixture(scope="class")
    def export(tmp_path_factory):
        folder = tmp_path_factory.mktemp("export")
        (folder / "t.csv").write_text(
            "ticket_id,client_id,request_type,priority,status,opened_at,updated_at\\n"
            "T1,C1,support,high,open,2026-01-05T10:00:00Z,2026-01-05T10:00:00Z\\n",
            encoding="utf-8",
        )
        return folder / "t.csv"


    TestFromFixtures = get_source_test_class(
        FileSource,
        config=lambda export, cxpipe_source_dir: {
            "entity": "tickets",
            "options": {"path": str(export)},
            "columns": {"reopen_count": {"value": 0}, "reassignment_count": {"value": 0}},
        },
    )
    TestTolerated = get_source_test_class(
        MinuteTickets,
        config={"entity": "tickets"},
        since=SINCE,
        since_tolerance=timedelta(minutes=1),
    )
    TestStrict = get_source_test_class(MinuteTickets, config={"entity": "tickets"}, since=SINCE)
    """
)


def test_a_config_function_gets_fixtures_and_since_tolerance_allows_an_overlap(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_sources=SOURCE_TESTS)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-q", "-rfs")
    rules = len(SOURCE_RULES)
    # the file source skips only since_filters; the strict class fails only since_filters
    result.assert_outcomes(passed=3 * rules - 2, failed=1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "E *returned 1 rows older than `since` (push*",
            "FAILED *TestStrict::test_since_filters*",
        ]
    )


def test_since_tolerance_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="since_tolerance"):
        get_source_test_class(
            FileSource, config={"entity": "tickets"}, since_tolerance=-timedelta(seconds=1)
        )
