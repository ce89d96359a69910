"""cxpipe-jira: Jira Service Management (Cloud) requests and CSAT feedback as cxpipe sources.

Installed, it registers through the ``cxpipe`` entry-point group (name ``jira``) two source
kinds: ``jira.requests`` (entity ``tickets``) and ``jira.feedback`` (entity
``survey_responses``). See the README and ``example.cxpipe.toml``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cxpipe import hookimpl
from cxpipe_jira.source import (
    JiraFeedback,
    JiraFeedbackOptions,
    JiraOptions,
    JiraRequests,
    JiraRequestsOptions,
    build_jql,
    jql_since,
)

if TYPE_CHECKING:
    from cxpipe.registry import Registry

__version__ = "0.1.0"

__all__ = [
    "JiraFeedback",
    "JiraFeedbackOptions",
    "JiraOptions",
    "JiraRequests",
    "JiraRequestsOptions",
    "__version__",
    "build_jql",
    "jql_since",
]


@hookimpl
def cxpipe_register_sources(registry: Registry) -> None:
    registry.add_source(JiraRequests)
    registry.add_source(JiraFeedback)
