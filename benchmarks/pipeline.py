"""Benchmark of the whole pipeline (issue 7): ``cxpipe.run.run_pipeline`` against hand-written
polars and DuckDB SQL scripts that read the same files and write the same headline metrics.

The data is the cached benchmark dataset of :mod:`generate` (Parquet, one folder per entity,
already in the canonical schemas). A ``cxpipe.toml`` with one ``kind = "file"`` source per
entity (``path = "<dataset>/<entity>/*.parquet"``) is written next to a temporary output root,
and each contender runs once in its own fresh subprocess:

* ``cxpipe`` — ``run_pipeline(config)``: read + conform, validate (Great Expectations),
  every metric, the derived tables, signals and action plan, the Parquet write, and the
  HTML scorecard (reported apart). Per-stage times come from the run's ``timings_seconds``;
  the benchmark also wraps the top-level stages of :mod:`cxpipe.run` and the steps of
  :mod:`cxpipe.validation.gx` (without changing them) for finer times and each stage's peak
  RSS (``VmHWM``, reset through ``/proc/self/clear_refs`` before the stage);
* ``polars`` — read the Parquet files, compute the headline metrics by hand
  (``metrics_stage.polars_plans``), write them to Parquet;
* ``duckdb`` — load the Parquet files into DuckDB tables, run the headline metrics as one
  SQL statement (``metrics_stage.duckdb_sql``), ``COPY`` the result to Parquet.

Reported per contender: wall time (from the subprocess's own clock, imports excluded), CPU
time (all threads) and peak RSS (``VmHWM`` of the process over the whole run, imports
included). The baselines' metric values must equal the headline rows of cxpipe's
``metric_values`` output (as in ``metrics_stage.py``).

Usage::

    python benchmarks/pipeline.py --tickets 10000000 --responses 1000000 --json out.json
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import polars as pl
from generate import DEFAULT_CACHE, DEFAULT_CHUNK, ensure_dataset
from metrics_stage import (
    HEADLINE,
    KEYS,
    conform,
    data_window,
    differences,
    duckdb_sql,
    machine,
    metric_settings,
    peak_mib,
    polars_plans,
    reset_peak,
    result_schema,
    rss_mib,
)

CONTENDERS: Final = ("cxpipe", "polars", "duckdb")
SOURCES: Final = (
    "clients",
    "tickets",
    "projects",
    "survey_responses",
    "survey_invitations",
    "followups",
)
TARGET_SECONDS: Final = 60.0
TARGET_PEAK_GIB: Final = 6.0
GIB: Final = 1024.0


def write_config(folder: Path, workdir: Path) -> Path:
    """A ``cxpipe.toml`` reading every entity of the dataset with the built-in file source."""
    lines = ["[run]", 'period_grain = "month"', f'output = "{(workdir / "output").as_posix()}"']
    for entity in SOURCES:
        path = (folder / entity / "*.parquet").as_posix()
        lines += [
            "",
            "[[sources]]",
            f'name = "{entity}"',
            'kind = "file"',
            f'entity = "{entity}"',
            f'options = {{ path = "{path}", format = "parquet" }}',
        ]
    config = workdir / "cxpipe.toml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config


# --- stage probes (cxpipe worker) ------------------------------------------------------------
class Probe:
    """Wall time, CPU time and peak RSS per stage, from wrappers around cxpipe's functions."""

    def __init__(self) -> None:
        self.stages: dict[str, dict[str, float]] = {}
        self.steps: dict[str, float] = {}
        self.context: Any = None

    def stage(self, label: Callable[..., str], function: Callable[..., Any]) -> Callable[..., Any]:
        """``function`` timed as a top-level stage; its peak RSS measured from its start."""

        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            name = label(*args)
            reset_peak()
            cpu, start = time.process_time(), time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                entry = self.stages.setdefault(name, {"wall": 0.0, "cpu": 0.0, "peak_mib": 0.0})
                entry["wall"] += time.perf_counter() - start
                entry["cpu"] += time.process_time() - cpu
                entry["peak_mib"] = max(entry["peak_mib"], peak_mib())
                entry["rss_after_mib"] = rss_mib()

        return wrapper

    def step(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        """``function`` timed as a step inside a stage (no RSS reset: stages own that)."""

        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.steps[name] = self.steps.get(name, 0.0) + time.perf_counter() - start

        return wrapper


def install_probe() -> Probe:
    """Wrap the stages ``run_pipeline`` calls and the validation steps, in place."""
    from cxpipe import run
    from cxpipe.validation import gx

    probe = Probe()
    start_run = run.start_run

    def capture(*args: Any, **kwargs: Any) -> Any:
        probe.context = start_run(*args, **kwargs)
        return probe.context

    run.start_run = capture
    labels: dict[str, Callable[..., str]] = {
        "extract_source": lambda _ctx, source, *_: f"extract:{source.name}",
        "validate_source": lambda _ctx, conformed, *_: f"validate:{conformed.config.name}",
        "canonical_frames": lambda *_: "canonical_frames",
        "compute_metrics": lambda *_: "compute_metrics",
        "compute_derived": lambda *_: "compute_derived",
        "write_outputs": lambda *_: "write_outputs",
        "publish_scorecard": lambda *_: "publish_scorecard",
    }
    for name, label in labels.items():
        setattr(run, name, probe.stage(label, getattr(run, name)))
    for name in (
        "dedupe",
        "to_pandas",
        "_engine",
        "_run_gx",
        "_conform_findings",
        "_failing_rows",
        "_split",
    ):
        setattr(gx, name, probe.step(f"gx.{name}", getattr(gx, name)))
    return probe


def run_cxpipe(config_path: Path) -> dict[str, Any]:
    """``run_pipeline`` once; what it took, stage by stage."""
    from cxpipe.config import load_config

    probe = install_probe()
    from cxpipe import run

    config = load_config(config_path)
    cpu, start = time.process_time(), time.perf_counter()
    result = run.run_pipeline(config)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    manifest = result.manifest
    return {
        "wall": wall,
        "cpu": cpu,
        "timings_seconds": dict(probe.context.timings),
        "stages": probe.stages,
        "steps": probe.steps,
        "entities": manifest["entities"],
        "metric_rows": manifest["metrics"]["rows"],
        "metrics_computed": len(manifest["metrics"]["computed"]),
        "derived_rows": manifest["derived"]["rows"],
        "metric_values": str(Path(result.output_root) / "metric_values"),
    }


# --- baselines -------------------------------------------------------------------------------
def run_polars(folder: Path, window: Any, out: Path) -> dict[str, Any]:
    """Read the Parquet files, compute the headline metrics by hand, write Parquet."""
    cpu, start = time.process_time(), time.perf_counter()
    frames = {
        e: pl.read_parquet(folder / e / "*.parquet")
        for e in ("tickets", "survey_responses", "projects", "clients")
    }
    read = time.perf_counter() - start
    values = pl.concat(pl.collect_all(polars_plans(frames, window, metric_settings())))
    computed = time.perf_counter() - start
    values.write_parquet(out)
    wall = time.perf_counter() - start
    return {
        "wall": wall,
        "cpu": time.process_time() - cpu,
        "stages": {"read": read, "metrics": computed - read, "write": wall - computed},
        "rows": values.height,
    }


def run_duckdb(folder: Path, window: Any, out: Path, threads: int) -> dict[str, Any]:
    """Load the Parquet files into DuckDB tables, run the headline SQL, COPY to Parquet."""
    import duckdb

    cpu, start = time.process_time(), time.perf_counter()
    con = duckdb.connect(config={"threads": threads})
    con.execute("SET TimeZone = 'UTC'")
    for entity in ("tickets", "survey_responses", "projects", "clients"):
        path = (folder / entity / "*.parquet").as_posix()
        con.execute(f"CREATE TABLE {entity} AS SELECT * FROM read_parquet('{path}')")
    read = time.perf_counter() - start
    sql = duckdb_sql(window, metric_settings())
    period_end = "CAST(period_start + INTERVAL 1 MONTH - INTERVAL 1 DAY AS DATE)"
    full = f"SELECT *, 'month' AS period_grain, {period_end} AS period_end FROM ({sql})"
    con.execute(f"COPY ({full}) TO '{out.as_posix()}' (FORMAT parquet)")
    wall = time.perf_counter() - start
    rows = con.execute(f"SELECT count(*) FROM read_parquet('{out.as_posix()}')").fetchone()
    return {
        "wall": wall,
        "cpu": time.process_time() - cpu,
        "stages": {"read": read, "metrics + write": wall - read},
        "rows": int(rows[0]) if rows else 0,
    }


def worker(args: argparse.Namespace) -> None:
    """One contender in this fresh process; prints a ``RESULT`` JSON line."""
    import duckdb  # noqa: F401  # every worker imports the same libraries before timing

    import cxpipe.run  # noqa: F401

    window = data_window(args.data)
    base = rss_mib()
    if args.worker == "cxpipe":
        report = run_cxpipe(args.config)
    elif args.worker == "polars":
        report = run_polars(args.data, window, args.out)
    else:
        report = run_duckdb(args.data, window, args.out, args.threads)
    kib = Path("/proc/self/status").read_text(encoding="utf-8")
    # the cxpipe probe resets the high-water mark per stage: the run's peak is the highest
    stages = report["stages"].values() if args.worker == "cxpipe" else ()
    peaks = [peak_mib(), *(s["peak_mib"] for s in stages)]
    report |= {"contender": args.worker, "rss_before_mib": base, "peak_rss_mib": max(peaks)}
    report["vm_hwm_line"] = next((x for x in kib.splitlines() if x.startswith("VmHWM")), "")
    print("RESULT " + json.dumps(report))


# --- orchestrator ----------------------------------------------------------------------------
def spawn(contender: str, args: argparse.Namespace, **paths: Path) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", contender]
    for key, value in paths.items():
        command += [f"--{key}", str(value)]
    command += ["--threads", str(args.threads)]
    env = {**os.environ, "POLARS_MAX_THREADS": str(args.threads)}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        sys.stderr.write(done.stdout[-5000:] + done.stderr[-5000:])
        raise SystemExit(f"contender {contender} failed (exit {done.returncode})")
    report: dict[str, Any] = json.loads(lines[-1].removeprefix("RESULT "))
    return report


def headline_values(metric_values: Path) -> pl.DataFrame:
    """cxpipe's headline rows from its written ``metric_values``, in the baselines' schema."""
    from cxpipe.metrics.builtin import CORE_METRICS

    names = {m for s in CORE_METRICS if s.name in HEADLINE for m in s.metric_names}
    frame = pl.read_parquet(metric_values, hive_partitioning=True)
    frame = frame.filter(pl.col("metric").is_in(sorted(names)))
    schema = result_schema()
    return frame.select(pl.col(n).cast(t) for n, t in schema.items()).sort(KEYS, nulls_last=True)


@contextmanager
def workspace(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    with tempfile.TemporaryDirectory(prefix="cxpipe-pipeline-") as tmp:
        yield Path(tmp)


def report_markdown(
    reports: Mapping[str, dict[str, Any]], meta: Mapping[str, Any], checks: Mapping[str, Any]
) -> str:
    cx, pol, duck = reports["cxpipe"], reports["polars"], reports["duckdb"]
    scorecard = cx["timings_seconds"].get("scorecard", 0.0)
    pipeline = cx["wall"] - scorecard
    rows = meta["rows"]
    lines = [
        f"### {rows['tickets']:,} tickets, {rows['survey_responses']:,} survey responses "
        f"({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
        "",
        "| contender | wall s | CPU s | peak RSS MiB | ÷ polars (wall) | ÷ DuckDB (wall) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, r, wall in (
        ("cxpipe run_pipeline, without scorecard", cx, pipeline),
        ("cxpipe run_pipeline, with scorecard", cx, cx["wall"]),
        ("hand-written polars (read, headline metrics, write)", pol, pol["wall"]),
        ("DuckDB SQL (load, headline metrics, COPY)", duck, duck["wall"]),
    ):
        lines.append(
            f"| {label} | {wall:.1f} | {r['cpu']:.1f} | {r['peak_rss_mib']:,.0f} "
            f"| {wall / pol['wall']:.2f} | {wall / duck['wall']:.2f} |"
        )
    lines += ["", "cxpipe stages (wrapped, in order; peak RSS measured from each stage's start):"]
    lines += [
        "",
        "| stage | wall s | CPU s | peak RSS MiB | RSS after MiB |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, s in cx["stages"].items():
        lines.append(
            f"| {name} | {s['wall']:.2f} | {s['cpu']:.2f} | {s['peak_mib']:,.0f} "
            f"| {s['rss_after_mib']:,.0f} |"
        )
    staged = sum(s["wall"] for s in cx["stages"].values())
    lines.append(f"| (outside the wrapped stages) | {cx['wall'] - staged:.2f} | | | |")
    lines += ["", "Manifest `timings_seconds`: " + json.dumps(cx["timings_seconds"])]
    lines += [
        "",
        "Validation steps (s, all sources): "
        + json.dumps({k: round(v, 2) for k, v in cx["steps"].items()}),
    ]
    peak_gib = cx["peak_rss_mib"] / GIB
    lines += [
        "",
        f"- target {TARGET_SECONDS:.0f} s: {pipeline:.1f} s without the scorecard "
        f"({'met' if pipeline <= TARGET_SECONDS else 'NOT met'})",
        f"- target {TARGET_PEAK_GIB:.0f} GiB: peak {peak_gib:.2f} GiB "
        f"({'met' if peak_gib <= TARGET_PEAK_GIB else 'NOT met'})",
        "- quarantined: "
        + json.dumps({k: v["rows_quarantined"] for k, v in cx["entities"].items()}),
        f"- baselines equal to cxpipe's headline metric values: "
        f"{'yes' if not any(checks.values()) else json.dumps(checks)}",
    ]
    return "\n".join(lines)


def orchestrate(args: argparse.Namespace) -> None:
    info = machine()
    say = functools.partial(print, file=sys.stderr)
    say("Machine: " + "; ".join(f"{k} {v}" for k, v in info.items()))
    say(f"load average before: {os.getloadavg()}")
    folder = ensure_dataset(
        args.tickets, args.responses, seed=args.seed, chunk=args.chunk, cache=args.cache, say=say
    )
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    loads = {"before": os.getloadavg()}
    reports: dict[str, dict[str, Any]] = {}
    checks: dict[str, list[str]] = {}
    with workspace(args.keep) as work:
        config = write_config(folder, work)
        for contender in args.only or CONTENDERS:
            say(f"running {contender} …")
            out = work / f"{contender}.parquet"
            if contender == "cxpipe":
                reports[contender] = spawn(contender, args, data=folder, config=config)
            else:
                reports[contender] = spawn(contender, args, data=folder, out=out)
            loads[f"after {contender}"] = os.getloadavg()
            say(
                f"  {contender}: {reports[contender]['wall']:.1f} s wall, "
                f"{reports[contender]['peak_rss_mib']:,.0f} MiB peak"
            )
        if set(CONTENDERS) <= set(reports):
            expected = headline_values(Path(reports["cxpipe"]["metric_values"]))
            for contender in ("polars", "duckdb"):
                actual = conform(pl.read_parquet(work / f"{contender}.parquet"))
                checks[contender] = differences(expected, actual)
    if set(CONTENDERS) <= set(reports):
        print(report_markdown(reports, meta, checks))
    print("\nMachine:\n\n" + "\n".join(f"- {k}: {v}" for k, v in info.items()))
    print(f"- load average: {loads}")
    if args.json:
        payload = {
            "command": " ".join(sys.argv),
            "machine": info,
            "load_average": loads,
            "dataset": meta,
            "reports": reports,
            "checks": checks,
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=200_000)
    parser.add_argument("--responses", type=int, default=20_000)
    parser.add_argument("--threads", type=int, default=2, help="polars and DuckDB threads")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--chunk", type=int, default=DEFAULT_CHUNK, help="tickets per slice")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="dataset cache folder")
    parser.add_argument("--only", nargs="+", choices=CONTENDERS, help="run only these")
    parser.add_argument("--keep", type=Path, help="work folder to keep (config, outputs)")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument("--worker", choices=CONTENDERS, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--config", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
    else:
        orchestrate(args)


if __name__ == "__main__":
    main()
