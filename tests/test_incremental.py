"""Incremental runs: watermarks committed with the outputs, changes merged by primary key.

A second run reads from the last committed watermark, a re-read ticket replaces its earlier
version (latest ``updated_at`` wins), a failed run commits nothing, and its rerun resumes
from the last committed watermark without duplicates or gaps.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from cxpipe.config import parse_config
from cxpipe.errors import ConfigError, OutputError
from cxpipe.run import RunResult, run_pipeline
from cxpipe.sinks.parquet import ParquetSink

HEADER = "id,client,priority,opened,resolved,updated,status\n"
FIRST = [
    "T1,C1,high,2026-01-05T09:00:00Z,2026-01-05T12:00:00Z,2026-01-05T12:00:00Z,resolved",
    "T2,C1,low,2026-01-06T09:00:00Z,,2026-01-06T09:00:00Z,open",
    "T3,C2,critical,2026-01-07T09:00:00Z,2026-01-07T10:00:00Z,2026-01-07T10:00:00Z,resolved",
]
# T2 resolved since (a later version of the same ticket), and a new T4.
SECOND = [
    "T2,C1,low,2026-01-06T09:00:00Z,2026-02-02T09:00:00Z,2026-02-02T09:00:00Z,resolved",
    "T4,C2,medium,2026-02-03T09:00:00Z,,2026-02-03T09:00:00Z,open",
]


def _config(folder: Path, pattern: str, *, incremental: bool = True, output: str = "out") -> Any:
    """One ticket file source reading ``pattern`` (incremental by default) into ``output``
    (relative to ``folder``, or a URL), computing ticket_volume only."""
    data = {
        "run": {"output": output},
        "metrics": {"only": ["ticket_volume"]},
        "sources": [
            {
                "name": "itsm",
                "kind": "file",
                "entity": "tickets",
                "incremental": incremental,
                "options": {"path": pattern},
                "columns": {
                    "ticket_id": "id",
                    "client_id": "client",
                    "request_type": {"value": "support"},
                    "opened_at": "opened",
                    "resolved_at": "resolved",
                    "updated_at": "updated",
                    "reopen_count": {"value": 0},
                    "reassignment_count": {"value": 0},
                },
            }
        ],
    }
    return parse_config(data, base_dir=folder)


def _export(folder: Path, name: str, rows: list[str]) -> None:
    (folder / name).write_text(HEADER + "\n".join(rows) + "\n")


def _snapshot(folder: Path) -> pl.DataFrame:
    snapshot = ParquetSink(str(folder / "out")).read_snapshot("tickets", "itsm")
    assert snapshot is not None
    return snapshot.sort("ticket_id")


def _source(result: RunResult) -> dict[str, Any]:
    [source] = result.manifest["sources"]
    assert isinstance(source, dict)
    return source


def _committed(folder: Path) -> dict[str, Any]:
    state: dict[str, Any] = json.loads((folder / "out" / "_state" / "watermarks.json").read_text())
    return state


def test_incremental_needs_an_entity_with_a_watermark(tmp_path: Path) -> None:
    data = {
        "sources": [
            {
                "name": "p",
                "kind": "file",
                "entity": "projects",
                "incremental": True,
                "options": {"path": "p.csv"},
            }
        ]
    }
    with pytest.raises(ConfigError, match="projects has no watermark column"):
        parse_config(data, base_dir=tmp_path)


def test_second_run_merges_changes_by_key_latest_version_wins(tmp_path: Path) -> None:
    _export(tmp_path, "export-1.csv", FIRST)
    first = run_pipeline(_config(tmp_path, "export-1.csv"))
    assert _source(first)["since"] is None
    assert _committed(tmp_path)["sources"]["itsm"]["watermark"] == "2026-01-07T10:00:00+00:00"

    _export(tmp_path, "export-2.csv", SECOND)
    second = run_pipeline(_config(tmp_path, "export-2.csv"))
    source = _source(second)
    assert source["since"] == "2026-01-07T10:00:00+00:00"  # resumed from the commit
    assert (source["rows_read"], source["rows_kept"], source["rows_in_snapshot"]) == (2, 2, 4)
    snapshot = _snapshot(tmp_path)
    assert snapshot["ticket_id"].to_list() == ["T1", "T2", "T3", "T4"]  # nothing twice
    t2 = snapshot.filter(pl.col("ticket_id") == "T2").row(0, named=True)
    assert t2["status"] == "resolved"  # the later version replaced the earlier one
    assert t2["resolved_at"] == datetime(2026, 2, 2, 9, tzinfo=UTC)
    assert _committed(tmp_path)["sources"]["itsm"]["watermark"] == "2026-02-03T09:00:00+00:00"
    # The metrics read every ticket delivered so far, not only this run's two.
    volume = second.metric_values.filter(
        (pl.col("metric") == "ticket_volume")
        & pl.col("client_id").is_null()
        & pl.col("segment").is_null()
    )
    assert volume["value"].sum() == 4


def test_a_replayed_older_version_does_not_win(tmp_path: Path) -> None:
    _export(tmp_path, "export-1.csv", FIRST)
    _export(tmp_path, "export-2.csv", SECOND)
    run_pipeline(_config(tmp_path, "export-1.csv"))
    run_pipeline(_config(tmp_path, "export-2.csv"))
    run_pipeline(_config(tmp_path, "export-1.csv"))  # the old export read again
    snapshot = _snapshot(tmp_path)
    assert snapshot.height == 4
    assert snapshot.filter(pl.col("ticket_id") == "T2")["status"].item() == "resolved"


def test_a_run_failing_while_staging_commits_nothing_and_the_rerun_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _export(tmp_path, "export-1.csv", FIRST)
    run_pipeline(_config(tmp_path, "export-1.csv"))
    committed = _committed(tmp_path)
    _export(tmp_path, "export-2.csv", SECOND)
    real_stage = ParquetSink._stage

    def failing_stage(self: ParquetSink, relative: str, table: Any, run_id: str) -> Any:
        if relative.startswith("_entities/"):
            raise OutputError("the store went away")
        return real_stage(self, relative, table, run_id)

    monkeypatch.setattr(ParquetSink, "_stage", failing_stage)
    with pytest.raises(OutputError):
        run_pipeline(_config(tmp_path, "export-2.csv"))
    monkeypatch.undo()
    # Nothing of the failed run was committed: same watermark, same snapshot.
    assert _committed(tmp_path) == committed
    assert _snapshot(tmp_path)["ticket_id"].to_list() == ["T1", "T2", "T3"]
    rerun = run_pipeline(_config(tmp_path, "export-2.csv"))
    assert _source(rerun)["since"] == committed["sources"]["itsm"]["watermark"]
    assert _snapshot(tmp_path)["ticket_id"].to_list() == ["T1", "T2", "T3", "T4"]


def test_a_run_failing_mid_publish_is_rolled_forward_without_duplicates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once its publish journal is written a run has committed; a failure while renaming
    is finished by the next run, which then reads on from that run's watermark."""
    _export(tmp_path, "export-1.csv", FIRST)
    run_pipeline(_config(tmp_path, "export-1.csv"))
    _export(tmp_path, "export-2.csv", SECOND)

    def broken_move(self: ParquetSink, source: str, destination: str) -> None:
        raise OSError("the store went away")

    monkeypatch.setattr(ParquetSink, "_move", broken_move)
    with pytest.raises(OutputError, match="rolls the publish forward"):
        run_pipeline(_config(tmp_path, "export-2.csv"))
    monkeypatch.undo()
    rerun = run_pipeline(_config(tmp_path, "export-2.csv"))
    assert _source(rerun)["since"] == "2026-02-03T09:00:00+00:00"  # the rolled-forward commit
    assert _snapshot(tmp_path)["ticket_id"].to_list() == ["T1", "T2", "T3", "T4"]


