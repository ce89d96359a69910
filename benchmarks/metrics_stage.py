"""Benchmark of the metric stage (issue 4): cxpipe against hand-written polars and DuckDB SQL.

Each contender runs in its own fresh subprocess, on the same data read from the same cached
Parquet files (:mod:`generate`), so timings and peak memory do not contaminate each other:

* ``cxpipe-headline`` — the headline metric computations of ``CORE_METRICS`` planned with
  ``MetricSpec.compute`` and collected together with ``pl.collect_all``, exactly as
  :func:`cxpipe.run.compute_metrics` does;
* ``cxpipe-catalog`` — the same for every computation in ``CORE_METRICS`` at run time;
* ``polars`` — the headline metrics written by hand in polars (one lazy query per metric,
  additive aggregates computed once per period × client and rolled up, ``collect_all``);
* ``duckdb`` — the headline metrics in one DuckDB SQL statement (``GROUPING SETS``), on
  native DuckDB tables loaded from the Parquet files before timing.

Timed: planning + collection of the metric values, from in-memory data (loading is not
timed). One warm-up run, then ``--repeat`` timed runs; the median counts. Peak memory is
the process's high-water RSS during the timed runs (``VmHWM``, reset before each run
through ``/proc/self/clear_refs``), so it includes the resident input data; the resident
size after loading is reported next to it. The baselines' output must equal cxpipe's
headline output row for row (values to 1e-9 relative) or the ratios are not reported.

Usage::

    python benchmarks/metrics_stage.py --tickets 10000000 --responses 1000000 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Final

import polars as pl
from generate import DEFAULT_CACHE, DEFAULT_CHUNK, ensure_dataset, load_frames

from cxpipe.report import HEADLINES

HEADLINE: Final = HEADLINES
"""The headline metric computations (with what they also emit: p50/p90, nps_moe, cx_*)."""
VOLUME_SEGMENTS: Final = ("request_type", "priority")
"""What ``ticket_volume`` is segmented by besides its unsegmented rows."""
CONTENDERS: Final = ("cxpipe-headline", "polars", "duckdb", "cxpipe-catalog")
KEYS: Final = ("metric", "period_start", "client_id", "segment")
TOLERANCE: Final = 1e-9
PROXIES: Final = (
    "timeliness",
    "communication",
    "responsiveness",
    "cost_transparency",
    "accessibility",
)
Runner = Callable[[], pl.DataFrame]


# --- machine and memory --------------------------------------------------------------------
def machine() -> dict[str, str]:
    """What the figures were measured on."""
    cpuinfo = (
        Path("/proc/cpuinfo").read_text(encoding="utf-8") if Path("/proc/cpuinfo").exists() else ""
    )
    model = re.search(r"model name\s*:\s*(.+)", cpuinfo)
    meminfo = (
        Path("/proc/meminfo").read_text(encoding="utf-8") if Path("/proc/meminfo").exists() else ""
    )
    total = re.search(r"MemTotal:\s*(\d+) kB", meminfo)
    info = {
        "cpu": model.group(1).strip() if model else platform.processor(),
        "cpus (nproc)": str(len(os.sched_getaffinity(0))),
        "memory": f"{int(total.group(1)) / 2**20:.1f} GiB" if total else "?",
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }
    for dist in ("polars", "duckdb", "pyarrow", "numpy", "cxpipe"):
        try:
            info[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            info[dist] = "not installed"
    return info


def _status_kib(field: str) -> int | None:
    try:
        status = Path("/proc/self/status").read_text(encoding="utf-8")
    except OSError:
        return None
    found = re.search(rf"{field}:\s*(\d+) kB", status)
    return int(found.group(1)) if found else None


def reset_peak() -> bool:
    """Reset the high-water RSS mark (Linux ≥ 4.0); False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5", encoding="utf-8")
    except OSError:
        return False
    return True


def peak_mib() -> float:
    kib = _status_kib("VmHWM")
    if kib is None:  # not Linux: the lifetime peak (kB on Linux, bytes on macOS)
        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        kib = kib // 1024 if sys.platform == "darwin" else kib
    return kib / 1024


def rss_mib() -> float:
    kib = _status_kib("VmRSS")
    return kib / 1024 if kib is not None else peak_mib()


# --- shared helpers ------------------------------------------------------------------------
def metric_settings() -> dict[str, Any]:
    """The ``[metrics]`` table of a default config: what every contender computes with."""
    from cxpipe.config import MetricSettings

    return MetricSettings().model_dump()


def sla_resolve_hours(settings: Mapping[str, Any]) -> dict[str, float]:
    return {
        priority: float(target["resolve_hours"])
        for priority, target in settings["sla_targets"].items()
        if target.get("resolve_hours") is not None
    }


def month_floor(day: date) -> date:
    return day.replace(day=1)


