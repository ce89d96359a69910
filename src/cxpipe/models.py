"""The base of every validated settings table: unknown keys are errors, values are frozen."""

from __future__ import annotations

import difflib
import zoneinfo

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def check_timezone(value: str) -> str:
    """An IANA time-zone name, or a ValueError with the closest valid name."""
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        close = difflib.get_close_matches(value, zoneinfo.available_timezones(), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown time zone {value!r}{hint}; use an IANA name") from None
    return value