def test_full_refresh_ignores_the_committed_state(tmp_path: Path) -> None:
    _export(tmp_path, "export-1.csv", FIRST)
    _export(tmp_path, "export-2.csv", SECOND)
    run_pipeline(_config(tmp_path, "export-1.csv"))
    refreshed = run_pipeline(_config(tmp_path, "export-2.csv"), full_refresh=True)
    assert _source(refreshed)["since"] is None
    assert _snapshot(tmp_path)["ticket_id"].to_list() == ["T2", "T4"]  # only what was read


def test_a_source_is_asked_for_changes_since_the_committed_watermark(tmp_path: Path) -> None:
    """A plugin source sees ``since``: the contract that lets API connectors read less."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "recording.py").write_text(
        "from pathlib import Path\n"
        "from cxpipe import hookimpl\n"
        "from cxpipe.sources.files import FileSource\n"
        "class Recording(FileSource):\n"
        "    kind = 'recording'\n"
        "    def extract(self, since=None):\n"
        "        log = Path(self.resolve('since.log'))\n"
        "        log.write_text(log.read_text() + repr(since) + '\\n' if log.exists() else\n"
        "                       repr(since) + '\\n')\n"
        "        return super().extract(since)\n"
        "@hookimpl\n"
        "def cxpipe_register_sources(registry):\n"
        "    registry.add_source(Recording)\n"
    )
    _export(tmp_path, "export-1.csv", FIRST)
    config = _config(tmp_path, "export-1.csv")
    data = config.model_dump(exclude={"base_dir", "config_hash"})
    data["run"]["plugins_dir"] = "plugins"
    data["sources"][0]["kind"] = "recording"
    recording = parse_config(data, base_dir=tmp_path)
    run_pipeline(recording)
    run_pipeline(recording)
    calls = (tmp_path / "since.log").read_text().splitlines()
    assert calls == [
        "None",
        "datetime.datetime(2026, 1, 7, 10, 0, tzinfo=datetime.timezone.utc)",
    ]


def test_non_incremental_sources_leave_no_state(tmp_path: Path) -> None:
    _export(tmp_path, "export-1.csv", FIRST)
    run_pipeline(_config(tmp_path, "export-1.csv", incremental=False))
    assert not (tmp_path / "out" / "_state").exists()
    assert not (tmp_path / "out" / "_entities").exists()


def test_an_incremental_read_with_no_changes_is_not_an_empty_export(tmp_path: Path) -> None:
    _export(tmp_path, "export-1.csv", FIRST)
    run_pipeline(_config(tmp_path, "export-1.csv"))
    (tmp_path / "nothing-new.csv").write_text(HEADER)
    quiet = run_pipeline(_config(tmp_path, "nothing-new.csv"))  # expect_rows is true
    source = _source(quiet)
    assert (source["rows_read"], source["rows_in_snapshot"]) == (0, 3)
    assert _snapshot(tmp_path)["ticket_id"].to_list() == ["T1", "T2", "T3"]
