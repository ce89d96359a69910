"""cxpipe's own plugins: the file source, the core metric catalog and the Parquet sink.

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
