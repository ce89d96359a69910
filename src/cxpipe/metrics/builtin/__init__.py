"""The core metric catalog of METRICS.md, as ordinary metric plugins.

They are declared with the same :func:`cxpipe.metric` decorator a third-party plugin uses
and registered through the same hook, so the public API is proven by cxpipe's own
metrics. Each module lists its metrics in a tuple; :data:`CORE_METRICS` is their union,
what the built-in plugin hands to ``registry.add_metric``.
"""

from __future__ import annotations

from typing import Final

from cxpipe.metrics.base import MetricSpec
from cxpipe.metrics.builtin.clients import CLIENT_METRICS
from cxpipe.metrics.builtin.projects import PROJECT_METRICS
from cxpipe.metrics.builtin.surveys import SURVEY_METRICS
from cxpipe.metrics.builtin.themes import THEME_METRICS
from cxpipe.metrics.builtin.tickets import TICKET_METRICS

CORE_METRICS: Final[tuple[MetricSpec, ...]] = (
    *TICKET_METRICS,
    *SURVEY_METRICS,
    *THEME_METRICS,
    *PROJECT_METRICS,
    *CLIENT_METRICS,
)
"""Every core metric computation, in catalog order."""

__all__ = ["CORE_METRICS"]
