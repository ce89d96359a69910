"""The demo's scorecard in a real browser: headless Chromium opens the page from a file and
the tests read what a person would see there.

Chromium is Debian's ``chromium`` package (or ``$CHROMIUM``). Without it these tests skip,
except under ``CI=true``, where they fail: CI installs it, and a silent skip would hide them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from cxpipe.config import parse_config
from cxpipe.report import HEADLINES
from cxpipe.run import run_pipeline
from cxpipe.scorecard import build_scorecard, read_output_tables, write_scorecard
from cxpipe.scorecard.browser import Chromium, Page, find_chromium, launch
from cxpipe.scorecard.formatting import value_text
from tests.conftest import DemoConfigData
from tests.scorecard.tables import HOSTILE

pytestmark = pytest.mark.slow

VISIBLE_SCOPE = "document.querySelector('section.scope:not([hidden])')"


@pytest.fixture(scope="module")
def chromium() -> str:
    found = find_chromium()
    if found is None:
        message = "Chromium is not installed: `apt-get install chromium` (Debian) or set $CHROMIUM"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI=true but {message}", pytrace=False)
        pytest.skip(message)
    return found


@pytest.fixture(scope="module")
def output_root(
    demo_dir: Path, demo_config_data: DemoConfigData, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The shared demo data (5 000 tickets, every source) run once into an output root."""
    root = tmp_path_factory.mktemp("scorecard") / "output"
    run_pipeline(parse_config(demo_config_data(), base_dir=demo_dir), output=str(root))
    return root


@pytest.fixture(scope="module")
def outputs(output_root: Path) -> tuple[dict[str, pl.DataFrame], dict[str, Any]]:
    return read_output_tables(str(output_root))


@pytest.fixture(scope="module")
def page_file(output_root: Path) -> Path:
    return Path(write_scorecard(str(output_root), str(output_root.parent / "scorecard.html")))


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Chromium]:
    with launch(chromium) as running:
        yield running


@pytest.fixture
def page(browser: Chromium, page_file: Path) -> Page:
    return browser.open(page_file.as_uri())


def _latest(outputs: tuple[dict[str, pl.DataFrame], dict[str, Any]]) -> Any:
    return outputs[0]["metric_values"]["period_start"].max()


def _visible_cards(page: Page) -> dict[str, str]:
    """Each visible headline card's value, as rendered (innerText: what a reader sees)."""
    found: dict[str, str] = page.evaluate(
        f"""Object.fromEntries([...{VISIBLE_SCOPE}.querySelectorAll('article.card')]
              .map(c => [c.dataset.metric, c.querySelector('.value .number').innerText]))"""
    )
    return found


def _expected_values(values: pl.DataFrame, latest: Any, client: str | None) -> dict[str, str]:
    scope = pl.col("client_id").is_null() if client is None else pl.col("client_id") == client
    rows = values.filter(
        scope
        & pl.col("segment").is_null()
        & (pl.col("period_start") == latest)
        & pl.col("metric").is_in(list(HEADLINES))
    )
    return {r["metric"]: value_text(r["value"], r["unit"]) for r in rows.iter_rows(named=True)}


def _select(page: Page, anchor: str) -> None:
    """Pick a scope in the picker, as a reader does."""
    page.evaluate(
        f"""(() => {{ const s = document.getElementById('scope-picker');
            s.value = {anchor!r}; s.dispatchEvent(new Event('change')); }})()"""
    )


def test_the_page_loads_offline_without_errors_or_requests(page: Page) -> None:
    assert page.console_errors == []
    assert page.requests == [page.url]  # the file itself, nothing else
    resources = page.evaluate("performance.getEntriesByType('resource').length")
    assert resources == 0


def test_the_header_names_run_window_and_computation_time(
    page: Page, outputs: tuple[dict[str, pl.DataFrame], dict[str, Any]]
) -> None:
    tables, manifest = outputs
    header = page.evaluate("document.querySelector('header.masthead').innerText")
    assert manifest["run_id"] in header
    first, last = (
        tables["metric_values"]
        .select(pl.col("period_start").min().alias("first"), pl.col("period_start").max())
        .select(pl.all().dt.strftime("%b %Y"))
        .row(0)
    )
    assert f"Data {first} – {last} (24 months)" in header
    assert manifest["run_id"] in page.evaluate("document.title")


def test_all_clients_show_first_with_the_latest_headline_values(
    page: Page, outputs: tuple[dict[str, pl.DataFrame], dict[str, Any]]
) -> None:
    visible = page.evaluate(f"{VISIBLE_SCOPE}.id")
    assert visible == "all-clients"
    assert page.evaluate("document.querySelectorAll('section.scope:not([hidden])').length") == 1
    expected = _expected_values(outputs[0]["metric_values"], _latest(outputs), None)
    assert set(expected) == set(HEADLINES)
    shown = _visible_cards(page)
    assert {metric: shown[metric] for metric in expected} == expected


