"""Plugin loading, registration ownership, blocking and misspelt hooks."""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

import polars as pl
import pytest

from cxpipe import hookimpl, metric
from cxpipe.errors import PluginError
from cxpipe.hookspecs import HOOK_NAMES
from cxpipe.metrics.base import MetricContext
from cxpipe.plugins import build_registry, describe_plugins, get_plugin_manager
from cxpipe.registry import Registry


def _other_plugins() -> list[str]:
    """Installed plugins besides the built-ins (cxpipe-sql…), blocked to test builtin alone."""
    return [ep.name for ep in entry_points(group="cxpipe") if ep.name != "builtin"]


def test_builtin_registers_through_the_hooks() -> None:
    registry = build_registry(get_plugin_manager(block=_other_plugins()))
    assert "file" in registry.sources
    assert "parquet" in registry.sinks
    assert {"ticket_volume", "nps", "client_experience_rating"} <= set(registry.metrics)
    owners = {r.plugin for r in registry.registrations}
    assert owners == {"builtin"}


def test_blocking_builtin_leaves_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXPIPE_DISABLED_PLUGINS", "builtin")
    registry = build_registry(get_plugin_manager(block=_other_plugins()))
    assert registry.sources == {}
    assert registry.metrics == {}


def test_local_plugins_folder(tmp_path: Path) -> None:
    (tmp_path / "team_metrics.py").write_text(
        "import polars as pl\n"
        "from cxpipe import hookimpl, metric\n"
        "from cxpipe.metrics.aggregate import count_rows\n"
        "@metric(name='team.tickets', title='Tickets', description='d', unit='count',\n"
        "        polarity='neutral', inputs=('tickets',))\n"
        "def team_tickets(ctx, tickets):\n"
        "    return count_rows(tickets, metric='team.tickets', at='opened_at', grain=ctx.grain)\n"
        "@hookimpl\n"
        "def cxpipe_register_metrics(registry):\n"
        "    registry.add_metric(team_tickets)\n"
    )
    (tmp_path / "_private.py").write_text("raise RuntimeError('must not be imported')\n")
    pm = get_plugin_manager(plugins_dir=tmp_path)
    registry = build_registry(pm)
    assert "team.tickets" in registry.metrics
    origins = {p.name: p.origin for p in describe_plugins(pm)}
    assert origins["team_metrics"].startswith("file ")
    assert origins["builtin"].startswith(("entry point of cxpipe", "registered in code"))


def test_misspelt_hook_fails_loudly() -> None:
    class Typo:
        @hookimpl
        def cxpipe_register_metric(self, registry: Registry) -> None:  # missing "s"
            raise AssertionError

    with pytest.raises(PluginError, match="cxpipe_register_metric"):
        get_plugin_manager(extra_plugins=[("typo", Typo())])


def test_duplicate_metric_names_both_plugins() -> None:
    @metric(
        name="nps",
        title="t",
        description="d",
        unit="x",
        polarity="neutral",
        inputs=("survey_responses",),
    )
    def fake(ctx: MetricContext, survey_responses: pl.LazyFrame) -> pl.LazyFrame:
        return survey_responses

    class Clash:
        @hookimpl
        def cxpipe_register_metrics(self, registry: Registry) -> None:
            registry.add_metric(fake)

    pm = get_plugin_manager(extra_plugins=[("clash", Clash())])
    with pytest.raises(PluginError, match=r"'nps' is emitted by both .*builtin.*clash"):
        build_registry(pm)


def test_metric_decorator_checks_parameter_names() -> None:
    with pytest.raises(TypeError, match="must take"):

        @metric(
            name="x", title="t", description="d", unit="u", polarity="neutral", inputs=("tickets",)
        )
        def wrong(ctx: MetricContext, ticket: pl.LazyFrame) -> pl.LazyFrame:
            return ticket


def test_plugin_error_in_registration_names_the_plugin() -> None:
    class Broken:
        @hookimpl
        def cxpipe_register_sources(self, registry: Registry) -> None:
            raise RuntimeError("boom")

    with pytest.raises(PluginError, match=r"plugin 'broken' failed in cxpipe_register_sources"):
        build_registry(get_plugin_manager(extra_plugins=[("broken", Broken())]))


def test_every_hook_is_documented() -> None:
    import cxpipe.hookspecs as specs

    assert set(HOOK_NAMES) == {
        "cxpipe_register_sources",
        "cxpipe_register_metrics",
        "cxpipe_register_sinks",
        "cxpipe_register_tables",
        "cxpipe_register_signals",
        "cxpipe_register_action_rules",
        "cxpipe_add_expectations",
        "cxpipe_before_run",
        "cxpipe_after_run",
        "cxpipe_on_run_error",
    }
    for name in HOOK_NAMES:
        assert len((getattr(specs, name).__doc__ or "").strip()) > 80, name
