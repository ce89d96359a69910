"""The core metric catalog of METRICS.md, as ordinary metric plugins.

They are declared with the same :func:`cxpipe.metric` decorator a third-party plugin uses
and registered through the same hook, so the public API is proven by cxpipe's own
metrics. :data:`CORE_METRICS` is what the built-in plugin hands to
``registry.add_metric``.
"""

from __future__ import annotations

from typing import Final

from cxpipe.metrics.base import MetricSpec
from cxpipe.metrics.builtin.clients import client_retention_rate_pct
from cxpipe.metrics.builtin.projects import projects_on_time_pct
from cxpipe.metrics.builtin.surveys import client_experience_rating, csat_pct, nps
from cxpipe.metrics.builtin.tickets import (
    mttr_critical_hours,
    sla_resolution_compliance_pct,
    ticket_volume,
)

CORE_METRICS: Final[tuple[MetricSpec, ...]] = (
    ticket_volume,
    mttr_critical_hours,
    sla_resolution_compliance_pct,
    csat_pct,
    nps,
    client_experience_rating,
    projects_on_time_pct,
    client_retention_rate_pct,
)
"""Every core metric computation, in catalog order."""

__all__ = [
    "CORE_METRICS",
    "client_experience_rating",
    "client_retention_rate_pct",
    "csat_pct",
    "mttr_critical_hours",
    "nps",
    "projects_on_time_pct",
    "sla_resolution_compliance_pct",
    "ticket_volume",
]
