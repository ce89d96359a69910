"""Reading a run's tables back from an output root, and writing its scorecard there.

The same filesystems as the sink: a local folder, or any URL :func:`open_filesystem` opens
(``s3://``, ``gs://``, ``file://``, fsspec's). Hidden names (``.``-prefixed staged files of a
publish in progress) are skipped, as every reader of an output root does.
"""

from __future__ import annotations

import json
import posixpath
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from cxpipe.errors import OutputError
from cxpipe.scorecard.model import TABLE_SCHEMAS
from cxpipe.scorecard.render import build_scorecard
from cxpipe.sinks.parquet import FOLDERLESS, open_filesystem

SCORECARD_FOLDER = "scorecards"
"""Where :func:`write_scorecard` puts ``<run_id>.html`` under the output root by default."""


def _visible(path: str, base: str) -> bool:
    parts = posixpath.relpath(path, base).split("/")
    return not any(part.startswith((".", "_")) for part in parts)


def _files(fs: pafs.FileSystem, folder: str, suffix: str) -> list[str]:
    info = fs.get_file_info(folder)
    if info.type != pafs.FileType.Directory:
        return []
    found = fs.get_file_info(pafs.FileSelector(folder, recursive=True))
    return sorted(
        f.path
        for f in found
        if f.type == pafs.FileType.File and f.path.endswith(suffix) and _visible(f.path, folder)
    )


def latest_manifest(output_root: str) -> dict[str, Any]:
    """The manifest of the newest run under ``output_root`` (run ids start with their UTC
    start time, so the last name is the newest)."""
    fs, base = open_filesystem(output_root)
    runs = posixpath.join(base, "_runs")
    names = [p for p in _files(fs, runs, ".json") if not posixpath.basename(p).startswith(".")]
    if not names:
        raise OutputError(f"no run manifest under {output_root!r}: has a run finished there?")
    with fs.open_input_stream(names[-1]) as stream:
        manifest: dict[str, Any] = json.loads(stream.read().decode("utf-8"))
    return manifest


def read_output_tables(output_root: str) -> tuple[dict[str, pl.DataFrame], dict[str, Any]]:
    """The scorecard's tables under ``output_root`` and the latest run's manifest.

    Each table is every visible Parquet file under its folder (``metric_values``: every
    period partition, as a BI tool reads it); a table the run did not write is left out.
    """
    manifest = latest_manifest(output_root)
    fs, base = open_filesystem(output_root)
    tables: dict[str, pl.DataFrame] = {}
    for name in TABLE_SCHEMAS:
        paths = _files(fs, posixpath.join(base, name), ".parquet")
        frames = [
            pl.from_arrow(pq.read_table(path, filesystem=fs, partitioning=None)) for path in paths
        ]
        parts = [f for f in frames if isinstance(f, pl.DataFrame)]
        if parts:
            tables[name] = pl.concat(parts, how="diagonal_relaxed")
    return tables, manifest


def write_scorecard(output_root: str, path: str | None = None) -> str:
    """Render the latest run's scorecard and write it; returns where it went.

    ``path`` is a local file; without it the page goes under the output root as
    ``scorecards/<run_id>.html`` (written under a hidden name, then renamed into place).
    """
    tables, manifest = read_output_tables(output_root)
    page = build_scorecard(tables, manifest)
    if path is not None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(page, encoding="utf-8")
        return str(target)
    fs, base = open_filesystem(output_root)
    folder = posixpath.join(base, SCORECARD_FOLDER)
    name = f"{manifest.get('run_id', 'latest')}.html"
    final, staged = posixpath.join(folder, name), posixpath.join(folder, f".{name}.tmp")
    if fs.type_name not in FOLDERLESS:  # no folder markers on an object store
        fs.create_dir(folder, recursive=True)
    with fs.open_output_stream(staged) as stream:
        stream.write(page.encode("utf-8"))
    fs.move(staged, final)
    if "://" in output_root:
        return f"{output_root.rstrip('/')}/{SCORECARD_FOLDER}/{name}"
    return final
