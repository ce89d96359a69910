"""The scorecard page: one self-contained HTML document per run.

One section per scope (all clients, then each client by name). Without JavaScript every
section is on the page and the links at the top jump to them; the small inline script turns
the sections into a picker that shows one at a time. Nothing is fetched: the style and the
script are inline and the Content-Security-Policy forbids everything else. Text from the
data (comments, client names, metric titles) goes through :mod:`cxpipe.scorecard.markup`,
which escapes it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import polars as pl

from cxpipe.scorecard.assets import CONTENT_SECURITY_POLICY, SCRIPT, STYLE
from cxpipe.scorecard.charts import bar, sparkline
from cxpipe.scorecard.formatting import (
    DASH,
    change_text,
    day_text,
    instant_text,
    period_text,
    segment_text,
    unit_note,
    value_text,
)
from cxpipe.scorecard.markup import Markup, Node, el, join, raw
from cxpipe.scorecard.model import MET, MISSED, NEAR, Measure, Scope, Scorecard, build_model

STATUS_LABELS: Final = {MET: "On target", NEAR: "Near target", MISSED: "Off target"}
SIGNAL_LABELS: Final = {
    "trend": "Trend",
    "anomaly": "Anomaly",
    "process_signal": "Process signal",
    "expectation_gap": "Expectation gap",
    "hotspot": "Hotspot",
    "benchmark": "Benchmark",
}
DIRECTION_LABELS: Final = {"positive": "better", "negative": "worse", "neutral": "neutral"}
GRAIN_PLURALS: Final = {"month": "months", "week": "weeks", "quarter": "quarters", "year": "years"}
GLANCE: Final = {
    "client_experience_rating": "CX rating",
    "nps": "NPS",
    "csat_pct": "CSAT",
    "sla_resolution_compliance_pct": "SLA compliance",
}
"""The headline metrics in the all-clients table of clients, with short column names."""


def build_scorecard(
    tables: Mapping[str, pl.DataFrame],
    manifest: Mapping[str, Any],
    *,
    targets: Mapping[str, float] | None = None,
) -> str:
    """The scorecard of one run as a self-contained HTML page.

    ``tables`` are the run's output tables by their name under the output root
    (``metric_values``, ``dim_metric``, ``dim_client``, ``signals``, ``action_plan``,
    ``detractor_followups``, ``feedback_themes``; a missing one counts as empty), and
    ``manifest`` its ``_runs/<run_id>.json``. ``targets`` (metric → target, the run's
    ``[action_plan].targets``) are what the measures are judged against; without them the
    page uses the targets the run recorded (see :mod:`cxpipe.scorecard.model`).
    """
    return render(build_model(tables, manifest, targets=targets))


def render(card: Scorecard) -> str:
    """The HTML text of a computed scorecard."""
    title = f"Client experience scorecard · run {card.run_id} · {_window_text(card)}"
    head = el(
        "head",
        el("meta", charset="utf-8"),
        el("meta", http_equiv="Content-Security-Policy", content=CONTENT_SECURITY_POLICY),
        el("meta", name="viewport", content="width=device-width, initial-scale=1"),
        el("meta", name="generator", content=f"cxpipe {card.cxpipe_version or ''}".strip()),
        el("title", title),
        el("style", raw(STYLE)),
    )
    body = el(
        "body",
        _masthead(card),
        el(
            "nav",
            [el("a", scope.name, href=f"#{scope.anchor}") for scope in card.scopes],
            class_="scopes",
            aria_label="Clients",
        ),
        el("main", [_scope(card, scope) for scope in card.scopes]),
        _footer(card),
        el("script", raw(SCRIPT)),
    )
    return "<!DOCTYPE html>\n" + el("html", head, body, lang="en") + "\n"


# --- the masthead ------------------------------------------------------------------------


def _window_text(card: Scorecard) -> str:
    if card.window_start is None or card.latest is None:
        return "no metric values"
    first, last = (period_text(p, card.grain) for p in (card.window_start, card.latest))
    return f"{first} – {last}"


def _window(card: Scorecard) -> Markup:
    if card.window_start is None or card.latest is None:
        return join("no metric values")
    count = len(card.periods)
    unit = card.grain if count == 1 else GRAIN_PLURALS.get(card.grain, "periods")
    return join(
        el(
            "time",
            period_text(card.window_start, card.grain),
            datetime=card.window_start.isoformat(),
        ),
        " – ",
        el(
            "time",
            period_text(card.latest, card.grain),
            datetime=card.window_end.isoformat() if card.window_end else None,
        ),
        f" ({count} {unit})",
    )


def _masthead(card: Scorecard) -> Markup:
    facts = el(
        "p",
        "Run ",
        el("b", card.run_id, id="run-id"),
        " · computed ",
        el(
            "b",
            el("time", instant_text(card.computed_at), datetime=card.computed_at),
            id="computed-at",
        ),
        el("br"),
        "Data ",
        el("b", _window(card), id="data-window"),
        " · latest period ",
        el("b", period_text(card.latest, card.grain) if card.latest else DASH),
        class_="facts",
    )
    picker = el(
        "label",
        "Show",
        el(
            "select",
            [el("option", scope.name, value=scope.anchor) for scope in card.scopes],
            id="scope-picker",
        ),
        class_="picker",
    )
    return el(
        "header",
        el(
            "div", el("div", el("h1", "Client experience scorecard"), facts), picker, class_="inner"
        ),
        class_="masthead",
    )


# --- one scope -----------------------------------------------------------------------------


def _about(scope: Scope) -> str:
    """A client's segment and, for a former client, when the relationship ended."""
    about = [scope.segment] if scope.segment else []
    if scope.relationship_end is not None:
        about.append(f"relationship ended {scope.relationship_end.isoformat()}")
    return " · ".join(about)


