"""cxpipe: how an IT organisation's clients actually experience it.

The public API for plugin authors lives here; everything else is an implementation
detail. Importing cxpipe loads no plugin and never imports Prefect or Great Expectations.
"""

from __future__ import annotations

import pluggy

from cxpipe.metrics.base import MetricContext, MetricInfo, MetricSpec, Polarity, metric

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("cxpipe")
"""Marks a function as an implementation of a cxpipe hook (see :mod:`cxpipe.hookspecs`)."""

__all__ = [
    "MetricContext",
    "MetricInfo",
    "MetricSpec",
    "Polarity",
    "__version__",
    "hookimpl",
    "metric",
]
