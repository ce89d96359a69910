"""The kit run against cxpipe's own plugins: the file source and every core metric.

If cxpipe's built-ins keep the contract, the rules ask nothing a real plugin cannot do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cxpipe.metrics.builtin import CORE_METRICS
from cxpipe.sources.files import FileSource
from cxpipe.testing import assert_plugin_loads, get_metric_test_class, get_source_test_class

TICKETS_CSV = """\
number,client,kind,prio,state,opened,first_reply,resolved,updated,reopens
INC001,C01,support,1 - Critical,closed,2026-01-05 09:00,2026-01-05 09:10,2026-01-05 12:00,,0
INC002,C02,project,3 - Moderate,open,2026-01-20 14:30,,,2026-01-21 08:00,0
INC003,C01,support,2 - High,closed,2026-02-02 08:15,2026-02-02 09:00,2026-02-03 17:00,,1
"""


def tickets_export(folder: Path) -> dict[str, Any]:
    """A small ServiceNow-style CSV in the class's folder, and its [[sources]] table."""
    (folder / "tickets.csv").write_text(TICKETS_CSV, encoding="utf-8")
    return {
        "entity": "tickets",
        "options": {"path": "tickets.csv"},
        "datetime_format": "%Y-%m-%d %H:%M",
        "timezone": "Europe/Paris",
        "columns": {
            "ticket_id": "number",
            "client_id": "client",
            "request_type": "kind",
            "priority": {
                "column": "prio",
                "map": {"1 - Critical": "critical", "2 - High": "high", "3 - Moderate": "medium"},
            },
            "status": "state",
            "opened_at": "opened",
            "first_response_at": "first_reply",
            "resolved_at": "resolved",
            "updated_at": "updated",
            "reopen_count": "reopens",
            "reassignment_count": {"value": 0},
        },
    }


# The file source reads whole files, so it has no incremental rule to keep (no `since`).
TestFileSource = get_source_test_class(FileSource, config=tickets_export)

for _spec in CORE_METRICS:
    globals()[f"TestCore_{_spec.name}"] = get_metric_test_class(_spec)


def test_builtin_plugin_loads() -> None:
    registered = assert_plugin_loads("builtin")
    kinds = {r.kind for r in registered}
    assert {"source", "metric", "sink", "table", "signal", "action_rule"} <= kinds
