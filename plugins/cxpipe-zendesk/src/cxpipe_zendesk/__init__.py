"""cxpipe-zendesk: Zendesk Support tickets and CSAT ratings as cxpipe sources.

Installed, it registers through the ``cxpipe`` entry-point group (name ``zendesk``):

- ``zendesk.tickets`` (entity ``tickets``): the cursor-based incremental ticket export with
  each ticket's metric set;
- ``zendesk.satisfaction`` (entity ``survey_responses``): satisfaction ratings that are
  answers (``good``/``bad``).

Both are :class:`cxpipe.sources.http.HttpSource` subclasses. See README.md and
``example.cxpipe.toml``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cxpipe import hookimpl
from cxpipe_zendesk.client import IncrementalExportPaginator, ZendeskOptions, ZendeskSource
from cxpipe_zendesk.satisfaction import ZendeskSatisfaction, ZendeskSatisfactionOptions
from cxpipe_zendesk.tickets import ZendeskTickets, ZendeskTicketsOptions

if TYPE_CHECKING:
    from cxpipe.registry import Registry

__version__ = "0.1.0"

__all__ = [
    "IncrementalExportPaginator",
    "ZendeskOptions",
    "ZendeskSatisfaction",
    "ZendeskSatisfactionOptions",
    "ZendeskSource",
    "ZendeskTickets",
    "ZendeskTicketsOptions",
    "__version__",
]


@hookimpl
def cxpipe_register_sources(registry: Registry) -> None:
    registry.add_source(ZendeskTickets)
    registry.add_source(ZendeskSatisfaction)