def _scope(card: Scorecard, scope: Scope) -> Markup:
    about = _about(scope) if scope.client_id else f"{len(card.scopes) - 1} clients"
    head = el(
        "div",
        el("h2", scope.name),
        el("span", about, class_="about") if about else None,
        _legend(),
        class_="scope-head",
    )
    cards = (
        el("div", [_card(card, m) for m in scope.headlines], class_="cards")
        if scope.headlines
        else el("p", "No headline metric has a value for this scope.", class_="empty")
    )
    parts: list[Node] = [head, cards, _measures(card, scope)]
    if scope.client_id is None:
        parts.append(_glance(card))
    parts += [
        _actions(card, scope),
        _callbacks(card, scope),
        _signals(card, scope),
        el("div", _themes(card, scope), _comments(card, scope), class_="grid2"),
    ]
    return el("section", parts, id=scope.anchor, class_="scope", data_name=scope.name)


def _legend() -> Markup:
    return el(
        "div",
        [
            el("span", el("i", class_=f"swatch {status}"), label)
            for status, label in STATUS_LABELS.items()
        ],
        el("span", el("i", class_="target"), "target"),
        el("span", el("i", class_="benchmark"), "benchmark"),
        class_="legend",
    )


def _target_text(m: Measure) -> str:
    if m.target is None:
        return DASH
    sign = {"higher_is_better": "≥ ", "lower_is_better": "≤ "}.get(m.polarity, "")
    return sign + value_text(m.target, m.unit)


def _status_badge(m: Measure) -> Markup | None:
    """On, near or off target; nothing for a measure without a target."""
    if m.value is None:
        return el("span", "No data", class_="badge")
    if m.status in STATUS_LABELS:
        return el("span", STATUS_LABELS[m.status], class_=f"badge {m.status}")
    return None


def _dot(status: str) -> Markup | None:
    return el("span", class_=f"dot {status}") if status in STATUS_LABELS else None


