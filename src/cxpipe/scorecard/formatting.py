"""Numbers and periods as a reader expects them: with the metric's unit, to a sensible
precision, and periods named the way the grain is spoken ("Oct 2026", "2026 Q4")."""

from __future__ import annotations

from datetime import UTC, date, datetime

DASH = "—"


def value_text(value: float | None, unit: str | None) -> str:
    """A metric value with its unit: ``81.8 %``, ``4.8 h``, ``+48.9``, ``2,322``."""
    if value is None:
        return DASH
    if unit == "%":
        return f"{value:.1f} %"
    if unit == "hours":
        return f"{value:.1f} h"
    if unit == "nps":
        return f"{value:+.1f}"
    if unit == "points":
        return f"{value:+.1f} pts"
    if unit == "count":
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"
    if unit in ("1-5", "1-7", "ratio"):
        return f"{value:.2f}"
    if unit == "0-100":
        return f"{value:.1f}"
    return f"{value:,.2f} {unit}" if unit else f"{value:,.2f}"


def unit_note(unit: str | None) -> str | None:
    """What a bare number is on, where :func:`value_text` does not already say it."""
    return {
        "0-100": "on 0–100",
        "1-5": "on 1–5",
        "1-7": "on 1–7",
        "nps": "−100…100",
        "ratio": "delivered ÷ promised",
    }.get(unit or "")


def change_text(change: float | None, unit: str | None) -> str:
    """A difference between two values: percentage points for % metrics."""
    if change is None:
        return DASH
    suffix = {"%": " pts", "nps": " pts", "points": " pts", "0-100": " pts", "hours": " h"}
    digits = 2 if unit in ("1-5", "1-7", "ratio") else 1
    return f"{change:+.{digits}f}{suffix.get(unit or '', '')}"


def segment_text(segment: str | None) -> str:
    """``request_type=project`` as ``request type: project``; other segments unchanged."""
    if not segment:
        return DASH
    key, sep, value = segment.partition("=")
    return f"{key.replace('_', ' ')}: {value}" if sep else segment


def period_text(start: date | None, grain: str) -> str:
    """``Oct 2026`` (month), ``2026 Q4``, ``2026-W41`` (ISO week), ``2026``."""
    if start is None:
        return "whole window"
    if grain == "month":
        return start.strftime("%b %Y")
    if grain == "quarter":
        return f"{start.year} Q{(start.month - 1) // 3 + 1}"
    if grain == "week":
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    if grain == "year":
        return str(start.year)
    return start.isoformat()


def instant_text(value: datetime | str | None) -> str:
    """A timestamp to the minute, in UTC: ``23 Nov 2026 18:28 UTC``."""
    if value is None:
        return DASH
    try:
        instant = datetime.fromisoformat(value) if isinstance(value, str) else value
    except ValueError:
        return str(value)
    if instant.tzinfo is None:
        return instant.strftime("%d %b %Y %H:%M")
    return instant.astimezone(UTC).strftime("%d %b %Y %H:%M UTC")


def day_text(value: datetime | date | None) -> str:
    """A date for a list: ``2026-10-31``."""
    if value is None:
        return DASH
    return (value.date() if isinstance(value, datetime) else value).isoformat()
