"""Trend charts as inline SVG, drawn here: a page that opens offline needs no charting
library, and a line over a couple of dozen periods needs nothing more than a path.

Every chart of a page shares the run's periods as its x axis, so the charts line up in time;
a period without a value breaks the line instead of bridging it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import Final

from cxpipe.scorecard.formatting import period_text, value_text
from cxpipe.scorecard.markup import Markup, el

STATUS_COLOURS: Final = {
    "met": "#1a7f37",
    "near": "#b26a00",
    "missed": "#c62828",
    "none": "#1f3a5f",
}
"""The line's last point, by status against target (the stylesheet uses the same hues)."""
LINE = "#1f3a5f"
TARGET = "#6b7280"
BENCHMARK = "#7c3aed"


def _scale(values: Sequence[float]) -> tuple[float, float]:
    low, high = min(values), max(values)
    if high == low:
        spread = abs(high) * 0.1 or 1.0
        return low - spread, high + spread
    pad = (high - low) * 0.12
    return low - pad, high + pad


def sparkline(
    series: Sequence[tuple[date, float]],
    periods: Sequence[date],
    *,
    label: str,
    unit: str | None,
    grain: str,
    status: str = "none",
    target: float | None = None,
    benchmark: float | None = None,
    size: tuple[int, int] = (260, 64),
    class_: str = "spark",
    tooltips: bool = True,
) -> Markup:
    """A line of ``series`` over ``periods``, with the target (dashed) and the benchmark
    (dotted) as reference lines. With ``tooltips`` each point carries its period and value
    (shown on hover); small charts in tables leave them out."""
    width, height = size
    index = {period: i for i, period in enumerate(periods)}
    points = sorted((index[p], v) for p, v in series if p in index)
    description = f"{label}: no values"
    if points:
        description = (
            f"{label}, {period_text(periods[points[0][0]], grain)} to "
            f"{period_text(periods[points[-1][0]], grain)}: "
            f"from {value_text(points[0][1], unit)} to {value_text(points[-1][1], unit)}"
        )
    if not points:
        return el(
            "svg",
            el("title", description),
            viewBox=f"0 0 {width} {height}",
            class_=class_,
            role="img",
            aria_label=description,
        )
    references = [r for r in (target, benchmark) if r is not None]
    low, high = _scale([v for _, v in points] + references)
    left, right, top, bottom = 4.0, width - 6.0, 5.0, height - 5.0
    span = max(len(periods) - 1, 1)

    def x(i: int) -> float:
        return left + (right - left) * i / span

    def y(v: float) -> float:
        return bottom - (bottom - top) * (v - low) / (high - low)

    path, previous = [], None
    for i, v in points:
        step = "L" if previous is not None and i == previous + 1 else "M"
        path.append(f"{step}{x(i):.1f},{y(v):.1f}")
        previous = i
    observed = {i for i, _ in points}
    lone = [(i, v) for i, v in points if i - 1 not in observed and i + 1 not in observed]
    last_i, last_v = points[-1]
    parts = [
        el("title", description),
        _reference(target, y, (left, right), style="target"),
        _reference(benchmark, y, (left, right), style="benchmark"),
        el(
            "path",
            d=" ".join(path),
            fill="none",
            stroke=LINE,
            stroke_width="1.8",
            stroke_linejoin="round",
            stroke_linecap="round",
        ),
        # A value between two gaps has no line to sit on: draw it as a dot.
        [el("circle", cx=f"{x(i):.1f}", cy=f"{y(v):.1f}", r="1.8", fill=LINE) for i, v in lone],
        [
            el(
                "circle",
                el("title", f"{period_text(periods[i], grain)}: {value_text(v, unit)}"),
                cx=f"{x(i):.1f}",
                cy=f"{y(v):.1f}",
                r="2.2",
                fill=LINE,
                class_="pt",
            )
            for i, v in points
        ]
        if tooltips
        else None,
        el(
            "circle",
            cx=f"{x(last_i):.1f}",
            cy=f"{y(last_v):.1f}",
            r="4",
            fill=STATUS_COLOURS.get(status, LINE),
            stroke="#ffffff",
            stroke_width="1.5",
        ),
    ]
    return el(
        "svg",
        *parts,
        viewBox=f"0 0 {width} {height}",
        class_=class_,
        role="img",
        aria_label=description,
    )


def _reference(
    value: float | None, y: Callable[[float], float], span: tuple[float, float], *, style: str
) -> Markup | None:
    """A horizontal reference line: ``style`` is ``target`` (dashed) or ``benchmark``."""
    if value is None:
        return None
    colour, dashes = (TARGET, "5 4") if style == "target" else (BENCHMARK, "1.5 3")
    at = f"{y(value):.1f}"
    return el(
        "line",
        el("title", style),
        x1=f"{span[0]:.1f}",
        x2=f"{span[1]:.1f}",
        y1=at,
        y2=at,
        stroke=colour,
        stroke_width="1.2",
        stroke_dasharray=dashes,
        class_=style,
    )


def bar(share: float, *, width: int = 90, height: int = 10, colour: str = LINE) -> Markup:
    """A horizontal bar for a share between 0 and 1 (theme mentions in a table)."""
    filled = max(0.0, min(share, 1.0)) * width
    return el(
        "svg",
        el("rect", width=str(width), height=str(height), rx="2", fill="#e5e7eb"),
        el("rect", width=f"{filled:.1f}", height=str(height), rx="2", fill=colour),
        viewBox=f"0 0 {width} {height}",
        class_="bar",
        aria_hidden="true",
    )
