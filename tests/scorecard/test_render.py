"""The scorecard page built from small hand-made tables: what it shows, how it colours a
measure against its target, and that text from the data can never become markup."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

import polars as pl
import pytest

from cxpipe.scorecard import build_scorecard
from cxpipe.scorecard.assets import SCRIPT, STYLE
from cxpipe.scorecard.model import build_model, resolve_targets
from tests.scorecard.dom import Element, parse
from tests.scorecard.tables import (
    HOSTILE,
    HOSTILE_NAME,
    MANIFEST,
    RUN_ID,
    TARGETS,
    action_plan,
    tables,
)


@pytest.fixture(scope="module")
def page() -> str:
    return build_scorecard(tables(), MANIFEST, targets=TARGETS)


@pytest.fixture(scope="module")
def dom(page: str) -> Element:
    return parse(page)


def _section(dom: Element, anchor: str) -> Element:
    return dom.find("section", "scope", id=anchor)


def _card(section: Element, metric: str) -> Element:
    return section.find("article", "card", data_metric=metric)


def test_the_header_names_the_run_its_window_and_when_it_was_computed(dom: Element) -> None:
    assert RUN_ID in dom.find("title").text
    assert dom.find(id="run-id").text == RUN_ID
    assert dom.find(id="data-window").text == "Aug 2026 – Oct 2026 (3 months)"
    assert dom.find(id="computed-at").text == "01 Nov 2026 06:30 UTC"


@pytest.mark.parametrize(
    ("anchor", "metric", "status", "badge"),
    [
        ("all-clients", "sla_resolution_compliance_pct", "met", "On target"),  # 95 ≥ 90
        ("all-clients", "mttr_critical_hours", "near", "Near target"),  # 8.5: 6.25 % over 8
        ("all-clients", "csat_pct", "near", "Near target"),  # 75: 6.25 % under 80
        ("client-C1", "sla_resolution_compliance_pct", "near", "Near target"),  # 89
        ("client-C1", "mttr_critical_hours", "missed", "Off target"),  # 12: 50 % over
        ("client-C1", "csat_pct", "missed", "Off target"),  # 70: 12.5 % under
        ("client-C2", "sla_resolution_compliance_pct", "missed", "Off target"),  # 60
        ("client-C2", "mttr_critical_hours", "met", "On target"),  # 8 = ceiling: meets it
    ],
)
def test_a_measure_is_coloured_by_its_target_and_polarity(
    dom: Element, anchor: str, metric: str, status: str, badge: str
) -> None:
    card = _card(_section(dom, anchor), metric)
    assert status in card.classes
    assert card.find("span", "badge").text == badge
    assert card.find("span", "badge").classes == {"badge", status}


def test_a_measure_without_a_target_is_not_coloured(dom: Element) -> None:
    card = _card(_section(dom, "all-clients"), "nps")
    assert "none" in card.classes
    assert not card.find_all("span", "badge")
    # ... but it is placed against its benchmark, worse by polarity.
    assert "+67.0 · worse" in card.text


def test_the_target_is_shown_as_a_floor_or_a_ceiling(dom: Element) -> None:
    section = _section(dom, "all-clients")
    assert "Target ≥ 90.0 %" in _card(section, "sla_resolution_compliance_pct").text
    assert "Target ≤ 8.0 h" in _card(section, "mttr_critical_hours").text


def test_headline_values_are_the_latest_period_with_units(dom: Element) -> None:
    section = _section(dom, "all-clients")
    values = {
        metric: _card(section, metric).find("p", "value").text
        for metric in ("sla_resolution_compliance_pct", "mttr_critical_hours", "nps")
    }
    assert values == {
        "sla_resolution_compliance_pct": "95.0 %",
        "mttr_critical_hours": "8.5 h",
        "nps": "+40.0 −100…100",
    }


def test_each_headline_has_a_trend_chart_with_its_target_line(dom: Element) -> None:
    card = _card(_section(dom, "client-C1"), "mttr_critical_hours")
    chart = card.find("svg", "spark")
    assert chart.attrs["role"] == "img"
    assert "Aug 2026 to Oct 2026: from 9.0 h to 12.0 h" in (chart.attrs["aria-label"] or "")
    assert chart.find_all("line", "target")
    assert len(chart.find_all("circle", "pt")) == 3  # one tooltip point per period


def test_hostile_comment_text_is_escaped_and_creates_no_element(page: str, dom: Element) -> None:
    assert HOSTILE not in page
    escaped = HOSTILE.replace("<", "&lt;").replace(">", "&gt;")
    assert escaped in page
    # The text reads as typed, in the call-back list and in the recent comments ...
    client = _section(dom, "client-C1")
    assert HOSTILE in client.find("table", "callbacks").text
    assert HOSTILE in client.find("ul", "comments").text
    # ... and nothing of it became markup: no image, no second script, no handler.
    assert not dom.find_all("img")
    assert len(dom.find_all("script")) == 1
    assert all(not name.startswith("on") for e in dom.iter() for name in e.attrs)


def test_client_names_are_escaped_in_text_and_attributes(dom: Element) -> None:
    section = _section(dom, "client-C1")
    assert section.attrs["data-name"] == HOSTILE_NAME
    assert section.find("h2").text == HOSTILE_NAME
    assert not section.find("h2").find_all("b")
    options = [o.text for o in dom.find("select", id="scope-picker").find_all("option")]
    assert options == ["All clients", HOSTILE_NAME, "Beta Ltd"]


def test_the_content_security_policy_allows_exactly_the_inline_style_and_script(
    dom: Element,
) -> None:
    policy = dom.find("meta", http_equiv="Content-Security-Policy").attrs["content"] or ""
    assert "default-src 'none'" in policy

    def digest(text: str) -> str:
        return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()

    style, script = dom.find("style").children[0], dom.find("script").children[0]
    assert style == STYLE
    assert script == SCRIPT
    assert f"style-src 'sha256-{digest(STYLE)}'" in policy
    assert f"script-src 'sha256-{digest(SCRIPT)}'" in policy


def test_nothing_points_outside_the_page(page: str, dom: Element) -> None:
    assert not re.search(r"(?:src|href)=\"(?!#)", page)
    assert all((a.attrs.get("href") or "").startswith("#") for a in dom.find_all("a"))
    assert "http://" not in page.replace("http://www.w3.org", "")  # no URL at all
    assert "https://" not in page


def test_the_action_plan_shows_the_latest_period_per_scope(dom: Element) -> None:
    def rows(anchor: str) -> list[Element]:
        found = _section(dom, anchor).find_all("table", "actions")
        return found[0].find("tbody").find_all("tr") if found else []

    assert len(rows("all-clients")) == 1
    client = rows("client-C1")
    assert len(client) == 3  # Oct only; the Sep row is history
    assert [r.find("span", "badge").text for r in client] == ["high", "medium", "low"]
    assert len(rows("client-C2")) == 1


def test_the_call_back_list_holds_the_calls_still_to_make(dom: Element) -> None:
    overall = _section(dom, "all-clients").find("table", "callbacks").find("tbody")
    statuses = [r.find("span", "badge").text for r in overall.find_all("tr")]
    assert statuses == ["open", "overdue"]  # on_time R3 is done; open (still in time) first
    assert "28 days late" in overall.text
    assert HOSTILE_NAME in overall.text  # the all-clients list names each client


def test_a_client_with_no_surveys_shows_what_it_has(dom: Element) -> None:
    section = _section(dom, "client-C2")
    assert _card(section, "sla_resolution_compliance_pct").find("p", "value").text == "60.0 %"
    metrics = [c.attrs["data-metric"] for c in section.find_all("article", "card")]
    assert "csat_pct" not in metrics
    assert "nps" not in metrics
    assert "No detractor is waiting for a call-back." in section.text
    assert "No comment yet." in section.text
    assert "No comment in this period." in section.text


def test_flagged_signals_and_hotspots_are_listed(dom: Element) -> None:
    overall = _section(dom, "all-clients")
    signals = overall.find("table", "signals").find("tbody").find_all("tr")
    assert [r.find("td").text for r in signals] == ["Benchmark"]
    assert "channel: phone" in overall.find("table", "hotspots").text
    client = _section(dom, "client-C1").find("table", "signals")
    assert "Anomaly" in client.text
    assert "12 trailing periods" in client.text


@pytest.mark.parametrize(
    "given",
    [
        {},
        {name: frame.clear() for name, frame in tables().items()},
    ],
    ids=["no tables", "empty tables"],
)
def test_empty_outputs_give_a_page_that_says_so(given: dict[str, pl.DataFrame]) -> None:
    dom = parse(build_scorecard(given, {}))
    assert dom.find(id="data-window").text == "no metric values"
    overall = _section(dom, "all-clients")
    assert "No headline metric has a value for this scope." in overall.text
    assert "No detractor is waiting for a call-back." in overall.text


def test_clients_without_values_still_get_a_section() -> None:
    only_clients = {"dim_client": tables()["dim_client"]}
    dom = parse(build_scorecard(only_clients, MANIFEST))
    assert _section(dom, "client-C2").find("h2").text == "Beta Ltd"


def test_targets_come_from_the_argument_the_manifest_or_the_action_plan() -> None:
    plan = action_plan()
    given, source = resolve_targets({"csat_pct": 85}, MANIFEST, plan)
    assert given == {"csat_pct": 85.0}
    assert "run's" in source
    manifest: dict[str, Any] = {**MANIFEST, "action_plan": {"targets": {"nps": 30}}}
    assert resolve_targets(None, manifest, plan)[0] == {"nps": 30.0}
    inferred, source = resolve_targets(None, MANIFEST, plan)
    # The target rules' recorded targets; the anomaly rule's reference (9) is not a target.
    assert inferred["mttr_critical_hours"] == 8.0
    assert inferred["sla_resolution_compliance_pct"] == 90.0
    assert inferred["reopen_rate_pct"] == 5.0  # a default the plan never contradicted
    assert "default" in source


def test_without_targets_given_the_page_uses_the_recorded_ones() -> None:
    model = build_model(tables(), MANIFEST)
    overall = model.scopes[0]
    statuses = {m.metric: m.status for m in overall.headlines}
    assert statuses["mttr_critical_hours"] == "near"  # 8.5 against the recorded 8
    assert statuses["csat_pct"] == "none"  # no csat target anywhere in the outputs


def test_scopes_are_all_clients_then_clients_by_name() -> None:
    model = build_model(tables(), MANIFEST, targets=TARGETS)
    assert [s.client_id for s in model.scopes] == [None, "C1", "C2"]
    assert [s.anchor for s in model.scopes] == ["all-clients", "client-C1", "client-C2"]
