"""cxpipe's own plugins: the file source, the core metric catalog, the detail tables, the
signals, the action-plan rules and the Parquet sink.

They register through the same hooks as any third-party plugin (the ``builtin`` entry
point of the ``cxpipe`` group), so blocking ``builtin`` really leaves an empty registry.
"""

from __future__ import annotations

from cxpipe import hookimpl
from cxpipe.registry import Registry


@hookimpl
def cxpipe_register_sources(registry: Registry) -> None:
    from cxpipe.sources.files import FileSource

    registry.add_source(FileSource)


@hookimpl
def cxpipe_register_metrics(registry: Registry) -> None:
    from cxpipe.metrics.builtin import CORE_METRICS

    for spec in CORE_METRICS:
        registry.add_metric(spec)


@hookimpl
def cxpipe_register_sinks(registry: Registry) -> None:
    from cxpipe.sinks.parquet import ParquetSink

    registry.add_sink(ParquetSink)


@hookimpl
def cxpipe_register_action_rules(registry: Registry) -> None:
    from cxpipe.actions.builtin import CORE_ACTION_RULES

    for rule in CORE_ACTION_RULES:
        registry.add_action_rule(rule)


@hookimpl
def cxpipe_register_signals(registry: Registry) -> None:
    from cxpipe.signals.builtin import CORE_SIGNALS

    for spec in CORE_SIGNALS:
        registry.add_signal(spec)


@hookimpl
def cxpipe_register_tables(registry: Registry) -> None:
    from cxpipe.details.builtin import CORE_TABLES

    for spec in CORE_TABLES:
        registry.add_table(spec)