def _benchmark_text(m: Measure) -> Markup:
    if m.benchmark is None:
        return join(DASH)
    direction = m.benchmark.direction
    verdict = {**DIRECTION_LABELS, "neutral": "equal"}.get(direction or "")
    css = {"positive": "good", "negative": "bad"}.get(direction or "", "flat")
    about = m.benchmark.source or ""
    if m.benchmark.p25 is not None and m.benchmark.p75 is not None:
        spread = f"{value_text(m.benchmark.p25, m.unit)} – {value_text(m.benchmark.p75, m.unit)}"
        about += f" · middle half of the published range {spread}"
    return join(
        el("span", value_text(m.benchmark.value, m.unit), title=about or None),
        el("span", f" · {verdict}", class_=css) if verdict and m.value is not None else None,
    )


def _change(m: Measure) -> Markup:
    if m.change is None:
        return join(DASH)
    arrow = "▲" if m.change > 0 else "▼" if m.change < 0 else "■"
    css = {"positive": "good", "negative": "bad"}.get(m.direction or "", "flat")
    return el("span", f"{arrow} {change_text(m.change, m.unit)}", class_=css)


def _previous(card: Scorecard) -> str:
    return period_text(card.periods[-2], card.grain) if len(card.periods) > 1 else DASH


def _trend(card: Scorecard, m: Measure, **style: Any) -> Markup:
    """The measure's trend chart against its target and benchmark; ``style`` sizes it."""
    return sparkline(
        m.series,
        card.periods,
        label=m.label,
        unit=m.unit,
        grain=card.grain,
        status=m.status,
        target=m.target,
        benchmark=m.benchmark.value if m.benchmark else None,
        **style,
    )


def _card(card: Scorecard, m: Measure) -> Markup:
    latest = period_text(card.latest, card.grain) if card.latest else DASH
    if m.value is not None:
        meta = f"{latest} · n = {m.sample_size:,}" if m.sample_size is not None else latest
    elif m.series:
        last_period, last_value = m.series[-1]
        meta = (
            f"no value in {latest}; last {value_text(last_value, m.unit)} in "
            f"{period_text(last_period, card.grain)}"
        )
    else:
        meta = "no values in this run"
    rows = [
        ("Target", join(_target_text(m))),
        ("Benchmark", _benchmark_text(m)) if m.benchmark is not None else None,
        (f"vs {_previous(card)}", _change(m)),
    ]
    chart = _trend(card, m)
    first = period_text(card.periods[0], card.grain) if card.periods else ""
    seen = [v for _, v in m.series]
    spread = f"{value_text(min(seen), m.unit)} – {value_text(max(seen), m.unit)}" if seen else ""
    return el(
        "article",
        el("header", el("h3", m.label), _status_badge(m)),
        el(
            "p",
            el("span", value_text(m.value, m.unit), class_="number"),
            el("small", unit_note(m.unit)),
            class_="value",
        ),
        el("p", meta, class_="meta"),
        el(
            "dl", [el("div", el("dt", k), el("dd", v), class_="ref") for k, v in filter(None, rows)]
        ),
        chart,
        el(
            "div",
            el("span", first),
            el("span", spread, class_="range"),
            el("span", latest),
            class_="axis",
        ),
        class_=f"card {m.status if m.value is not None else 'none'}",
        data_metric=m.metric,
    )


def _panel(title: str, count: int | None, *body: Node, note: str | None = None) -> Markup:
    heading = el(
        "h3", title, el("span", f"{count:,}", class_="count") if count is not None else None
    )
    return el(
        "section",
        heading,
        el("p", note, class_="note") if note else None,
        *body,
        class_="panel",
    )


def _table(header: Sequence[tuple[str, str | None]], rows: Sequence[Markup], class_: str) -> Markup:
    return el(
        "div",
        el(
            "table",
            el("thead", el("tr", [el("th", name, class_=css) for name, css in header])),
            el("tbody", rows),
            class_=class_,
        ),
        class_="table-wrap",
    )


