"""The core detail tables of METRICS.md, as ordinary table plugins.

Declared with the same :func:`cxpipe.analysis.table` decorator a third-party plugin uses;
the built-in plugin hands :data:`CORE_TABLES` to ``registry.add_table``.
"""

from __future__ import annotations

from typing import Final

from cxpipe.analysis import TableSpec
from cxpipe.details.followups import detractor_followups
from cxpipe.details.themes import feedback_themes

CORE_TABLES: Final[tuple[TableSpec, ...]] = (detractor_followups, feedback_themes)
"""The call-back list and the feedback themes."""

__all__ = ["CORE_TABLES"]
