"""A run killed with SIGKILL mid-write never leaves a torn or mixed output, and the next run
recovers.

Each case copies a complete earlier run's output root, then runs the pipeline in a child
process that SIGKILLs itself at a chosen point of ``ParquetSink``'s publish (a real kill: no
``finally``, no ``atexit``). The state the kill left is copied aside for inspection, so the
checks on it do not depend on test order; then the pipeline runs again, in this process,
over the killed root.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow.dataset as ds
import pytest
from polars.testing import assert_frame_equal

from cxpipe.config import parse_config
from cxpipe.run import RunResult, run_pipeline
from tests.conftest import DemoConfigData

pytestmark = pytest.mark.slow

SOURCES = ("clients", "tickets")
"""Enough for 24 monthly partitions and the dimension tables, and quick to validate."""

GRAIN_KEY = ("metric", "period_grain", "period_start", "client_id", "segment")

KILL_SCRIPT = textwrap.dedent(
    """
    import json, os, signal, sys
    from pathlib import Path

    from cxpipe.config import parse_config
    from cxpipe.run import run_pipeline
    from cxpipe.sinks.parquet import ParquetSink

    config, data_dir, output, method, allowed = sys.argv[1:]
    original = getattr(ParquetSink, method)
    calls = 0

    def kill_after_allowed_calls(self, *args):
        global calls
        if calls == int(allowed):
            os.kill(os.getpid(), signal.SIGKILL)
        calls += 1
        return original(self, *args)

    setattr(ParquetSink, method, kill_after_allowed_calls)
    run_pipeline(parse_config(json.loads(config), base_dir=Path(data_dir)), output=output)
    sys.exit("the run finished: the kill never happened")
    """
)


@dataclass(frozen=True)
class KillPoint:
    method: str
    """The ``ParquetSink`` method wrapped: ``_stage`` (write one hidden file) or ``_move``
    (rename one staged file over its final name; the manifest is the last move)."""
    allowed: Callable[[int], int]
    """Calls that complete before the kill, given how many data files the run stages."""


KILL_POINTS = {
    "while_staging": KillPoint("_stage", lambda staged: 2),
    "before_the_first_move": KillPoint("_move", lambda staged: 0),
    "after_one_move": KillPoint("_move", lambda staged: 1),
    "after_half_the_moves": KillPoint("_move", lambda staged: staged // 2),
    "before_the_manifest_move": KillPoint("_move", lambda staged: staged),
}
BEFORE_ANY_MOVE = ("while_staging", "before_the_first_move")


# --- helpers ------------------------------------------------------------------------------------


def is_hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def visible_files(root: Path) -> dict[str, bytes]:
    """Every file a reader can see, by relative path, with its bytes."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not is_hidden(p, root)
    }


def hidden_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if is_hidden(p, root))


def metric_values(root: Path) -> pl.DataFrame:
    """The fact table as DuckDB reads it with the documented glob, file name included."""
    relation = duckdb.sql(
        f"select * from read_parquet('{root}/metric_values/*/*.parquet', "
        "filename = true, hive_partitioning = false)"
    )
    assert relation is not None
    frame = relation.pl()
    assert isinstance(frame, pl.DataFrame)
    return frame


def comparable(values: pl.DataFrame) -> pl.DataFrame:
    """Metric values minus what differs between runs of the same data, in key order."""
    return values.drop("run_id", "computed_at", "filename", strict=False).sort(
        GRAIN_KEY, nulls_last=False
    )


# --- fixtures: the earlier run, the kills, the reruns ------------------------------------------


@dataclass(frozen=True)
class EarlierRun:
    root: Path
    result: RunResult
    values: pl.DataFrame
    config_data: dict[str, Any]
    data_dir: Path

    @property
    def staged(self) -> int:
        """Data files a run of this config stages (every path it returns but the manifest)."""
        return len(self.result.paths) - 1

    def rerun(self, output: Path) -> RunResult:
        config = parse_config(self.config_data, base_dir=self.data_dir, origin="crash")
        return run_pipeline(config, output=str(output))


@dataclass(frozen=True)
class Killed:
    root: Path
    """The output root the killed run wrote into; the rerun recovers it."""
    after_kill: Path
    """A copy of ``root`` taken right after the kill, for inspection only."""
    returncode: int
    stderr: str


@pytest.fixture(scope="module")
def earlier(
    demo_dir: Path, demo_config_data: DemoConfigData, tmp_path_factory: pytest.TempPathFactory
) -> EarlierRun:
    """A complete run: the state each killed run starts from."""
    data = demo_config_data(*SOURCES)
    root = tmp_path_factory.mktemp("earlier") / "out"
    result = run_pipeline(parse_config(data, base_dir=demo_dir), output=str(root))
    return EarlierRun(root, result, metric_values(root), data, demo_dir)


