"""The scorecard's building blocks: escaping markup, the trend chart, number formats."""

from __future__ import annotations

from datetime import date

import pytest

from cxpipe.scorecard.charts import sparkline
from cxpipe.scorecard.formatting import change_text, period_text, segment_text, value_text
from cxpipe.scorecard.markup import Markup, el, escape, join, raw
from tests.scorecard.dom import parse

MONTHS = [date(2026, m, 1) for m in range(1, 7)]


def test_children_and_attribute_values_are_escaped() -> None:
    html = el("td", "<b>x</b> & y", title='say "hi" <now>', data_client="C&1")
    assert html == (
        '<td title="say &quot;hi&quot; &lt;now&gt;" data-client="C&amp;1">'
        "&lt;b&gt;x&lt;/b&gt; &amp; y</td>"
    )


def test_markup_is_kept_and_only_markup() -> None:
    inner = el("b", "bold")
    assert el("p", inner, " & ", None, ["a", 1]) == "<p><b>bold</b> &amp; a1</p>"
    assert escape(inner) is inner
    assert isinstance(join("<x>"), Markup)
    assert join("<x>") == "&lt;x&gt;"
    assert raw("<i>trusted</i>") == "<i>trusted</i>"


def test_optional_attributes_are_left_out_and_true_is_bare() -> None:
    assert (
        el("option", "a", selected=True, hidden=False, title=None) == "<option selected>a</option>"
    )
    assert el("meta", charset="utf-8") == '<meta charset="utf-8">'


def test_a_gap_breaks_the_line_and_a_lone_value_is_a_dot() -> None:
    series = [(MONTHS[0], 1.0), (MONTHS[1], 2.0), (MONTHS[3], 3.0), (MONTHS[5], 2.0)]
    svg = parse(sparkline(series, MONTHS, label="x", unit="%", grain="month"))
    path = svg.find("path").attrs["d"] or ""
    assert path.count("M") == 3
    assert path.count("L") == 1
    dots = [c for c in svg.find_all("circle") if "pt" not in c.classes]
    assert len(dots) == 3  # Apr and Jun drawn as dots, plus the latest point's marker


def test_reference_lines_only_when_there_is_a_reference() -> None:
    series = [(m, float(i)) for i, m in enumerate(MONTHS)]
    bare = parse(sparkline(series, MONTHS, label="x", unit=None, grain="month"))
    assert not bare.find_all("line")
    both = parse(
        sparkline(series, MONTHS, label="x", unit=None, grain="month", target=3, benchmark=4)
    )
    assert [sorted(line.classes) for line in both.find_all("line")] == [["target"], ["benchmark"]]


def test_a_chart_without_values_says_so() -> None:
    svg = parse(sparkline([], MONTHS, label="CSAT", unit="%", grain="month"))
    assert svg.find("svg").attrs["aria-label"] == "CSAT: no values"
    assert not svg.find_all("path")


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (81.84, "%", "81.8 %"),
        (4.83, "hours", "4.8 h"),
        (48.9, "nps", "+48.9"),
        (-3.0, "points", "-3.0 pts"),
        (2322.0, "count", "2,322"),
        (0.36, "count", "0.36"),
        (3.912, "1-5", "3.91"),
        (70.93, "0-100", "70.9"),
        (None, "%", "—"),
        (1.5, "widgets", "1.50 widgets"),
    ],
)
def test_values_are_written_with_their_unit(value: float | None, unit: str, text: str) -> None:
    assert value_text(value, unit) == text


def test_changes_periods_and_segments_read_naturally() -> None:
    assert change_text(2.04, "%") == "+2.0 pts"
    assert change_text(-0.25, "1-5") == "-0.25"
    assert period_text(date(2026, 10, 1), "month") == "Oct 2026"
    assert period_text(date(2026, 10, 1), "quarter") == "2026 Q4"
    assert period_text(date(2026, 10, 5), "week") == "2026-W41"
    assert period_text(date(2026, 1, 1), "year") == "2026"
    assert segment_text("request_type=project") == "request type: project"
    assert segment_text(None) == "—"
