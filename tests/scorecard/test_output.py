"""Reading a run back from an output root and writing its scorecard there."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from cxpipe.errors import OutputError
from cxpipe.scorecard import read_output_tables, write_scorecard
from tests.scorecard.dom import parse
from tests.scorecard.tables import MANIFEST, RUN_ID, tables


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """The hand-made tables laid out as the Parquet sink lays them out, with an older run's
    manifest and a staged (hidden) file of a publish in progress beside them."""
    for name, frame in tables().items():
        if name == "metric_values":
            for (period,), part in frame.partition_by("period_start", as_dict=True).items():
                folder = tmp_path / name / f"period={period:%Y-%m}"
                folder.mkdir(parents=True)
                pq.write_table(part.to_arrow(), folder / "part-0.parquet")
            continue
        (tmp_path / name).mkdir()
        pq.write_table(frame.to_arrow(), tmp_path / name / "part-0.parquet")
    staged = tables()["action_plan"].head(1)
    pq.write_table(staged.to_arrow(), tmp_path / "action_plan" / ".part-0.parquet.run2.tmp")
    runs = tmp_path / "_runs"
    runs.mkdir()
    (runs / "20250101T000000Z-000000.json").write_text(json.dumps({"run_id": "old"}))
    (runs / f"{RUN_ID}.json").write_text(json.dumps(MANIFEST))
    return tmp_path


def test_the_latest_run_and_every_table_are_read_back(root: Path) -> None:
    read, manifest = read_output_tables(str(root))
    assert manifest["run_id"] == RUN_ID
    expected = tables()
    assert set(read) == set(expected)
    for name, frame in expected.items():
        assert read[name].height == frame.height, name  # the staged file is not read
    assert "period" not in read["metric_values"].columns  # the partition key stays in paths


def test_a_url_root_is_read_through_its_filesystem(root: Path) -> None:
    read, manifest = read_output_tables(root.as_uri())
    assert manifest["run_id"] == RUN_ID
    assert read["metric_values"].height == tables()["metric_values"].height


def test_the_scorecard_goes_under_the_output_root_by_default(root: Path) -> None:
    written = Path(write_scorecard(str(root)))
    assert written == root / "scorecards" / f"{RUN_ID}.html"
    assert parse(written.read_text(encoding="utf-8")).find(id="run-id").text == RUN_ID
    assert not [p for p in written.parent.iterdir() if p.name.startswith(".")]


def test_or_to_a_path_of_ones_choice(root: Path, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "card.html"
    assert write_scorecard(str(root), str(target)) == str(target)
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_an_output_root_without_a_run_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="no run manifest"):
        read_output_tables(str(tmp_path))
