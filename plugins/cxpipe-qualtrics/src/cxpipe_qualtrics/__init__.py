"""cxpipe-qualtrics: a ``qualtrics.responses`` source reading one Qualtrics survey's
responses through the asynchronous response export.

Installed, it registers through the ``cxpipe`` entry-point group (name ``qualtrics``), so
``cxpipe plugins`` lists it and a ``[[sources]]`` table with
``kind = "qualtrics.responses"`` and ``entity = "survey_responses"`` uses it. See README.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cxpipe import hookimpl
from cxpipe_qualtrics.source import QualtricsOptions, QualtricsResponses, start_date

if TYPE_CHECKING:
    from cxpipe.registry import Registry

__version__ = "0.1.0"

__all__ = ["QualtricsOptions", "QualtricsResponses", "__version__", "start_date"]


@hookimpl
def cxpipe_register_sources(registry: Registry) -> None:
    registry.add_source(QualtricsResponses)