def result_schema() -> pl.Schema:
    from cxpipe.metrics.aggregate import RESULT_SCHEMA

    return RESULT_SCHEMA


def conform(frame: pl.DataFrame) -> pl.DataFrame:
    schema = result_schema()
    return frame.select(pl.col(name).cast(dtype) for name, dtype in schema.items())


# --- contender: cxpipe ---------------------------------------------------------------------
def cxpipe_runner(
    frames: Mapping[str, pl.DataFrame],
    window: tuple[date, date],
    only: Sequence[str] | None,
    notes: dict[str, Any],
) -> tuple[Runner, list[Any]]:
    """Plan the selected ``CORE_METRICS`` like ``run.compute_metrics`` and collect them."""
    from cxpipe.metrics.base import MetricContext
    from cxpipe.metrics.builtin import CORE_METRICS

    ctx = MetricContext(grain="month", settings=metric_settings(), window=window)
    lazy = {name: frame.lazy() for name, frame in frames.items()}
    specs = sorted(
        (s for s in CORE_METRICS if only is None or s.name in only), key=lambda s: s.name
    )
    missing = sorted(set(only or ()) - {s.name for s in specs})
    if missing:
        raise SystemExit(f"headline metric(s) not in CORE_METRICS: {', '.join(missing)}")
    runnable = []
    for spec in specs:
        absent = [e for e in spec.inputs if e not in lazy]
        if absent:
            notes.setdefault("skipped", {})[spec.name] = f"no {', '.join(absent)}"
            continue
        try:  # another worker's metric may be mid-edit: leave it out, say so, time the rest
            spec.compute(ctx, lazy).collect()
        except Exception as exc:
            notes.setdefault("failed", {})[spec.name] = f"{type(exc).__name__}: {exc}"[:300]
            continue
        runnable.append(spec)
    notes["specs"] = [s.name for s in runnable]
    notes["metrics"] = sorted({m for s in runnable for m in s.metric_names})

    def run() -> pl.DataFrame:
        planned = [spec.compute(ctx, lazy) for spec in runnable]
        return pl.concat(pl.collect_all(planned), how="vertical")

    def run_one(spec: Any) -> Runner:
        return lambda: spec.compute(ctx, lazy).collect()

    return run, [(spec.name, run_one(spec)) for spec in runnable]


# --- contender: hand-written polars --------------------------------------------------------
def _month(column: str) -> pl.Expr:
    return pl.col(column).dt.truncate("1mo").cast(pl.Date).alias("period_start")


def _rollup(fine: pl.LazyFrame, sums: Sequence[str], by: Sequence[str] = ()) -> pl.LazyFrame:
    """Per-client rows of ``fine`` plus the all-clients rows summed from them."""
    everyone = (
        fine.group_by("period_start", *by)
        .agg(pl.col(list(sums)).sum())
        .with_columns(client_id=pl.lit(None, pl.String))
    )
    return pl.concat([fine, everyone], how="diagonal_relaxed")


def _emit(
    frame: pl.LazyFrame,
    metric: str,
    value: pl.Expr,
    n: pl.Expr,
    *,
    numerator: pl.Expr | str | None = None,
    denominator: pl.Expr | str | None = None,
    segment: pl.Expr | None = None,
) -> pl.LazyFrame:
    none = pl.lit(None, pl.Float64)
    numerator = pl.col(numerator) if isinstance(numerator, str) else numerator
    denominator = pl.col(denominator) if isinstance(denominator, str) else denominator
    return frame.select(
        metric=pl.lit(metric),
        period_grain=pl.lit("month"),
        period_start="period_start",
        period_end=pl.col("period_start").dt.offset_by("1mo").dt.offset_by("-1d"),
        client_id="client_id",
        segment=segment if segment is not None else pl.lit(None, pl.String),
        value=value.cast(pl.Float64),
        numerator=numerator.cast(pl.Float64) if numerator is not None else none,
        denominator=denominator.cast(pl.Float64) if denominator is not None else none,
        sample_size=n.cast(pl.Int64),
    ).filter(pl.col("value").is_not_null() & pl.col("value").is_not_nan())


def _ratio(fine: pl.LazyFrame, metric: str, segment_by: str | None = None) -> pl.LazyFrame:
    """Ratio rows from ``fine`` (period_start, client_id[, segment_by], hits, n).

    With ``segment_by``, the unsegmented rows are rolled up from the segmented ones.
    """
    parts: list[tuple[pl.LazyFrame, pl.Expr | None]] = []
    if segment_by is not None:
        segment = pl.format(f"{segment_by}={{}}", pl.col(segment_by))
        parts.append((_rollup(fine, ("hits", "n"), by=(segment_by,)), segment))
        fine = fine.group_by("period_start", "client_id").agg(pl.col("hits", "n").sum())
    parts.append((_rollup(fine, ("hits", "n")), None))
    hits, n = pl.col("hits"), pl.col("n")
    return pl.concat(
        _emit(rows, metric, hits / n * 100, n, numerator=hits, denominator=n, segment=segment)
        for rows, segment in parts
    )


