"""Helpers of these tests: the shipped example config and fast retry settings."""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cxpipe.config import SourceConfig

EXAMPLE = Path(__file__).resolve().parents[1] / "example.cxpipe.toml"
MAX_ATTEMPTS = 3
FAST: dict[str, Any] = {
    "backoff_base": 0.01,
    "backoff_max": 0.02,
    "max_total_wait": 5,
    "max_attempts": MAX_ATTEMPTS,
    "max_requests_per_minute": None,
}
"""Retry waits in milliseconds and no client-side throttle: the tests stay fast."""


def example_table(kind: str) -> dict[str, Any]:
    """The ``[[sources]]`` table of ``kind`` in the shipped example config."""
    data = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    return copy.deepcopy(next(s for s in data["sources"] if s["kind"] == kind))


MakeConfig = Callable[..., SourceConfig]
"""``make_config(kind, **options)``: the example's table for ``kind`` on the local Zendesk;
an option given as ``...`` is removed."""
