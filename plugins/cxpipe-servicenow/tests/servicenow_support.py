"""Constants and types shared by the tests and their fixtures (a module of its own, so
the tests never import ``conftest``)."""

from __future__ import annotations

from collections.abc import Callable

from cxpipe_servicenow import ServiceNowTable

USERNAME = "cxpipe.integration"
PASSWORD = "pw-PLANTED-9Kq2!zz"
TOKEN = "tok-PLANTED-Vb7wXq9z"
FAST = {"backoff_base": 0.01, "backoff_max": 0.02, "max_total_wait": 5, "max_attempts": 3}
"""Retry settings that keep the tests' waits to milliseconds."""

MakeSource = Callable[..., ServiceNowTable]
"""``make_source(SourceClass, **options)`` (the fixture of that name)."""