def polars_plans(
    frames: Mapping[str, pl.DataFrame], window: tuple[date, date], settings: Mapping[str, Any]
) -> list[pl.LazyFrame]:
    """The headline metrics as an engineer would write them in plain polars."""
    tickets = frames["tickets"].lazy()
    responses = frames["survey_responses"].lazy().filter(pl.col("respondent_side") == "client")
    plans: list[pl.LazyFrame] = []

    # ticket_volume: one group-by at the finest grain, rolled up to every segment and total.
    fine = tickets.group_by(_month("opened_at"), "client_id", *VOLUME_SEGMENTS).agg(n=pl.len())
    n = pl.col("n")
    volume = [
        _emit(
            _rollup(fine.group_by("period_start", "client_id", by).agg(n.sum()), ("n",), (by,)),
            "ticket_volume",
            n,
            n,
            segment=pl.format(f"{by}={{}}", pl.col(by)),
        )
        for by in VOLUME_SEGMENTS
    ]
    total = _rollup(fine.group_by("period_start", "client_id").agg(n.sum()), ("n",))
    plans.append(pl.concat([_emit(total, "ticket_volume", n, n), *volume]))

    # mttr_critical_hours (+ p50, p90): quantiles do not roll up, so two group-bys.
    critical = tickets.filter(
        (pl.col("priority") == "critical") & pl.col("resolved_at").is_not_null()
    ).select(
        _month("resolved_at"),
        "client_id",
        h=(pl.col("resolved_at") - pl.col("opened_at")).dt.total_microseconds() / 3.6e9,
    )
    aggs = [
        pl.col("h").sum().alias("s"),
        pl.len().alias("n"),
        pl.col("h").quantile(0.5, interpolation="linear").alias("p50"),
        pl.col("h").quantile(0.9, interpolation="linear").alias("p90"),
    ]
    mttr = pl.concat(
        [
            critical.group_by("period_start", "client_id").agg(aggs),
            critical.group_by("period_start")
            .agg(aggs)
            .with_columns(client_id=pl.lit(None, pl.String)),
        ],
        how="diagonal_relaxed",
    )
    n = pl.col("n")
    plans.append(
        pl.concat(
            [
                _emit(
                    mttr, "mttr_critical_hours", pl.col("s") / n, n, numerator="s", denominator="n"
                ),
                _emit(mttr, "mttr_critical_hours_p50", pl.col("p50"), n),
                _emit(mttr, "mttr_critical_hours_p90", pl.col("p90"), n),
            ]
        )
    )

    # sla_resolution_compliance_pct: due time from the source, else opened + target.
    target = pl.col("priority").replace_strict(
        sla_resolve_hours(settings), default=None, return_dtype=pl.Float64
    )
    due = pl.coalesce(
        "resolve_due_at",
        pl.col("opened_at") + pl.duration(microseconds=(target * 3.6e9).round().cast(pl.Int64)),
    )
    sla = (
        tickets.filter(pl.col("resolved_at").is_not_null())
        .with_columns(_due=due)
        .filter(pl.col("_due").is_not_null())
        .group_by(_month("resolved_at"), "client_id", "request_type")
        .agg(hits=(pl.col("resolved_at") <= pl.col("_due")).sum(), n=pl.len())
    )
    plans.append(_ratio(sla, "sla_resolution_compliance_pct", segment_by="request_type"))

    # csat_pct
    csat = (
        responses.filter(pl.col("csat").is_not_null())
        .group_by(_month("submitted_at"), "client_id")
        .agg(hits=(pl.col("csat") >= 4).sum(), n=pl.len())
    )
    plans.append(_ratio(csat, "csat_pct"))

    # nps (+ nps_moe)
    nps = _rollup(
        responses.filter(pl.col("nps_score").is_not_null())
        .group_by(_month("submitted_at"), "client_id")
        .agg(p=(pl.col("nps_score") >= 9).sum(), d=(pl.col("nps_score") <= 6).sum(), n=pl.len()),
        ("p", "d", "n"),
    ).with_columns(pl.col("p", "d", "n").cast(pl.Float64))
    ps, ds = pl.col("p") / n, pl.col("d") / n
    moe = 1.96 * ((ps + ds - (ps - ds) ** 2).clip(lower_bound=0.0) / n).sqrt() * 100
    net = pl.col("p") - pl.col("d")
    plans.append(
        pl.concat(
            [
                _emit(nps, "nps", net / n * 100, n, numerator=net, denominator=n),
                _emit(nps, "nps_moe", moe, n),
            ]
        )
    )

    # client_experience_rating (+ cx_<proxy>): per-response weighted mean of present proxies.
    weights = {p: float(settings["proxy_weights"].get(p, 1.0)) for p in PROXIES}
    weighted = pl.sum_horizontal(
        (pl.col(p).cast(pl.Float64) * weights[p]).fill_null(0.0) for p in PROXIES
    )
    weight = pl.sum_horizontal(
        pl.col(p).is_not_null().cast(pl.Float64) * weights[p] for p in PROXIES
    )
    scaled = {
        "client_experience_rating": pl.when(weight > 0).then(weighted / weight),
        **{f"cx_{p}": pl.col(p).cast(pl.Float64) for p in PROXIES},
    }
    sums = [f"{m}_{k}" for m in scaled for k in ("s", "n")]
    cx = _rollup(
        responses.select(
            _month("submitted_at"),
            "client_id",
            **{m: (x - 1.0) / 4.0 * 100.0 for m, x in scaled.items()},
        )
        .group_by("period_start", "client_id")
        .agg(
            *(pl.col(m).sum().alias(f"{m}_s") for m in scaled),
            *(pl.col(m).count().alias(f"{m}_n") for m in scaled),
        ),
        sums,
    )
    plans.append(
        pl.concat(
            [
                _emit(
                    cx.filter(pl.col(f"{m}_n") > 0),
                    m,
                    pl.col(f"{m}_s") / pl.col(f"{m}_n"),
                    pl.col(f"{m}_n"),
                    numerator=f"{m}_s",
                    denominator=f"{m}_n",
                )
                for m in scaled
            ]
        )
    )

    # projects_on_time_pct
    grace = pl.duration(days=int(settings["on_time_grace_days"]))
    projects = (
        frames["projects"]
        .lazy()
        .filter(pl.col("actual_end").is_not_null())
        .group_by(_month("actual_end"), "client_id")
        .agg(hits=(pl.col("actual_end") <= pl.col("planned_end") + grace).sum(), n=pl.len())
    )
    plans.append(_ratio(projects, "projects_on_time_pct"))

    # client_retention_rate_pct: clients × the window's months, all-clients rows only.
    periods = pl.LazyFrame(
        {
            "period_start": pl.date_range(
                month_floor(window[0]), month_floor(window[1]), "1mo", eager=True
            )
        }
    )
    end, start = pl.col("relationship_end"), pl.col("period_start")
    last = start.dt.offset_by("1mo").dt.offset_by("-1d")
    retention = (
        frames["clients"]
        .lazy()
        .join(periods, how="cross")
        .filter((pl.col("relationship_start") < start) & (end.is_null() | (end >= start)))
        .group_by("period_start")
        .agg(hits=(end.is_null() | (end > last)).sum(), n=pl.len())
        .with_columns(client_id=pl.lit(None, pl.String))
    )
    plans.append(
        _emit(
            retention,
            "client_retention_rate_pct",
            pl.col("hits") / n * 100,
            n,
            numerator="hits",
            denominator="n",
        )
    )
    return plans


