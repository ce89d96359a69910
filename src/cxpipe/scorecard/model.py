"""What the scorecard shows, computed from a run's output tables.

Everything here is a polars plan over the whole run at once (every client and the
all-clients scope together); the result is split per scope only at the end, into the small
lists a page shows. The page itself is :mod:`cxpipe.scorecard.render`.

Targets come, in this order, from the ``targets`` argument (the run's
``[action_plan].targets``), from the manifest when it records them
(``manifest["action_plan"]["targets"]``), or else from the outputs alone: the targets the
action plan's target rules recorded, over cxpipe's default targets for the metrics the plan
never missed. The page says which.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

import polars as pl
import pyarrow as pa

from cxpipe.actions.settings import ActionPlanSettings
from cxpipe.details.followups import DETRACTOR_FOLLOWUPS_SCHEMA
from cxpipe.details.themes import FEEDBACK_THEMES_SCHEMA
from cxpipe.metrics.base import Polarity
from cxpipe.report import HEADLINES, accounting_rows
from cxpipe.schemas import ACTION_PLAN, DIM_CLIENT, DIM_METRIC, METRIC_VALUES, SIGNALS

TABLE_SCHEMAS: Final[Mapping[str, pa.Schema]] = {
    "metric_values": METRIC_VALUES,
    "dim_metric": DIM_METRIC,
    "dim_client": DIM_CLIENT,
    "signals": SIGNALS,
    "action_plan": ACTION_PLAN,
    "detractor_followups": DETRACTOR_FOLLOWUPS_SCHEMA,
    "feedback_themes": FEEDBACK_THEMES_SCHEMA,
}
"""The output tables the scorecard reads, by their name under the output root."""

NEAR_TARGET_PCT: Final = 10.0
"""A miss smaller than this % of the target is amber ("near"), a larger one red. The same
figure as the action plan's default ``medium`` severity band, so amber is what the plan
calls a low-severity miss."""

MET, NEAR, MISSED, NO_TARGET = "met", "near", "missed", "none"
"""A measure's status against its target."""

SEVERITY_ORDER: Final = {"high": 0, "medium": 1, "low": 2}
COMMENTS_SHOWN: Final = 5
"""Recent comments listed per scope."""

_KEYS = ["client_id", "metric", "segment"]
_TARGET_RULE_SUFFIXES = ("_below_target", "_above_target")
"""How the core target rules are named (``docs/action-plan.md``); their ``target`` column is
the configured target, unlike signal rules, whose ``target`` is a reference value."""


@dataclass(frozen=True)
class Benchmark:
    """A published figure a metric is compared with (the ``benchmark`` signal)."""

    value: float
    p25: float | None
    p75: float | None
    source: str | None
    direction: str | None
    """``positive`` / ``negative`` / ``neutral``: this scope's latest value against it."""


@dataclass(frozen=True)
class Measure:
    """One metric series of a scope: its latest value, target, benchmark and history."""

    metric: str
    segment: str | None
    title: str
    unit: str | None
    polarity: str
    value: float | None
    """The value in the run's latest period; ``None`` when the series has none there."""
    sample_size: int | None
    target: float | None
    status: str
    miss_pct: float | None
    change: float | None
    """Against the previous period (the ``trend`` signal), with its judged direction."""
    direction: str | None
    benchmark: Benchmark | None
    series: tuple[tuple[date, float], ...]

    @property
    def label(self) -> str:
        """The title, with the segment's value for a segmented series."""
        if self.segment is None:
            return self.title
        return f"{self.title} · {self.segment.partition('=')[2] or self.segment}"


@dataclass(frozen=True)
class Scope:
    """All clients together (``client_id`` None) or one client: one section of the page."""

    client_id: str | None
    anchor: str
    name: str
    segment: str | None
    relationship_end: date | None
    headlines: tuple[Measure, ...]
    measures: tuple[Measure, ...]
    """Other measures that have a target or a benchmark."""
    actions: pl.DataFrame
    signals: pl.DataFrame
    hotspots: pl.DataFrame
    callbacks: pl.DataFrame
    themes: pl.DataFrame
    comments: pl.DataFrame


@dataclass(frozen=True)
class Scorecard:
    """The whole page's content."""

    run_id: str
    grain: str
    periods: tuple[date, ...]
    window_start: date | None
    window_end: date | None
    computed_at: str | None
    targets_source: str
    scopes: tuple[Scope, ...]
    accounting: tuple[dict[str, Any], ...]
    benchmark_sources: tuple[tuple[str, str], ...]
    """(metric title, source and year) of each benchmark the page uses."""
    cxpipe_version: str | None

    @property
    def latest(self) -> date | None:
        return self.periods[-1] if self.periods else None


