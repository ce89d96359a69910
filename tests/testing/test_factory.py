"""The test-class factories, as a plugin author's pytest session sees them."""

from __future__ import annotations

import textwrap

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