def test_picking_a_client_shows_its_section_and_figures(
    page: Page, outputs: tuple[dict[str, pl.DataFrame], dict[str, Any]]
) -> None:
    clients = outputs[0]["dim_client"].sort("client_id")
    client_id, name = clients.row(0)[:2]
    _select(page, f"client-{client_id}")
    assert page.evaluate("location.hash") == f"#client-{client_id}"
    assert page.evaluate(f"{VISIBLE_SCOPE}.querySelector('h2').innerText") == name
    assert page.evaluate("document.querySelectorAll('section.scope:not([hidden])').length") == 1
    expected = _expected_values(outputs[0]["metric_values"], _latest(outputs), client_id)
    shown = _visible_cards(page)
    assert expected
    assert {metric: shown[metric] for metric in expected} == expected
    assert "client_retention_rate_pct" not in shown  # an all-clients metric only


@pytest.mark.parametrize("client", [None, "C05"], ids=["all clients", "a client"])
def test_the_action_plan_lists_every_row_of_the_latest_period(
    page: Page, outputs: tuple[dict[str, pl.DataFrame], dict[str, Any]], client: str | None
) -> None:
    plan = outputs[0]["action_plan"].filter(pl.col("period_start") == _latest(outputs))
    plan = plan.filter(
        pl.col("client_id").is_null() if client is None else pl.col("client_id") == client
    )
    assert plan.height > 0
    _select(page, "all-clients" if client is None else f"client-{client}")
    rows = page.evaluate(f"{VISIBLE_SCOPE}.querySelectorAll('table.actions tbody tr').length")
    assert rows == plan.height
    severities = page.evaluate(
        f"""[...{VISIBLE_SCOPE}.querySelectorAll('table.actions tbody tr .badge')]
              .map(b => b.innerText)"""
    )
    assert sorted(severities) == sorted(plan["severity"].to_list())


def test_the_call_back_list_and_flagged_signals_are_there(
    page: Page, outputs: tuple[dict[str, pl.DataFrame], dict[str, Any]]
) -> None:
    due = outputs[0]["detractor_followups"].filter(pl.col("status").is_in(["open", "overdue"]))
    rows = page.evaluate(f"{VISIBLE_SCOPE}.querySelectorAll('table.callbacks tbody tr').length")
    assert rows == due.height
    signals = outputs[0]["signals"].filter(
        pl.col("flagged")
        & pl.col("client_id").is_null()
        & (pl.col("period_start") == _latest(outputs))
    )
    shown = page.evaluate(f"{VISIBLE_SCOPE}.querySelectorAll('table.signals tbody tr').length")
    assert shown == signals.height


def test_every_section_is_on_the_page_without_javascript(
    browser: Chromium, page_file: Path
) -> None:
    page = browser.open(page_file.as_uri(), scripts=False)
    assert page.evaluate("document.documentElement.classList.contains('js')") is False
    hidden = page.evaluate("document.querySelectorAll('section.scope[hidden]').length")
    total = page.evaluate("document.querySelectorAll('section.scope').length")
    links = page.evaluate("document.querySelectorAll('nav.scopes a').length")
    assert hidden == 0
    assert total == links == 13  # all clients and the demo's twelve
    assert page.evaluate("getComputedStyle(document.querySelector('nav.scopes')).display") != "none"
    assert page.console_errors == []


def test_hostile_comments_stay_text_in_the_browser(
    browser: Chromium,
    outputs: tuple[dict[str, pl.DataFrame], dict[str, Any]],
    tmp_path: Path,
) -> None:
    tables, manifest = outputs
    planted = {
        **tables,
        "feedback_themes": tables["feedback_themes"].with_columns(comment=pl.lit(HOSTILE)),
        "detractor_followups": tables["detractor_followups"].with_columns(comment=pl.lit(HOSTILE)),
    }
    hostile = tmp_path / "hostile.html"
    hostile.write_text(build_scorecard(planted, manifest), encoding="utf-8")
    watch = "window.alerts = []; window.alert = (x) => window.alerts.push(x);"
    page = browser.open(hostile.as_uri(), before_load=watch)
    assert page.evaluate("window.alerts") == []  # the watch is in place and never called
    assert page.evaluate("document.querySelectorAll('img').length") == 0
    assert page.evaluate("document.querySelectorAll('script').length") == 1
    text = page.evaluate(f"{VISIBLE_SCOPE}.querySelector('table.callbacks').innerText")
    assert HOSTILE in text
    assert page.console_errors == []
    assert page.requests == [page.url]
