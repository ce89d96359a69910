"""What the fault tests share: a child run (child.py) and the output comparisons."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

CHILD = Path(__file__).with_name("child.py")
SOURCES = ("clients", "tickets")
GRAIN_KEY = ("metric", "period_grain", "period_start", "client_id", "segment")


def child(
    config_data: dict[str, Any], data_dir: Path, output: Path, step: str, *extra: str
) -> subprocess.Popen[str]:
    """Start a run in a child process that stops when ``cxpipe.run.<step>`` is entered."""
    args = [json.dumps(config_data), str(data_dir), str(output), step, *extra]
    return subprocess.Popen(
        [sys.executable, str(CHILD), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def visible_files(root: Path) -> dict[str, bytes]:
    """Every file a reader can see, by relative path, with its bytes."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    }


def metric_values(root: Path) -> pl.DataFrame:
    """The fact table as DuckDB reads it, minus what differs between runs of the same data."""
    relation = duckdb.sql(
        f"select * from read_parquet('{root}/metric_values/*/*.parquet', hive_partitioning = false)"
    )
    assert relation is not None
    frame = relation.pl()
    assert isinstance(frame, pl.DataFrame)
    return frame.drop("run_id", "computed_at").sort(GRAIN_KEY, nulls_last=False)
