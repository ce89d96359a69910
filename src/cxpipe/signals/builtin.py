"""The core signal kinds of METRICS.md ("Signals"), as ordinary signal plugins.

Declared with :func:`cxpipe.analysis.signal`, like a third-party signal; the built-in plugin
hands :data:`CORE_SIGNALS` to ``registry.add_signal``.
"""

from __future__ import annotations

from typing import Final

from cxpipe.analysis import SignalSpec
from cxpipe.signals.anomaly import anomaly
from cxpipe.signals.benchmark import benchmark
from cxpipe.signals.expectation_gap import expectation_gap
from cxpipe.signals.hotspot import hotspot
from cxpipe.signals.process import process_signal
from cxpipe.signals.trend import trend

CORE_SIGNALS: Final[tuple[SignalSpec, ...]] = (
    trend,
    anomaly,
    expectation_gap,
    process_signal,
    hotspot,
    benchmark,
)
"""Every core signal kind, in the order of METRICS.md."""

__all__ = ["CORE_SIGNALS"]