def polars_runner(
    frames: Mapping[str, pl.DataFrame], window: tuple[date, date], settings: Mapping[str, Any]
) -> Runner:
    def run() -> pl.DataFrame:
        return pl.concat(pl.collect_all(polars_plans(frames, window, settings)), how="vertical")

    return run


# --- contender: DuckDB SQL -----------------------------------------------------------------
def _grouping_sets(segments: Sequence[str | None]) -> str:
    """Per client and all clients, for each segment column (``None``: unsegmented)."""
    return ", ".join(
        f"(p{', client_id' if per_client else ''}{', ' + by if by else ''})"
        for by in segments
        for per_client in (True, False)
    )


def _rolled_up(fine: str, sums: Sequence[str], segments: Sequence[str | None] = (None,)) -> str:
    """Sum the additive columns of a fine aggregate up to every grouping set.

    Rolling up the small per-client aggregate is cheaper than ``GROUPING SETS`` over the
    raw rows, as an engineer writing this by hand would do.
    """
    columns = [by for by in segments if by]
    segment = (
        "CASE " + " ".join(f"WHEN grouping({b}) = 0 THEN '{b}=' || {b}" for b in columns) + " END"
        if columns
        else "NULL"
    )
    return (
        f"SELECT p, client_id, {segment} AS segment, "
        + ", ".join(f"sum({c})::DOUBLE AS {c}" for c in sums)
        + f" FROM ({fine}) GROUP BY GROUPING SETS ({_grouping_sets(segments)})"
    )