def _measures(card: Scorecard, scope: Scope) -> Markup:
    if not scope.measures:
        return join()
    latest = period_text(card.latest, card.grain) if card.latest else DASH
    rows = [
        el(
            "tr",
            el("td", _dot(m.status), m.label),
            el("td", value_text(m.value, m.unit), class_="num"),
            el("td", _target_text(m), class_="num"),
            el("td", _status_badge(m)),
            el("td", _benchmark_text(m), class_="num"),
            el("td", _change(m), class_="num"),
            el(
                "td",
                _trend(card, m, size=(120, 28), class_="spark mini", tooltips=False),
            ),
            data_metric=m.metric,
        )
        for m in scope.measures
    ]
    header = [
        ("Measure", None),
        (latest, "num"),
        ("Target", "num"),
        ("Status", None),
        ("Benchmark", "num"),
        (f"vs {_previous(card)}", "num"),
        ("Trend", None),
    ]
    return _panel(
        "Against targets and benchmarks",
        len(scope.measures),
        _table(header, rows, "measures"),
        note="Other measures that have a target (from the action plan) or a published benchmark.",
    )


def _glance(card: Scorecard) -> Markup:
    """The clients side by side: where to look first."""
    clients = card.scopes[1:]
    if not clients:
        return join()

    def cell(scope: Scope, metric: str) -> Markup:
        found = next((m for m in scope.headlines if m.metric == metric), None)
        if found is None or found.value is None:
            return el("td", DASH, class_="num")
        return el(
            "td",
            _dot(found.status),
            value_text(found.value, found.unit),
            class_="num",
        )

    rows = [
        el(
            "tr",
            el(
                "td",
                el("a", s.name, href=f"#{s.anchor}"),
                el("span", _about(s), class_="sub") if _about(s) else None,
            ),
            [cell(s, metric) for metric in GLANCE],
            el("td", _count_of(s.actions, "severity", "high"), class_="num"),
            el("td", s.actions.height, class_="num"),
            el("td", s.callbacks.height, class_="num"),
            el("td", s.signals.height, class_="num"),
        )
        for s in clients
    ]
    header = [
        ("Client", None),
        *[(label, "num") for label in GLANCE.values()],
        ("High actions", "num"),
        ("Actions", "num"),
        ("Call-backs due", "num"),
        ("Signals flagged", "num"),
    ]
    return _panel(
        "Clients at a glance",
        len(clients),
        _table(header, rows, "glance"),
        note="Latest period. Pick a client above, or follow its name, for its own scorecard.",
    )


def _count_of(frame: pl.DataFrame, column: str, value: str) -> int:
    return frame.filter(pl.col(column) == value).height if frame.height else 0


def _actions(card: Scorecard, scope: Scope) -> Markup:
    latest = period_text(card.latest, card.grain) if card.latest else DASH
    note = None
    if scope.client_id is None:
        elsewhere = sum(s.actions.height for s in card.scopes[1:])
        note = (
            f"Rules triggered by the all-clients figures. Each client's own "
            f"({elsewhere:,} in all) are in its section."
        )
    if not scope.actions.height:
        body: Node = el("p", f"No rule triggered in {latest}.", class_="empty")
    else:
        rows = [
            el(
                "tr",
                el("td", el("span", row["severity"], class_=f"badge {row['severity']}")),
                el(
                    "td",
                    row["principle"].replace("_", " ").capitalize(),
                    el("span", row["rule"], class_="sub"),
                ),
                el(
                    "td",
                    row["title"],
                    el("span", segment_text(row["segment"]), class_="sub")
                    if row["segment"]
                    else None,
                ),
                el("td", _observed(row, "observed"), class_="num"),
                el("td", _observed(row, "target"), class_="num"),
                el("td", row["recommended_action"], class_="text"),
            )
            for row in scope.actions.iter_rows(named=True)
        ]
        header = [
            ("Severity", None),
            ("Principle", None),
            ("Triggered by", None),
            ("Observed", "num"),
            ("Target", "num"),
            ("Recommended action", None),
        ]
        body = _table(header, rows, "actions")
    return _panel(f"Action plan · {latest}", scope.actions.height, body, note=note)


def _observed(row: Mapping[str, Any], column: str) -> str:
    """An action's observed value or target; an expectation gap's are standard deviations."""
    unit = None if row["rule"].endswith("expectation_gap") else row["unit"]
    value = row[column]
    return DASH if value is None else value_text(value, unit)