def conform(tables: Mapping[str, pl.DataFrame], name: str) -> pl.DataFrame:
    """``tables[name]`` with every column of its schema (missing ones null); an empty table
    with the schema when the run did not write it (no followups source, no surveys)."""
    schema = pl.DataFrame(TABLE_SCHEMAS[name].empty_table()).schema
    frame = tables.get(name)
    if frame is None:
        return pl.DataFrame(schema=schema)
    missing = [pl.lit(None, dtype).alias(col) for col, dtype in schema.items() if col not in frame]
    return frame.with_columns(missing) if missing else frame


def resolve_targets(
    targets: Mapping[str, float] | None,
    manifest: Mapping[str, Any],
    action_plan: pl.DataFrame,
) -> tuple[dict[str, float], str]:
    """The targets to judge against and a sentence saying where they came from."""
    if targets is not None:
        return {k: float(v) for k, v in targets.items()}, "the run's [action_plan] targets"
    plan_settings = manifest.get("action_plan")
    recorded = plan_settings.get("targets") if isinstance(plan_settings, Mapping) else None
    if isinstance(recorded, Mapping):
        return {k: float(v) for k, v in recorded.items()}, "the targets recorded in the manifest"
    seen = (
        action_plan.lazy()
        .filter(
            pl.col("rule").str.ends_with(_TARGET_RULE_SUFFIXES[0])
            | pl.col("rule").str.ends_with(_TARGET_RULE_SUFFIXES[1])
        )
        .group_by("trigger_metric")
        .agg(pl.col("target").drop_nulls().unique())
        .filter(pl.col("target").list.len() == 1)
        .select("trigger_metric", pl.col("target").list.first())
        .collect()
    )
    inferred = dict(zip(seen["trigger_metric"], seen["target"], strict=True))
    return (
        {**ActionPlanSettings().targets, **inferred},
        "the targets the action plan recorded, and cxpipe's defaults where it recorded none",
    )


