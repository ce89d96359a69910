"""cxpipe-servicenow: ServiceNow sources over the Table API.

- ``servicenow.incidents`` (``incident``) and ``servicenow.requests`` (``sc_req_item`` or
  ``sc_request``), for the ``tickets`` entity, optionally with their ``task_sla`` due times;
- ``servicenow.survey_results`` (``asmt_metric_result`` of completed survey instances,
  one row per instance), for the ``survey_responses`` entity.

Installed, the distribution registers through the ``cxpipe`` entry-point group (name
``servicenow``): ``cxpipe plugins`` lists it, and a ``[[sources]]`` table with one of these
kinds uses it. See README.md and example.cxpipe.toml.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cxpipe import hookimpl
from cxpipe_servicenow.source import (
    RequestOptions,
    ServiceNowIncidents,
    ServiceNowOptions,
    ServiceNowRequests,
    ServiceNowSurveyResults,
    ServiceNowTable,
    SurveyOptions,
    TableApiPaginator,
    TicketOptions,
    query_time,
)

if TYPE_CHECKING:
    from cxpipe.registry import Registry

__version__ = "0.1.0"

SOURCES = (ServiceNowIncidents, ServiceNowRequests, ServiceNowSurveyResults)

__all__ = [
    "SOURCES",
    "RequestOptions",
    "ServiceNowIncidents",
    "ServiceNowOptions",
    "ServiceNowRequests",
    "ServiceNowSurveyResults",
    "ServiceNowTable",
    "SurveyOptions",
    "TableApiPaginator",
    "TicketOptions",
    "__version__",
    "query_time",
]


@hookimpl
def cxpipe_register_sources(registry: Registry) -> None:
    for source in SOURCES:
        registry.add_source(source)
