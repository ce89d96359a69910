"""The contract rules, as plain functions of a *case* (a source or metric under test).

Each rule raises :class:`AssertionError` with a message that says what to fix. The test
classes of :mod:`cxpipe.testing.factory` run one test per rule; the rules also run without
pytest (``for rule in SOURCE_RULES.values(): rule(case)``). A rule's docstring is what
docs/plugins.md shows for it.
"""

from cxpipe.testing.rules.metrics import METRIC_RULES, MetricCase
from cxpipe.testing.rules.sources import SOURCE_RULES, SourceCase

__all__ = ["METRIC_RULES", "SOURCE_RULES", "MetricCase", "SourceCase"]
