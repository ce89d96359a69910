"""cxpipe-sql: a ``sql`` source reading one entity per query from PostgreSQL into Arrow.

Installed, it registers through the ``cxpipe`` entry-point group (name ``sql``), so
``cxpipe plugins`` lists it and a ``[[sources]]`` table with ``kind = "sql"`` uses it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cxpipe import hookimpl
from cxpipe_sql.source import SqlOptions, SqlSource, Statement, build_statement

if TYPE_CHECKING:
    from cxpipe.registry import Registry

__version__ = "0.1.0"

__all__ = ["SqlOptions", "SqlSource", "Statement", "__version__", "build_statement"]


@hookimpl
def cxpipe_register_sources(registry: Registry) -> None:
    registry.add_source(SqlSource)
