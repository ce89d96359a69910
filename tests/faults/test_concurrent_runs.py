"""Two runs on one output root never interleave: the second waits for the first (up to
``[run].lock_timeout_seconds``) or fails naming the root and the holder, and a SIGKILLed
holder's lock is released with it."""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from polars.testing import assert_frame_equal

from cxpipe.config import parse_config
from cxpipe.run import run_pipeline
from cxpipe.sinks.lock import RunLockedError, acquire_run_lock
from tests.conftest import DemoConfigData
from tests.faults.helpers import SOURCES, child, metric_values

pytestmark = pytest.mark.slow


def with_timeout(data: dict[str, Any], seconds: float) -> dict[str, Any]:
    return {**data, "run": {**data["run"], "lock_timeout_seconds": seconds}}


def hold(data: dict[str, Any], demo_dir: Path, root: Path, tmp_path: Path, seconds: float) -> Any:
    """A child run that holds ``root`` for ``seconds`` once it reaches its extract."""
    ready = tmp_path / "ready"
    process = child(data, demo_dir, root, "extract_source", "hold", str(ready), str(seconds))
    deadline = time.monotonic() + 120
    while not ready.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the holder never started"
        time.sleep(0.05)
    return process


@pytest.fixture(scope="module")
def serial(
    demo_dir: Path, demo_config_data: DemoConfigData, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    root = tmp_path_factory.mktemp("serial") / "out"
    run_pipeline(parse_config(demo_config_data(*SOURCES), base_dir=demo_dir), output=str(root))
    return root


def test_a_second_run_fails_at_once_naming_the_holder(
    demo_dir: Path, demo_config_data: DemoConfigData, tmp_path: Path
) -> None:
    data, root = demo_config_data(*SOURCES), tmp_path / "out"
    holder = hold(data, demo_dir, root, tmp_path, 30)
    try:
        with pytest.raises(RunLockedError) as caught:
            run_pipeline(parse_config(with_timeout(data, 0), base_dir=demo_dir), output=str(root))
        message = str(caught.value)
        assert str(root) in message
        for part in (f"pid {holder.pid}", "host ", "started at ", "run 20"):
            assert part in message
    finally:
        holder.kill()
        holder.communicate()


def test_a_second_run_waits_then_matches_a_serial_run(
    demo_dir: Path, demo_config_data: DemoConfigData, tmp_path: Path, serial: Path
) -> None:
    data, root = demo_config_data(*SOURCES), tmp_path / "out"
    holder = hold(data, demo_dir, root, tmp_path, 2)
    started = time.monotonic()
    run_pipeline(parse_config(with_timeout(data, 120), base_dir=demo_dir), output=str(root))
    assert holder.wait(timeout=60) == 0, holder.communicate()
    assert time.monotonic() - started >= 1, "the second run did not wait"
    assert len(list((root / "_runs").glob("*.json"))) == 2  # both committed, one after other
    assert_frame_equal(metric_values(root), metric_values(serial))


def test_a_sigkilled_holder_releases_the_lock(
    demo_dir: Path, demo_config_data: DemoConfigData, tmp_path: Path, serial: Path
) -> None:
    data, root = demo_config_data(*SOURCES), tmp_path / "out"
    holder = hold(data, demo_dir, root, tmp_path, 300)
    holder.send_signal(signal.SIGKILL)
    holder.communicate()
    assert (root / ".cxpipe.lock").exists(), "the kill should leave the lock file behind"
    run_pipeline(parse_config(with_timeout(data, 0), base_dir=demo_dir), output=str(root))
    assert_frame_equal(metric_values(root), metric_values(serial))
    assert not (root / ".cxpipe.lock").exists()


def test_the_flow_takes_the_lock(prefect_server: None, demo_config: Path, tmp_path: Path) -> None:
    """The flow goes through ``start_run``: it is refused while another run holds the root,
    and once that run is gone it runs and releases the lock."""
    from cxpipe_flow import cxpipe_run

    root = tmp_path / "out"
    other = acquire_run_lock(
        str(root), run_id="other-run", started_at=datetime.now(UTC), timeout_seconds=0
    )
    try:
        state = cxpipe_run(config_path=str(demo_config), output=str(root), return_state=True)
    finally:
        other.release()
    assert state.is_failed()
    error = state.result(raise_on_failure=False)
    assert isinstance(error, RunLockedError)
    assert "other-run" in str(error)

    state = cxpipe_run(config_path=str(demo_config), output=str(root), return_state=True)
    assert state.is_completed(), state.message
    assert not (root / ".cxpipe.lock").exists()
