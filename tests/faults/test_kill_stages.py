"""A run SIGKILLed in any stage before the publish leaves the previous output exactly as it
was (watermarks included) and releases the output root's lock; the rerun succeeds with the
metric values of an uninterrupted run. Kills inside the publish are tests/test_crash_safety.py.
"""

from __future__ import annotations

import shutil
import signal
from pathlib import Path

import pytest
from polars.testing import assert_frame_equal

from cxpipe.config import parse_config
from cxpipe.run import run_pipeline
from tests.conftest import DemoConfigData
from tests.faults.helpers import SOURCES, child, metric_values, visible_files

pytestmark = pytest.mark.slow

BEFORE_COMMIT = ("extract_source", "validate_source", "compute_metrics", "compute_derived")
"""Every run step entered before ``write_outputs`` stages anything."""


@pytest.fixture(scope="module")
def earlier(
    demo_dir: Path, demo_config_data: DemoConfigData, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, object]]:
    data = demo_config_data(*SOURCES)
    root = tmp_path_factory.mktemp("earlier") / "out"
    run_pipeline(parse_config(data, base_dir=demo_dir), output=str(root))
    return root, data


def kill_at(step: str, root: Path, data: dict[str, object], demo_dir: Path) -> None:
    process = child(data, demo_dir, root, step, "kill")
    _, stderr = process.communicate(timeout=180)
    assert process.returncode == -signal.SIGKILL, stderr


@pytest.mark.parametrize("step", [*BEFORE_COMMIT, "write_outputs"])
def test_a_kill_before_the_commit_leaves_the_previous_output_whole(
    step: str, earlier: tuple[Path, dict[str, object]], demo_dir: Path, tmp_path: Path
) -> None:
    previous, data = earlier
    root = tmp_path / "out"
    shutil.copytree(previous, root)
    kill_at(step, root, data, demo_dir)
    assert visible_files(root) == visible_files(previous)  # watermarks are a visible file

    # the SIGKILLed holder's lock went with it: a zero-timeout rerun is not blocked
    data = {**data, "run": {**data["run"], "lock_timeout_seconds": 0}}  # type: ignore[dict-item]
    run_pipeline(parse_config(data, base_dir=demo_dir), output=str(root))
    assert_frame_equal(metric_values(root), metric_values(previous))
    assert not list(root.rglob(".*")), "the rerun left hidden files"


def test_a_kill_in_the_scorecard_keeps_the_committed_run(
    earlier: tuple[Path, dict[str, object]], demo_dir: Path, tmp_path: Path
) -> None:
    """The scorecard comes after the commit: the killed run's outputs are whole and final."""
    previous, data = earlier
    root = tmp_path / "out"
    shutil.copytree(previous, root)
    kill_at("publish_scorecard", root, data, demo_dir)
    manifests = sorted((root / "_runs").glob("*.json"))
    assert len(manifests) == len(list((previous / "_runs").glob("*.json"))) + 1
    assert_frame_equal(metric_values(root), metric_values(previous))

    run_pipeline(parse_config(data, base_dir=demo_dir), output=str(root))
    assert_frame_equal(metric_values(root), metric_values(previous))
    assert list((root / "scorecards").glob("*.html"))