@pytest.fixture(scope="module")
def killed(earlier: EarlierRun, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Killed]:
    """Every kill point, two child processes at a time (the GX import dominates each)."""
    base = tmp_path_factory.mktemp("killed")

    def kill(case: str) -> Killed:
        point = KILL_POINTS[case]
        root = base / case
        shutil.copytree(earlier.root, root)
        completed = subprocess.run(
            [
                sys.executable,
                "-c",
                KILL_SCRIPT,
                json.dumps(earlier.config_data),
                str(earlier.data_dir),
                str(root),
                point.method,
                str(point.allowed(earlier.staged)),
            ],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        after_kill = base / f"{case}-after-kill"
        shutil.copytree(root, after_kill)
        return Killed(root, after_kill, completed.returncode, completed.stderr)

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(KILL_POINTS, pool.map(kill, KILL_POINTS), strict=True))


@pytest.fixture(scope="module")
def reruns(earlier: EarlierRun, killed: dict[str, Killed]) -> dict[str, RunResult]:
    """The pipeline run again over each killed root, in this process."""
    return {case: earlier.rerun(state.root) for case, state in killed.items()}


cases = pytest.mark.parametrize("case", list(KILL_POINTS))


# --- what a kill leaves -----------------------------------------------------------------------


@cases
def test_the_child_run_died_of_sigkill(killed: dict[str, Killed], case: str) -> None:
    state = killed[case]
    assert state.returncode == -signal.SIGKILL, state.stderr[-2000:]


@pytest.mark.parametrize("case", BEFORE_ANY_MOVE)
def test_a_kill_before_any_move_leaves_the_previous_output_byte_identical(
    earlier: EarlierRun, killed: dict[str, Killed], case: str
) -> None:
    assert visible_files(killed[case].after_kill) == visible_files(earlier.root)


@cases
def test_every_parquet_file_reads_after_a_kill(killed: dict[str, Killed], case: str) -> None:
    root = killed[case].after_kill
    files = [p for p in root.rglob("*.parquet") if not is_hidden(p, root)]
    assert files
    for path in files:
        count = duckdb.execute(f"select count(*) from read_parquet('{path}')").fetchall()
        assert count[0][0] > 0, path


@cases
def test_no_period_mixes_two_runs_and_no_row_is_duplicated_after_a_kill(
    earlier: EarlierRun, killed: dict[str, Killed], case: str
) -> None:
    values = metric_values(killed[case].after_kill)
    runs_per_file = values.group_by("filename").agg(pl.col("run_id").n_unique())
    assert (runs_per_file["run_id"] == 1).all(), runs_per_file
    runs_per_period = values.group_by("period_start").agg(pl.col("run_id").n_unique())
    assert (runs_per_period["run_id"] == 1).all(), runs_per_period
    assert values.select(pl.struct(GRAIN_KEY).is_unique().all()).item(), "duplicate rows"
    assert len(set(values["run_id"].to_list()) - {earlier.result.run_id}) <= 1
    assert_frame_equal(comparable(values), comparable(earlier.values))


@cases
def test_staged_hidden_files_stay_invisible_to_readers(
    earlier: EarlierRun, killed: dict[str, Killed], case: str
) -> None:
    root = killed[case].after_kill
    assert hidden_files(root), "the kill left nothing staged, so this proves nothing"
    values = metric_values(root)
    assert not [f for f in values["filename"].to_list() if Path(f).name.startswith(".")]
    assert values.height == earlier.values.height
    dataset = ds.dataset(root / "metric_values", format="parquet", partitioning="hive")
    assert not [f for f in dataset.files if Path(f).name.startswith(".")]
    assert dataset.count_rows() == earlier.values.height


@cases
def test_a_killed_run_publishes_no_manifest(
    earlier: EarlierRun, killed: dict[str, Killed], case: str
) -> None:
    manifests = [p for p in visible_files(killed[case].after_kill) if p.startswith("_runs/")]
    assert manifests == [f"_runs/{earlier.result.run_id}.json"]


# --- what the next run makes of it ---------------------------------------------------------------


@cases
def test_a_rerun_after_a_kill_yields_the_earlier_runs_values(
    earlier: EarlierRun, killed: dict[str, Killed], reruns: dict[str, RunResult], case: str
) -> None:
    rerun = reruns[case]
    values = metric_values(killed[case].root)
    assert set(values["run_id"].to_list()) == {rerun.run_id}
    assert_frame_equal(comparable(values), comparable(earlier.values))
    assert (killed[case].root / "_runs" / f"{rerun.run_id}.json").is_file()
    assert not list((killed[case].root / "_runs").glob(".*.publish.json")), "journal left"


@pytest.mark.parametrize("case", KILL_POINTS)
def test_a_rerun_after_a_kill_leaves_no_hidden_files(
    killed: dict[str, Killed], reruns: dict[str, RunResult], case: str
) -> None:
    assert reruns[case].run_id
    assert hidden_files(killed[case].root) == []