def _client_name(card: Scorecard, client_id: str | None) -> str:
    return next((s.name for s in card.scopes if s.client_id == client_id), client_id or DASH)


def _callbacks(card: Scorecard, scope: Scope) -> Markup:
    frame = scope.callbacks
    overall = scope.client_id is None
    if not frame.height:
        body: Node = el("p", "No detractor is waiting for a call-back.", class_="empty")
    else:
        rows = [
            el(
                "tr",
                el("td", day_text(row["due_by"]), class_="nowrap"),
                el(
                    "td",
                    el(
                        "span",
                        row["status"] or "unknown",
                        class_=f"badge {row['status'] or ''}".strip(),
                    ),
                    el("span", f"{row['days_overdue']:.0f} days late", class_="sub")
                    if row["days_overdue"] is not None
                    else None,
                ),
                el("td", _client_name(card, row["client_id"])) if overall else None,
                el(
                    "td",
                    row["respondent_id"] or DASH,
                    el("span", row["respondent_level"], class_="sub")
                    if row["respondent_level"]
                    else None,
                ),
                el("td", _scores(row), class_="nowrap"),
                el(
                    "td",
                    row["ticket_id"] or row["project_id"] or DASH,
                    el("span", row["survey_kind"], class_="sub"),
                ),
                el("td", row["comment"] or DASH, class_="text"),
            )
            for row in frame.iter_rows(named=True)
        ]
        header = [
            ("Due by", None),
            ("Status", None),
            *([("Client", None)] if overall else []),
            ("Respondent", None),
            ("Scores", None),
            ("About", None),
            ("Comment", None),
        ]
        body = _table(header, rows, "callbacks")
    return _panel(
        "Call-back list",
        frame.height,
        body,
        note="Detractors (NPS ≤ 6 or CSAT ≤ 2) not yet called back: overdue, or still inside "
        "the follow-up window (open).",
    )


def _scores(row: Mapping[str, Any]) -> str:
    parts = [
        f"NPS {row['nps_score']}" if row["nps_score"] is not None else None,
        f"CSAT {row['csat']}" if row["csat"] is not None else None,
    ]
    return " · ".join(p for p in parts if p) or DASH


def _signals(card: Scorecard, scope: Scope) -> Markup:
    latest = period_text(card.latest, card.grain) if card.latest else DASH
    frame = scope.signals
    if not frame.height:
        body: Node = el("p", f"No signal flagged in {latest}.", class_="empty")
    else:
        body = _table(
            [
                ("Signal", None),
                ("Measure", None),
                ("Value", "num"),
                ("Compared with", "num"),
                ("Reads", None),
                ("Detail", None),
            ],
            [_signal_row(row) for row in frame.iter_rows(named=True)],
            "signals",
        )
    hot = scope.hotspots
    hotspots = None
    if hot.height:
        hotspots = el(
            "div",
            el("h4", "Where dissatisfaction comes from (whole window)"),
            _table(
                [
                    ("Measure", None),
                    ("Where", None),
                    ("Score there", "num"),
                    ("Overall", "num"),
                    ("Impact", "num"),
                    ("Detail", None),
                ],
                [
                    el(
                        "tr",
                        el("td", row["title"]),
                        el("td", segment_text(row["segment"])),
                        el("td", value_text(row["value"], row["unit"]), class_="num"),
                        el("td", value_text(row["reference"], row["unit"]), class_="num"),
                        el(
                            "td",
                            f"{row['score']:+,.0f}" if row["score"] is not None else DASH,
                            class_="num",
                        ),
                        el("td", row["detail"] or ""),
                    )
                    for row in hot.iter_rows(named=True)
                ],
                "hotspots",
            ),
        )
    return _panel(
        f"Signals flagged · {latest}",
        frame.height,
        body,
        hotspots,
        note="What the figures say beyond themselves: significant trends, anomalies, "
        "process signals, expectation gaps and benchmarks that call for attention.",
    )