def duckdb_sql(window: tuple[date, date], settings: Mapping[str, Any]) -> str:
    """The headline metrics as one SQL statement: each additive metric aggregated once per
    period × client (× segment) and rolled up with ``GROUPING SETS``."""
    hours = sla_resolve_hours(settings)
    target = "CASE priority " + " ".join(f"WHEN '{p}' THEN {h!r}" for p, h in hours.items())
    target += " END"
    weights = {p: float(settings["proxy_weights"].get(p, 1.0)) for p in PROXIES}
    weighted = " + ".join(f"coalesce({p} * {w!r}, 0)" for p, w in weights.items())
    weight = " + ".join(f"({p} IS NOT NULL)::DOUBLE * {w!r}" for p, w in weights.items())
    measures = {
        "client_experience_rating": f"CASE WHEN ({weight}) > 0 THEN ({weighted}) / ({weight}) END",
        **{f"cx_{p}": f"{p}::DOUBLE" for p in PROXIES},
    }
    cx_rows = "\nUNION ALL ".join(
        f"SELECT '{m}', p, client_id, NULL, {m}_s / {m}_n, {m}_s, {m}_n, {m}_n "
        f"FROM cx WHERE {m}_n > 0"
        for m in measures
    )
    grace = int(settings["on_time_grace_days"])
    first, last = month_floor(window[0]), month_floor(window[1])
    month = "CAST(date_trunc('month', {}) AS DATE)"
    ratio_sql = "hits / n * 100, hits, n, n::BIGINT"
    volume = _rolled_up(
        f"SELECT {month.format('opened_at')} AS p, client_id, {', '.join(VOLUME_SEGMENTS)}, "
        "count(*) AS n FROM tickets GROUP BY ALL",
        ("n",),
        (*VOLUME_SEGMENTS, None),
    )
    sla = _rolled_up(
        f"""SELECT p, client_id, request_type, count_if(resolved_at <= due) AS hits, count(*) AS n
        FROM (SELECT {month.format("resolved_at")} AS p, client_id, request_type, resolved_at,
                     coalesce(resolve_due_at, opened_at
                       + to_microseconds(CAST(round(({target}) * 3.6e9) AS BIGINT))) AS due
              FROM tickets WHERE resolved_at IS NOT NULL)
        WHERE due IS NOT NULL GROUP BY ALL""",
        ("hits", "n"),
        ("request_type", None),
    )
    csat = _rolled_up(
        f"SELECT {month.format('submitted_at')} AS p, client_id, count_if(csat >= 4) AS hits, "
        "count(*) AS n FROM responses WHERE csat IS NOT NULL GROUP BY ALL",
        ("hits", "n"),
    )
    nps = _rolled_up(
        f"SELECT {month.format('submitted_at')} AS p, client_id, count_if(nps_score >= 9) AS pr, "
        "count_if(nps_score <= 6) AS de, count(*) AS n "
        "FROM responses WHERE nps_score IS NOT NULL GROUP BY ALL",
        ("pr", "de", "n"),
    )
    cx = _rolled_up(
        "SELECT p, client_id, "
        + ", ".join(f"sum({m}) AS {m}_s, count({m}) AS {m}_n" for m in measures)
        + f" FROM (SELECT {month.format('submitted_at')} AS p, client_id, "
        + ", ".join(f"({x} - 1) / 4 * 100 AS {m}" for m, x in measures.items())
        + " FROM responses) GROUP BY ALL",
        [f"{m}_{k}" for m in measures for k in ("s", "n")],
    )
    on_time = _rolled_up(
        f"SELECT {month.format('actual_end')} AS p, client_id, "
        f"count_if(actual_end <= planned_end + INTERVAL {grace} DAY) AS hits, count(*) AS n "
        "FROM projects WHERE actual_end IS NOT NULL GROUP BY ALL",
        ("hits", "n"),
    )
    return f"""
WITH
responses AS (SELECT * FROM survey_responses WHERE respondent_side = 'client'),
volume AS ({volume}),
mttr AS MATERIALIZED (
  SELECT p, client_id, sum(h) AS s, count(*) AS n,
         quantile_cont(h, 0.5) AS p50, quantile_cont(h, 0.9) AS p90
  FROM (SELECT {month.format("resolved_at")} AS p, client_id,
               (epoch_us(resolved_at) - epoch_us(opened_at)) / 3.6e9 AS h
        FROM tickets WHERE priority = 'critical' AND resolved_at IS NOT NULL)
  GROUP BY GROUPING SETS ({_grouping_sets([None])})
),
sla AS ({sla}),
csat AS ({csat}),
nps AS MATERIALIZED (SELECT *, pr / n AS ps, de / n AS ds FROM ({nps})),
cx AS MATERIALIZED ({cx}),
on_time AS ({on_time}),
periods AS (
  SELECT CAST(unnest(generate_series(DATE '{first}', DATE '{last}', INTERVAL 1 MONTH)) AS DATE)
         AS p
),
retention AS (
  SELECT p, count_if(hit)::DOUBLE AS hits, count(*)::DOUBLE AS n
  FROM (SELECT p, relationship_end IS NULL
                  OR relationship_end > p + INTERVAL 1 MONTH - INTERVAL 1 DAY AS hit
        FROM clients, periods
        WHERE relationship_start < p AND (relationship_end IS NULL OR relationship_end >= p))
  GROUP BY p
)
SELECT 'ticket_volume' AS metric, p AS period_start, client_id, segment,
       n AS value, NULL::DOUBLE AS numerator, NULL::DOUBLE AS denominator,
       n::BIGINT AS sample_size
FROM volume
UNION ALL SELECT 'mttr_critical_hours', p, client_id, NULL, s / n, s, n, n FROM mttr
UNION ALL SELECT 'mttr_critical_hours_p50', p, client_id, NULL, p50, NULL, NULL, n FROM mttr
UNION ALL SELECT 'mttr_critical_hours_p90', p, client_id, NULL, p90, NULL, NULL, n FROM mttr
UNION ALL SELECT 'sla_resolution_compliance_pct', p, client_id, segment, {ratio_sql} FROM sla
UNION ALL SELECT 'csat_pct', p, client_id, NULL, {ratio_sql} FROM csat
UNION ALL SELECT 'nps', p, client_id, NULL, (pr - de) / n * 100, pr - de, n, n::BIGINT FROM nps
UNION ALL SELECT 'nps_moe', p, client_id, NULL,
                 1.96 * sqrt(greatest(ps + ds - (ps - ds) ^ 2, 0) / n) * 100, NULL, NULL,
                 n::BIGINT
          FROM nps
UNION ALL {cx_rows}
UNION ALL SELECT 'projects_on_time_pct', p, client_id, NULL, {ratio_sql} FROM on_time
UNION ALL SELECT 'client_retention_rate_pct', p, NULL, NULL, {ratio_sql} FROM retention
"""