def _status(value: pl.Expr, target: pl.Expr, polarity: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """Status and miss (in % of the target) of each row: a target is a floor when higher is
    better and a ceiling when lower is better, as in the action plan; equal meets it."""
    miss = (
        pl.when(polarity == Polarity.HIGHER_IS_BETTER.value)
        .then(target - value)
        .when(polarity == Polarity.LOWER_IS_BETTER.value)
        .then(value - target)
    )
    miss_pct = pl.when(miss > 0).then(miss * 100 / target.abs())
    status = (
        pl.when(miss.is_null())
        .then(pl.lit(NO_TARGET))
        .when(miss <= 0)
        .then(pl.lit(MET))
        .when(miss_pct < NEAR_TARGET_PCT)
        .then(pl.lit(NEAR))
        .otherwise(pl.lit(MISSED))
    )
    return status, miss_pct


def _measure_rows(
    values: pl.LazyFrame,
    catalog: pl.LazyFrame,
    signals: pl.LazyFrame,
    targets: Mapping[str, float],
    latest: date,
) -> pl.DataFrame:
    """Per scope and series: latest value, history, target status, trend and benchmark, for
    the headline metrics and every metric with a target or a benchmark."""
    benchmarks = (
        signals.filter(pl.col("signal") == "benchmark")
        .group_by("metric", "segment")
        .agg(
            benchmark=pl.col("reference").first(),
            bench_p25=pl.col("lower").first(),
            bench_p75=pl.col("upper").first(),
            bench_source=pl.col("detail").first(),
        )
    )
    wanted = pl.concat(
        [
            pl.LazyFrame({"metric": [*HEADLINES, *targets]}, schema={"metric": pl.String}),
            benchmarks.select("metric"),
        ]
    ).unique()
    # Unsegmented series only, unless a metric exists only per segment (horizon_satisfaction).
    plain = values.group_by("metric").agg(has_plain=pl.col("segment").is_null().any())
    at_latest = pl.col("period_start") == pl.lit(latest)
    series = (
        values.join(wanted, on="metric", how="semi")
        .join(plain, on="metric")
        .filter(pl.col("segment").is_null() | ~pl.col("has_plain"))
        .sort("period_start")
        .group_by(_KEYS)
        .agg(
            periods=pl.col("period_start"),
            values=pl.col("value"),
            value=pl.col("value").filter(at_latest).first(),
            sample_size=pl.col("sample_size").filter(at_latest).first(),
            row_unit=pl.col("unit").last(),
        )
    )
    latest_signal = signals.filter(at_latest)
    trend = (
        latest_signal.filter(pl.col("signal") == "trend")
        .select(*_KEYS, "change", "direction")
        .unique(_KEYS, keep="first")
    )
    placed = (
        latest_signal.filter(pl.col("signal") == "benchmark")
        .select(*_KEYS, bench_direction="direction")
        .unique(_KEYS, keep="first")
    )
    target_frame = pl.LazyFrame(
        {"metric": list(targets), "target": list(targets.values())},
        schema={"metric": pl.String, "target": pl.Float64},
    )
    joined = (
        series.join(catalog, on="metric", how="left")
        .join(target_frame, on="metric", how="left")
        .join(trend, on=_KEYS, how="left", nulls_equal=True)
        .join(placed, on=_KEYS, how="left", nulls_equal=True)
        .join(benchmarks, on=["metric", "segment"], how="left", nulls_equal=True)
        .with_columns(
            title=pl.coalesce("title", "metric"),
            unit=pl.coalesce("unit", "row_unit"),
            polarity=pl.col("polarity").fill_null(Polarity.NEUTRAL.value),
        )
    )
    status, miss_pct = _status(pl.col("value"), pl.col("target"), pl.col("polarity"))
    headline_rank = pl.col("metric").replace_strict(
        {name: rank for rank, name in enumerate(HEADLINES)}, default=None, return_dtype=pl.Int32
    )
    return (
        joined.with_columns(
            status=status,
            miss_pct=miss_pct,
            headline_rank=pl.when(pl.col("segment").is_null()).then(headline_rank),
        )
        .sort("headline_rank", "title", "segment", nulls_last=True)
        .collect()
    )


def _measures(rows: pl.DataFrame) -> list[Measure]:
    return [
        Measure(
            metric=row["metric"],
            segment=row["segment"],
            title=row["title"],
            unit=row["unit"],
            polarity=row["polarity"],
            value=row["value"],
            sample_size=row["sample_size"],
            target=row["target"],
            status=row["status"],
            miss_pct=row["miss_pct"],
            change=row["change"],
            direction=row["direction"],
            benchmark=(
                Benchmark(
                    value=row["benchmark"],
                    p25=row["bench_p25"],
                    p75=row["bench_p75"],
                    source=row["bench_source"],
                    direction=row["bench_direction"],
                )
                if row["benchmark"] is not None
                else None
            ),
            series=tuple(zip(row["periods"], row["values"], strict=True)),
        )
        for row in rows.iter_rows(named=True)
    ]


def _titled(frame: pl.LazyFrame, catalog: pl.LazyFrame, on: str) -> pl.LazyFrame:
    """``frame`` with the catalog's title and unit of the metric named in column ``on``."""
    names = catalog.select(pl.col("metric").alias(on), "title", "unit")
    return frame.join(names, on=on, how="left").with_columns(title=pl.coalesce("title", on))


def _latest_actions(plan: pl.LazyFrame, catalog: pl.LazyFrame, latest: date) -> pl.LazyFrame:
    rank = pl.col("severity").replace_strict(SEVERITY_ORDER, default=3, return_dtype=pl.Int8)
    return (
        _titled(plan.filter(pl.col("period_start") == pl.lit(latest)), catalog, "trigger_metric")
        .with_columns(severity_rank=rank)
        .sort("severity_rank", "principle", "rule", "title", "segment", nulls_last=True)
    )


def _flagged_signals(
    signals: pl.LazyFrame, catalog: pl.LazyFrame, latest: date
) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """The latest period's flagged signals (bad news first), and the flagged hotspots over
    the whole window (the most negative impact first)."""
    flagged = _titled(signals.filter(pl.col("flagged")), catalog, "metric")
    in_period = flagged.filter(pl.col("period_start") == pl.lit(latest)).sort(
        pl.col("direction") != "negative", "signal", "title", "segment", nulls_last=True
    )
    window = flagged.filter(
        (pl.col("signal") == "hotspot") & pl.col("period_start").is_null()
    ).sort("title", "score", "segment")
    return in_period, window


def _callbacks(followups: pl.LazyFrame, latest: date) -> pl.LazyFrame:
    """Detractors still to call back: ``open`` ones (still inside the window, soonest due
    first), then ``overdue`` ones, most recently missed first: the calls that can still be
    made on time come first. Without follow-up records (status null): the detractors of the
    latest period, whose status nobody knows."""
    due = pl.col("status").is_in(["overdue", "open"]) | (
        pl.col("status").is_null() & (pl.col("submitted_at").dt.date() >= pl.lit(latest))
    )
    late_by = (pl.col("status_as_of") - pl.col("due_by")).dt.total_days()
    return (
        followups.filter(due)
        .with_columns(days_overdue=pl.when(pl.col("status") == "overdue").then(late_by))
        .with_columns(
            order=pl.when(pl.col("status") == "overdue")
            .then(-pl.col("due_by").dt.epoch("s"))
            .otherwise(pl.col("due_by").dt.epoch("s")),
        )
        .sort(pl.col("status") == "overdue", "order", "response_id")
        .drop("order")
    )


def _theme_counts(themes: pl.LazyFrame, latest: date, end: date) -> pl.LazyFrame:
    """Per client and for all clients: responses mentioning each theme in the latest period,
    and how many of those mentions were negative or positive."""
    day = pl.col("submitted_at").dt.date()
    in_period = themes.filter((day >= pl.lit(latest)) & (day <= pl.lit(end)))
    response = pl.col("response_id")
    counts = {
        "mentions": response.n_unique(),
        "negative": response.filter(pl.col("polarity") == "negative").n_unique(),
        "positive": response.filter(pl.col("polarity") == "positive").n_unique(),
    }
    per_client = in_period.group_by("client_id", "theme").agg(**counts)
    overall = (
        in_period.group_by("theme").agg(**counts).with_columns(client_id=pl.lit(None, pl.String))
    )
    return pl.concat([per_client, overall], how="diagonal").sort(
        ["mentions", "theme"], descending=[True, False]
    )


def _recent_comments(themes: pl.LazyFrame) -> pl.LazyFrame:
    """The newest commented responses, one row each with its themes, per client and for all
    clients (``scope`` null)."""
    polarity = pl.col("polarity")
    responses = (
        themes.group_by("response_id")
        .agg(
            pl.col("client_id").first(),
            pl.col("submitted_at").first(),
            pl.col("comment").first(),
            themes=pl.col("theme").unique(maintain_order=True),
            polarity=pl.when((polarity == "negative").any())
            .then(pl.lit("negative"))
            .when((polarity == "positive").any())
            .then(pl.lit("positive"))
            .otherwise(pl.lit("neutral")),
        )
        .sort("submitted_at", "response_id", descending=True)
    )
    per_client = responses.group_by("client_id", maintain_order=True).head(COMMENTS_SHOWN)
    overall = responses.head(COMMENTS_SHOWN).with_columns(scope=pl.lit(None, pl.String))
    return pl.concat([per_client.with_columns(scope=pl.col("client_id")), overall], how="diagonal")


def _split(frame: pl.DataFrame, column: str) -> dict[str | None, pl.DataFrame]:
    """Rows per value of ``column`` (null: the all-clients scope)."""
    return {key[0]: part for key, part in frame.partition_by(column, as_dict=True).items()}


def _anchor(client_id: str, taken: set[str]) -> str:
    """A fragment id made of safe characters only, unique in the page."""
    slug = "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "-" for c in client_id)
    anchor, n = f"client-{slug}", 1
    while anchor in taken:
        n += 1
        anchor = f"client-{slug}-{n}"
    taken.add(anchor)
    return anchor


def _clients(dim_client: pl.DataFrame, values: pl.DataFrame) -> pl.DataFrame:
    """Every client of the catalog, plus any the metric values name that it lacks; by name."""
    known = dim_client.select("client_id", "name", "segment", "relationship_end")
    mentioned = values.select("client_id").drop_nulls().unique()
    extra = mentioned.join(known, on="client_id", how="anti")
    return (
        pl.concat([known, extra], how="diagonal")
        .unique("client_id", keep="first")
        .with_columns(name=pl.coalesce("name", "client_id"))
        .sort(pl.col("name").str.to_lowercase(), "client_id")
    )


def _grain(manifest: Mapping[str, Any], values: pl.DataFrame) -> str:
    grain = manifest.get("period_grain")
    if isinstance(grain, str):
        return grain
    counted = values.group_by("period_grain").len().sort("len", descending=True)
    return str(counted["period_grain"][0]) if counted.height else "month"


def build_model(
    tables: Mapping[str, pl.DataFrame],
    manifest: Mapping[str, Any],
    *,
    targets: Mapping[str, float] | None = None,
) -> Scorecard:
    """The scorecard's content for one run, from its output tables and manifest."""
    all_values = conform(tables, "metric_values")
    grain = _grain(manifest, all_values)
    values = all_values.filter(pl.col("period_grain") == grain)
    catalog = (
        conform(tables, "dim_metric")
        .lazy()
        .select("metric", "title", "unit", "polarity")
        .unique("metric")
    )
    signals = (
        conform(tables, "signals")
        .lazy()
        .filter(pl.col("period_grain").is_null() | (pl.col("period_grain") == grain))
    )
    plan = conform(tables, "action_plan")
    resolved, targets_source = resolve_targets(targets, manifest, plan)
    periods = tuple(values.get_column("period_start").unique().sort().to_list())
    clients = _clients(conform(tables, "dim_client"), values)

    empty_scope: dict[str, pl.DataFrame] = {}
    parts: dict[str, dict[str | None, pl.DataFrame]] = {}
    measure_parts: dict[str | None, pl.DataFrame] = {}
    if periods:
        latest = periods[-1]
        latest_end = values.filter(pl.col("period_start") == latest)["period_end"].max()
        end = latest_end if isinstance(latest_end, date) else latest
        measure_parts = _split(
            _measure_rows(values.lazy(), catalog, signals, resolved, latest), "client_id"
        )
        in_period, window = _flagged_signals(signals, catalog, latest)
        themes = conform(tables, "feedback_themes").lazy()
        frames = pl.collect_all(
            [
                _latest_actions(plan.lazy(), catalog, latest),
                in_period,
                window,
                _callbacks(conform(tables, "detractor_followups").lazy(), latest),
                _theme_counts(themes, latest, end),
                _recent_comments(themes),
            ]
        )
        names = ("actions", "signals", "hotspots", "callbacks", "themes", "comments")
        for name, frame in zip(names, frames, strict=True):
            empty_scope[name] = frame.clear()
            parts[name] = _split(frame, "scope" if name == "comments" else "client_id")
        # Every detractor has a client: the all-clients call-back list is all of them.
        parts["callbacks"][None] = frames[names.index("callbacks")]
    else:
        empty_scope = {
            "actions": plan.clear(),
            "signals": conform(tables, "signals").clear(),
            "hotspots": conform(tables, "signals").clear(),
            "callbacks": conform(tables, "detractor_followups").clear(),
            "themes": pl.DataFrame(schema={"theme": pl.String, "mentions": pl.UInt32}),
            "comments": conform(tables, "feedback_themes").clear(),
        }

    def scope(
        client_id: str | None,
        anchor: str,
        name: str,
        segment: str | None = None,
        relationship_end: date | None = None,
    ) -> Scope:
        measures = _measures(measure_parts.get(client_id, pl.DataFrame()))
        lists = {key: parts.get(key, {}).get(client_id, empty_scope[key]) for key in empty_scope}
        return Scope(
            client_id=client_id,
            anchor=anchor,
            name=name,
            segment=segment,
            relationship_end=relationship_end,
            headlines=tuple(m for m in measures if m.segment is None and m.metric in HEADLINES),
            measures=tuple(
                m
                for m in measures
                if not (m.segment is None and m.metric in HEADLINES)
                and (m.target is not None or m.benchmark is not None)
            ),
            **lists,
        )

    taken: set[str] = {"all-clients"}
    scopes = [scope(None, "all-clients", "All clients")]
    scopes += [
        scope(
            row["client_id"],
            _anchor(row["client_id"], taken),
            row["name"],
            row["segment"],
            row["relationship_end"],
        )
        for row in clients.iter_rows(named=True)
    ]
    used = {
        (m.title, m.benchmark.source or "")
        for s in scopes
        for m in (*s.headlines, *s.measures)
        if m.benchmark is not None
    }
    versions = manifest.get("versions")
    return Scorecard(
        run_id=str(manifest.get("run_id") or _first(values, "run_id") or "unknown run"),
        grain=grain,
        periods=periods,
        window_start=periods[0] if periods else None,
        window_end=_last_day(values),
        computed_at=_computed_at(manifest, values),
        targets_source=targets_source,
        scopes=tuple(scopes),
        accounting=tuple(accounting_rows(dict(manifest))) if "sources" in manifest else (),
        benchmark_sources=tuple(sorted(used)),
        cxpipe_version=versions.get("cxpipe") if isinstance(versions, Mapping) else None,
    )


def _last_day(values: pl.DataFrame) -> date | None:
    end = values.get_column("period_end").max()
    return end if isinstance(end, date) else None


def _first(frame: pl.DataFrame, column: str) -> Any:
    return frame.get_column(column)[0] if frame.height else None


def _computed_at(manifest: Mapping[str, Any], values: pl.DataFrame) -> str | None:
    """When the run finished (the manifest), else when its values were computed."""
    for key in ("finished_at", "started_at"):
        if isinstance(manifest.get(key), str):
            return str(manifest[key])
    computed = values.get_column("computed_at").max() if values.height else None
    return computed.isoformat() if isinstance(computed, datetime) else None
