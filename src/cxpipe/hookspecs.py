"""The cxpipe plugin hooks. These docstrings are the reference for plugin authors.

A plugin is a module (or object) with functions marked ``@cxpipe.hookimpl`` whose names
are the hooks below. cxpipe finds plugins in installed distributions through the
``cxpipe`` entry-point group and in ``*.py`` files of the ``plugins_dir`` named in the
config. cxpipe's own file source, metrics and Parquet sink register through these same
hooks (``cxpipe.builtin``).

All hooks are called with keyword arguments. Registration hooks are called once per
plugin manager, in no guaranteed order between plugins; names must be unique, and a
duplicate name is an error that names both plugins.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from cxpipe.registry import Registry
    from cxpipe.run import RunContext, RunResult
    from cxpipe.validation.expectations import ExpectationSet

hookspec = pluggy.HookspecMarker("cxpipe")


@hookspec
def cxpipe_register_sources(registry: Registry) -> None:
    """Register source classes with ``registry.add_source(SourceClass)``.

    Asked once, when the plugin manager loads. A source class subclasses
    :class:`cxpipe.sources.Source`; its ``kind`` (``"file"``, ``"servicenow"``…) is what a
    ``[[sources]]`` table of the config names. Return nothing.
    """


@hookspec
def cxpipe_register_metrics(registry: Registry) -> None:
    """Register metrics with ``registry.add_metric(spec)``.

    Asked once, when the plugin manager loads. ``spec`` is what the
    :func:`cxpipe.metric` decorator returns. Core metrics keep the names of METRICS.md; a
    plugin's own metrics are prefixed with the plugin's name (``zendesk.first_reply_hours``).
    Return nothing.
    """


@hookspec
def cxpipe_register_sinks(registry: Registry) -> None:
    """Register output writers with ``registry.add_sink(SinkClass)``.

    Asked once, when the plugin manager loads. A sink class subclasses
    :class:`cxpipe.sinks.Sink` and is named by its format (``"parquet"``). Return nothing.
    """


@hookspec
def cxpipe_register_tables(registry: Registry) -> None:
    """Register detail tables with ``registry.add_table(spec)``.

    Asked once, when the plugin manager loads. ``spec`` is what :func:`cxpipe.analysis.table`
    returns: a function of the run's :class:`~cxpipe.analysis.AnalysisContext` producing
    one Parquet table under ``<name>/`` (the call-back list, the feedback themes). Tables are
    computed after the metrics. Return nothing.
    """


@hookspec
def cxpipe_register_signals(registry: Registry) -> None:
    """Register signal kinds with ``registry.add_signal(spec)``.

    Asked once, when the plugin manager loads. ``spec`` is what :func:`cxpipe.analysis.signal`
    returns: a function reading the run's metric values (and, if it declares them, entities)
    and producing rows of the ``signals`` table (trend, anomaly, …). Signals are computed
    after the metrics and detail tables. Return nothing.
    """


@hookspec
def cxpipe_register_action_rules(registry: Registry) -> None:
    """Register Customer Service Action Plan rules with ``registry.add_action_rule(rule)``.

    Asked once, when the plugin manager loads. ``rule`` is what
    :func:`cxpipe.analysis.action_rule` returns: a function of the metric values and signals
    producing one ``action_plan`` row per client and period where it triggers, under one of
    the five principles. Targets come from the config's ``[action_plan]`` table. Return
    nothing.
    """


@hookspec
def cxpipe_add_expectations(entity: str, suite: ExpectationSet) -> None:
    """Add validation rules for ``entity`` (``"tickets"``, ``"survey_responses"``…).

    Asked once per entity per run, after cxpipe has put its own rules (required columns,
    labels, ranges, ordered timestamps, event timestamps no more than a day in the future,
    unique keys) in ``suite``. Add with ``suite.add(Expectation(...))`` or the shortcuts
    (``suite.between(...)``). Row-level
    rules quarantine the rows that break them; table-level rules fail the run. Plugins never
    touch Great Expectations directly. Return nothing.
    """


@hookspec
def cxpipe_before_run(run: RunContext) -> None:
    """Called when a run starts, before any source is read.

    ``run`` holds the run id, the validated config and the output root. Raise to stop the
    run before it reads anything (the error is reported with the plugin's name).
    """


@hookspec
def cxpipe_after_run(run: RunContext, result: RunResult) -> None:
    """Called after a run has written its outputs and manifest.

    ``result`` holds the row accounting, the metric frame and the paths written. Use it to
    notify, publish or copy outputs elsewhere. An error here is reported but does not undo
    the run, whose outputs are already committed.
    """


@hookspec
def cxpipe_on_run_error(run: RunContext, error: BaseException) -> None:
    """Called when a run fails at any stage, before the error propagates.

    Nothing the failed run staged is visible in the outputs; use this to alert. Return
    nothing.
    """


HOOK_NAMES: tuple[str, ...] = tuple(
    name for name, value in list(globals().items()) if name.startswith("cxpipe_")
)