def duckdb_runner(
    folder: Path, window: tuple[date, date], settings: Mapping[str, Any], threads: int
) -> Runner:
    import duckdb

    con = duckdb.connect(config={"threads": threads})
    con.execute("SET TimeZone = 'UTC'")
    for entity in ("tickets", "survey_responses", "projects", "clients"):
        path = (folder / entity / "*.parquet").as_posix()
        con.execute(f"CREATE TABLE {entity} AS SELECT * FROM read_parquet('{path}')")
    sql = duckdb_sql(window, settings)
    schema = result_schema()

    def run() -> pl.DataFrame:
        frame: pl.DataFrame = con.sql(sql).pl()
        return frame.with_columns(
            period_grain=pl.lit("month"),
            period_end=pl.col("period_start").dt.offset_by("1mo").dt.offset_by("-1d"),
        ).select(pl.col(name).cast(dtype) for name, dtype in schema.items())

    return run


# --- worker: one contender in this (fresh) process -----------------------------------------
@dataclass
class Timing:
    """The timed runs of one contender (after one warm-up run)."""

    seconds: list[float]
    """Wall-clock seconds per run: what the targets are about."""
    cpu: list[float]
    """CPU seconds per run, all threads of the process: steadier on a busy machine."""
    peak_mib: float
    """The highest RSS during any timed run."""
    result: pl.DataFrame


def _timed(runner: Runner, repeat: int) -> Timing:
    result = runner()
    timing = Timing([], [], 0.0, result)
    for _ in range(repeat):
        del result
        timing.result = pl.DataFrame()
        reset_peak()
        cpu, start = time.process_time(), time.perf_counter()
        result = runner()
        timing.seconds.append(time.perf_counter() - start)
        timing.cpu.append(time.process_time() - cpu)
        timing.peak_mib = max(timing.peak_mib, peak_mib())
    timing.result = result
    return timing


def worker(args: argparse.Namespace) -> None:
    """Run one contender in this fresh process and print its figures as a ``RESULT`` line.

    Every worker imports the same libraries first, so the resident sizes differ only by the
    data each engine holds.
    """
    import duckdb  # noqa: F401

    import cxpipe.metrics.builtin  # noqa: F401

    folder, contender = args.data, args.worker
    window = (date.fromisoformat(args.window[0]), date.fromisoformat(args.window[1]))
    settings = metric_settings()
    notes: dict[str, Any] = {}
    profile: list[Any] = []
    if contender == "duckdb":
        runner = duckdb_runner(folder, window, settings, args.threads)
        data_rss = rss_mib()
    else:
        frames = load_frames(folder)
        data_rss = rss_mib()
        if contender == "polars":
            runner = polars_runner(frames, window, settings)
        else:
            only = HEADLINE if contender == "cxpipe-headline" else None
            runner, profile = cxpipe_runner(frames, window, only, notes)
    exact_peak = reset_peak()
    timing = _timed(runner, args.repeat)
    if args.per_metric and contender == "cxpipe-catalog":
        alone = {name: _timed(run_one, args.repeat) for name, run_one in profile}
        notes["per_metric"] = {
            name: [statistics.median(t.seconds), statistics.median(t.cpu)]
            for name, t in alone.items()
        }
    conform(timing.result).write_parquet(args.out)
    report = {
        "contender": contender,
        "seconds": timing.seconds,
        "median": statistics.median(timing.seconds),
        "cpu": timing.cpu,
        "median_cpu": statistics.median(timing.cpu),
        "data_rss_mib": data_rss,
        "peak_rss_mib": timing.peak_mib,
        "peak_is_lifetime": not exact_peak,
        "rows": timing.result.height,
        **notes,
    }
    print("RESULT " + json.dumps(report))


