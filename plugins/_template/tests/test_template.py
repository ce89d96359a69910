"""The template plugin against cxpipe's contract kit: one line per source or metric."""

from datetime import UTC, datetime
from pathlib import Path

from cxpipe.testing import assert_plugin_loads, get_metric_test_class, get_source_test_class

from cxpipe_template import TemplateTickets, portal_share

FIXTURES = Path(__file__).parent / "fixtures"

# The [[sources]] table a user writes in cxpipe.toml, as a dict: the API's fields mapped
# onto the canonical tickets (same-named fields, status and updated_at, need no line).
CONFIG = {
    "entity": "tickets",
    "options": {"path": "tickets.json"},
    "columns": {
        "ticket_id": "id",
        "client_id": "organization",
        "request_type": {
            "column": "type",
            "map": {"incident": "support", "question": "support", "task": "project"},
        },
        "priority": {
            "column": "priority",
            "map": {"P1": "critical", "P2": "high", "P3": "medium", "P4": "low"},
        },
        "opened_at": "created_at",
        "first_response_at": "first_reply_at",
        "resolved_at": "solved_at",
        "reopen_count": "reopens",
        "reassignment_count": {"value": 0},
        "assignment_group": "group",
        "channel": "via",
    },
}

TestTemplateTickets = get_source_test_class(
    TemplateTickets, config=CONFIG, base_dir=FIXTURES, since=datetime(2026, 3, 1, tzinfo=UTC)
)

TestPortalShare = get_metric_test_class(portal_share)


def test_plugin_loads() -> None:
    assert_plugin_loads("template")