def _signal_row(row: Mapping[str, Any]) -> Markup:
    unit = None if row["signal"] == "expectation_gap" else row["unit"]
    direction = row["direction"] or "neutral"
    return el(
        "tr",
        el("td", SIGNAL_LABELS.get(row["signal"], row["signal"])),
        el(
            "td",
            row["title"],
            el("span", segment_text(row["segment"]), class_="sub") if row["segment"] else None,
        ),
        el("td", value_text(row["value"], unit), class_="num"),
        el("td", value_text(row["reference"], unit), class_="num"),
        el(
            "td",
            el("span", DIRECTION_LABELS.get(direction, direction), class_=f"badge {direction}"),
        ),
        el("td", row["detail"] or "", class_="text"),
    )


def _themes(card: Scorecard, scope: Scope) -> Markup:
    latest = period_text(card.latest, card.grain) if card.latest else DASH
    frame = scope.themes
    if not frame.height:
        return _panel(
            f"What comments are about · {latest}",
            0,
            el("p", "No comment in this period.", class_="empty"),
        )
    top = max(frame.select(pl.col("mentions").max()).item() or 0, 1)
    rows = [
        el(
            "tr",
            el("td", row["theme"]),
            el("td", row["mentions"], class_="num"),
            el("td", bar(row["mentions"] / top)),
            el("td", row["negative"], class_="num bad" if row["negative"] else "num"),
            el("td", row["positive"], class_="num good" if row["positive"] else "num"),
        )
        for row in frame.iter_rows(named=True)
    ]
    header = [
        ("Theme", None),
        ("Responses", "num"),
        ("", None),
        ("Negative", "num"),
        ("Positive", "num"),
    ]
    return _panel(
        f"What comments are about · {latest}", frame.height, _table(header, rows, "themes")
    )


def _comments(card: Scorecard, scope: Scope) -> Markup:
    frame = scope.comments
    if not frame.height:
        return _panel("Recent comments", 0, el("p", "No comment yet.", class_="empty"))
    items = [
        el(
            "li",
            el("blockquote", row["comment"]),
            el(
                "div",
                day_text(row["submitted_at"]),
                f" · {_client_name(card, row['client_id'])} · "
                if scope.client_id is None
                else " · ",
                [el("span", theme, class_="chip") for theme in row["themes"]],
                class_="sub",
            ),
            class_=row["polarity"],
        )
        for row in frame.iter_rows(named=True)
    ]
    return _panel(
        "Recent comments",
        frame.height,
        el("ul", items, class_="comments"),
        note="The newest commented responses, with the themes found in them.",
    )


# --- the footer --------------------------------------------------------------------------


def _footer(card: Scorecard) -> Markup:
    accounting = None
    if card.accounting:
        accounting = join(
            el("h2", "Rows read, kept and quarantined"),
            _table(
                [
                    ("Source", None),
                    ("Entity", None),
                    ("Read", "num"),
                    ("Kept", "num"),
                    ("Quarantined", "num"),
                ],
                [
                    el(
                        "tr",
                        el("td", r["source"]),
                        el("td", r["entity"]),
                        el("td", f"{r['read']:,}", class_="num"),
                        el("td", f"{r['kept']:,}", class_="num"),
                        el("td", f"{r['quarantined']:,}", class_="num"),
                    )
                    for r in card.accounting
                ],
                "accounting",
            ),
        )
    return el(
        "footer",
        el("h2", "How to read this page"),
        el(
            "p",
            "Each measure is judged against its target by the metric's polarity: a target "
            "is a floor when higher is better and a ceiling when lower is better. Green meets "
            "it, amber misses it by less than 10 % of the target, red by more. Targets: ",
            card.targets_source,
            ".",
        ),
        el("h2", "Benchmarks") if card.benchmark_sources else None,
        el(
            "ul",
            [
                el("li", el("b", title), ": ", source or DASH)
                for title, source in card.benchmark_sources
            ],
        )
        if card.benchmark_sources
        else None,
        accounting,
        el(
            "p",
            f"Generated by cxpipe {card.cxpipe_version or ''} from the run's output "
            "tables. The page is self-contained: it fetches nothing and opens offline.",
        ),
    )