# --- orchestrator --------------------------------------------------------------------------
def data_window(folder: Path) -> tuple[date, date]:
    """The run's window, computed the way ``cxpipe.run`` does (not timed)."""
    from cxpipe.run import data_window as window_of

    frames = {
        entity: pl.scan_parquet(folder / entity / "*.parquet")
        for entity in ("tickets", "survey_responses", "projects", "survey_invitations")
    }
    window = window_of(frames)
    if window is None:
        raise SystemExit("the dataset has no dated rows")
    return window


def spawn(
    contender: str, folder: Path, window: tuple[date, date], out: Path, args: argparse.Namespace
) -> dict[str, Any]:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        contender,
        "--data",
        str(folder),
        "--window",
        window[0].isoformat(),
        window[1].isoformat(),
        "--out",
        str(out),
        "--repeat",
        str(args.repeat),
        "--threads",
        str(args.threads),
        *(["--per-metric"] if args.per_metric else []),
    ]
    env = {**os.environ, "POLARS_MAX_THREADS": str(args.threads)}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"contender {contender} failed (exit {done.returncode})")
    report: dict[str, Any] = json.loads(lines[-1].removeprefix("RESULT "))
    return report


def differences(expected: pl.DataFrame, actual: pl.DataFrame) -> list[str]:
    """How ``actual`` differs from ``expected`` (empty when they agree)."""
    problems: list[str] = []
    for name, frame in (("expected", expected), ("actual", actual)):
        dupes = frame.height - frame.select(KEYS).unique().height
        if dupes:
            problems.append(f"{name} has {dupes} duplicate key rows")
    joined = expected.join(actual, on=list(KEYS), how="full", nulls_equal=True, suffix="_b")
    only_expected = joined.filter(pl.col("metric_b").is_null())
    only_actual = joined.filter(pl.col("metric").is_null())
    for label, rows in (("missing", only_expected), ("extra", only_actual)):
        if rows.height:
            sample = rows.select(pl.coalesce("metric", "metric_b")).to_series().unique().to_list()
            problems.append(f"{rows.height} {label} rows (metrics {sorted(sample)[:8]})")
    both = joined.filter(pl.col("metric").is_not_null() & pl.col("metric_b").is_not_null())
    for column in ("value", "numerator", "denominator", "sample_size", "period_end"):
        a, b = pl.col(column), pl.col(f"{column}_b")
        if column in ("sample_size", "period_end"):
            bad = a.ne_missing(b)
        else:
            scale = pl.max_horizontal(a.abs(), b.abs(), pl.lit(1.0))
            bad = (a.is_null() != b.is_null()) | ((a - b).abs() > TOLERANCE * scale)
        wrong = both.filter(bad)
        if wrong.height:
            first = wrong.select(*KEYS, column, f"{column}_b").row(0)
            problems.append(f"{wrong.height} rows differ in {column}, e.g. {first}")
    return problems


def _fmt_runs(seconds: Sequence[float]) -> str:
    return ", ".join(f"{s:.3f}" for s in seconds)


def report_markdown(
    reports: Mapping[str, dict[str, Any]],
    args: argparse.Namespace,
    meta: Mapping[str, Any],
    checks: Mapping[str, list[str]],
) -> str:
    def ratio(contender: str, baseline: str, key: str = "median") -> float:
        return float(reports[contender][key] / reports[baseline][key])

    cat = reports["cxpipe-catalog"]
    rows = meta["rows"]
    lines = [
        f"### Metric stage: {rows['tickets']:,} tickets, {rows['survey_responses']:,} survey "
        f"responses ({datetime.now(UTC):%Y-%m-%d})",
        "",
        f"Command: `python benchmarks/metrics_stage.py --tickets {args.tickets} "
        f"--responses {args.responses} --repeat {args.repeat}"
        f"{' --per-metric' if args.per_metric else ''}`  ",
        f"Data: {', '.join(f'{k} {v:,}' for k, v in rows.items())}; "
        f"polars and DuckDB threads: {args.threads}",
        "",
        "| contender | computes | wall s (median) | wall s (runs) | ÷ polars | ÷ DuckDB "
        "| CPU s (median) | CPU ÷ polars | CPU ÷ DuckDB "
        "| resident after load MiB | peak RSS MiB | peak − resident MiB |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    labels = {
        "cxpipe-headline": f"cxpipe, headline ({len(HEADLINE)} computations)",
        "polars": "hand-written polars, headline",
        "duckdb": "DuckDB SQL, headline",
        "cxpipe-catalog": f"cxpipe, whole catalog ({len(cat.get('specs', []))} computations)",
    }
    for contender in CONTENDERS:
        r = reports[contender]
        metrics = r.get("metrics")
        computes = f"{len(metrics)} metrics, " if metrics else ""
        lines.append(
            f"| {labels[contender]} | {computes}{r['rows']:,} rows | {r['median']:.3f} "
            f"| {_fmt_runs(r['seconds'])} | {ratio(contender, 'polars'):.2f} "
            f"| {ratio(contender, 'duckdb'):.2f} | {r['median_cpu']:.3f} "
            f"| {ratio(contender, 'polars', 'median_cpu'):.2f} "
            f"| {ratio(contender, 'duckdb', 'median_cpu'):.2f} "
            f"| {r['data_rss_mib']:,.0f} | {r['peak_rss_mib']:,.0f} "
            f"| {r['peak_rss_mib'] - r['data_rss_mib']:,.0f} |"
        )
    ok = all(not problems for problems in checks.values())
    vs_polars, vs_duckdb = ratio("cxpipe-headline", "polars"), ratio("cxpipe-headline", "duckdb")
    lines += [
        "",
        f"- cxpipe headline ÷ hand-written polars (wall): **{vs_polars:.2f}** (target ≤ 1.2: "
        f"{'met' if vs_polars <= 1.2 else 'NOT met'}); CPU "
        f"{ratio('cxpipe-headline', 'polars', 'median_cpu'):.2f}",
        f"- cxpipe headline ÷ DuckDB SQL (wall): **{vs_duckdb:.2f}** (target < 1: "
        f"{'met' if vs_duckdb < 1 else 'NOT met'}); CPU "
        f"{ratio('cxpipe-headline', 'duckdb', 'median_cpu'):.2f}",
        f"- baselines equal to cxpipe's headline output: {'yes' if ok else 'NO'}",
    ]
    if any(r.get("peak_is_lifetime") for r in reports.values()):
        lines.append("- peak RSS is the whole process's peak here (no /proc/self/clear_refs)")
    for key in ("skipped", "failed"):
        if cat.get(key):
            lines.append(f"- catalog computations {key}: {cat[key]}")
    if cat.get("per_metric"):
        per = sorted(cat["per_metric"].items(), key=lambda kv: -kv[1][1])
        total = sum(cpu for _, (_, cpu) in per)
        lines += [
            "",
            "Each cxpipe computation collected alone (medians; the catalog run shares work):",
            "",
            "| computation | wall s | CPU s | share of the CPU sum |",
            "|---|---:|---:|---:|",
            *(f"| {name} | {w:.3f} | {c:.3f} | {c / total:.0%} |" for name, (w, c) in per),
        ]
    return "\n".join(lines)


def orchestrate(args: argparse.Namespace) -> None:
    info = machine()
    print("Machine: " + "; ".join(f"{k} {v}" for k, v in info.items()), file=sys.stderr)
    folder = ensure_dataset(
        args.tickets,
        args.responses,
        seed=args.seed,
        chunk=args.chunk,
        cache=args.cache,
        say=lambda m: print(m, file=sys.stderr),
    )
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    window = data_window(folder)
    reports: dict[str, dict[str, Any]] = {}
    results: dict[str, pl.DataFrame] = {}
    with tempfile.TemporaryDirectory(prefix="cxpipe-bench-") as tmp:
        for contender in CONTENDERS:
            print(f"running {contender} …", file=sys.stderr)
            out = Path(tmp) / f"{contender}.parquet"
            reports[contender] = spawn(contender, folder, window, out, args)
            results[contender] = pl.read_parquet(out)
    checks = {
        contender: differences(results["cxpipe-headline"], results[contender])
        for contender in ("polars", "duckdb")
    }
    print(report_markdown(reports, args, meta, checks))
    print("\nMachine:\n")
    print("\n".join(f"- {k}: {v}" for k, v in info.items()))
    if args.json:
        payload = {"machine": info, "dataset": meta, "reports": reports, "checks": checks}
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    failed = {c: p for c, p in checks.items() if p}
    if failed:
        for contender, problems in failed.items():
            print(f"\n{contender} differs from cxpipe:", *problems, sep="\n  ", file=sys.stderr)
        raise SystemExit("baseline output differs from cxpipe's: the ratios above do not count")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=200_000)
    parser.add_argument("--responses", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs after one warm-up")
    parser.add_argument("--threads", type=int, default=2, help="polars and DuckDB threads")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--chunk", type=int, default=DEFAULT_CHUNK, help="tickets per slice")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="dataset cache folder")
    parser.add_argument("--per-metric", action="store_true", help="also time each computation")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument("--worker", choices=CONTENDERS, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--window", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.worker:
        worker(args)
    else:
        orchestrate(args)


if __name__ == "__main__":
    main()
