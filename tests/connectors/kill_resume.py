"""Shared machinery of ``test_kill_resume.py``: kill a pipeline run half-way through a
connector's read, then check that nothing of it shows and that the next run resumes.

The run to kill goes to a child process (``sys.executable -c``, its config as JSON, the
credentials in the environment it inherits), so the kill is a real SIGKILL: no ``finally``,
no ``atexit``, a connection dropped mid-request. The child is stopped where the test
chooses by holding back the system's answer: :class:`RequestGate` keeps one request waiting
in pytest-httpserver's thread (which runs in the test process and serves the child over
localhost); for PostgreSQL the test holds a table lock (see ``test_kill_resume.py``). Once
the child is seen waiting there, it is killed, and only then is the answer released.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from cxpipe.config import parse_config
from cxpipe.run import RunResult, run_pipeline
from cxpipe.schemas import get_entity
from cxpipe.sinks.lock import LOCK_NAME
from cxpipe.sinks.parquet import STATE_FILE, ParquetSink

WAIT = 30.0
"""Seconds any wait of these tests may last before it fails the test (never reached when
things work: each wait ends on an event)."""

GRAIN_KEY = ("metric", "period_grain", "period_start", "client_id", "segment")
"""One metric value per key: how two runs' metric values are lined up."""

KILL_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path

    from cxpipe.config import parse_config
    from cxpipe.run import run_pipeline

    config, base_dir, output = sys.argv[1:]
    run_pipeline(parse_config(json.loads(config), base_dir=Path(base_dir)), output=output)
    sys.exit("the run finished: the kill never happened")
    """
)

Blocked = Callable[[float], bool]
"""``blocked(timeout)``: whether the child is now held where the test wants it, waiting up
to ``timeout`` seconds for it to get there."""


# --- holding a request on the fake server ------------------------------------------------------


class RequestGate:
    """Holds the first request matching a predicate on ``server`` until released.

    Every handler registered on ``server`` when the gate is made is wrapped (the fakes
    register theirs when built), so any request can be chosen, by path, query or body.
    The held request is answered normally once released: by then its client is dead.
    """

    def __init__(self, server: HTTPServer) -> None:
        self._predicate: Callable[[Request], bool] | None = None
        self._reached = threading.Event()
        self._released = threading.Event()
        self.held: list[str] = []
        """The held request, as ``METHOD path?query``."""
        for handler in server.handlers:
            inner = handler.request_handler
            assert inner is not None, f"{handler!r} has no responder to wrap"
            handler.respond_with_handler(self._wrap(inner))

    def _wrap(self, inner: Callable[[Request], Response]) -> Callable[[Request], Response]:
        def serve(request: Request) -> Response:
            predicate = self._predicate
            if predicate is not None and not self._reached.is_set() and predicate(request):
                self.held.append(f"{request.method} {request.full_path}")
                self._reached.set()
                self._released.wait(WAIT)  # never forever: the server thread is shared
            return inner(request)

        return serve

    @contextmanager
    def hold(self, predicate: Callable[[Request], bool]) -> Iterator[Blocked]:
        """While inside: hold the first request for which ``predicate`` is true."""
        self._predicate = predicate
        try:
            yield self._reached.wait
        finally:
            self._predicate = None
            self._released.set()


# --- the killed run -----------------------------------------------------------------------------


def config_json(data: Mapping[str, Any]) -> str:
    """A config dict as JSON; TOML's dates and date-times become ISO 8601 text, which the
    config models parse back."""

    def iso(value: object) -> str:
        if isinstance(value, date | datetime):
            return value.isoformat()
        raise TypeError(f"not JSON serialisable: {value!r}")

    return json.dumps(data, default=iso)


@dataclass(frozen=True)
class Killed:
    returncode: int
    stderr: str


def kill_mid_read(
    data: Mapping[str, Any],
    base_dir: Path,
    output: Path,
    hold: AbstractContextManager[Blocked],
    where: str,
) -> Killed:
    """Run the pipeline over ``output`` in a child process, wait until ``hold`` says it is
    blocked (``where`` names the spot, for failure messages), SIGKILL it, then leave
    ``hold`` (which releases the block)."""
    log = output.parent / f"{output.name}.child-stderr.txt"
    with hold as blocked, log.open("w", encoding="utf-8") as stderr:
        child = subprocess.Popen(
            [sys.executable, "-c", KILL_SCRIPT, config_json(data), str(base_dir), str(output)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=dict(os.environ),  # the credentials the test put in its environment
        )
        try:
            deadline = time.monotonic() + WAIT
            while not blocked(0.05):
                if child.poll() is not None:
                    pytest.fail(
                        f"the child run exited with {child.returncode} before it was blocked "
                        f"{where}:\n{log.read_text(encoding='utf-8')[-3000:]}"
                    )
                if time.monotonic() > deadline:
                    pytest.fail(f"the child run was not blocked {where} after {WAIT:.0f} s")
            os.kill(child.pid, signal.SIGKILL)
            returncode = child.wait(WAIT)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait(WAIT)
    killed = Killed(returncode, log.read_text(encoding="utf-8"))
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    return killed


def run(data: Mapping[str, Any], base_dir: Path, output: Path) -> RunResult:
    """One run in this process, from the same JSON the child gets."""
    config = parse_config(json.loads(config_json(data)), base_dir=base_dir)
    return run_pipeline(config, output=str(output))


# --- what an output root holds ------------------------------------------------------------------


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def visible_files(root: Path) -> dict[str, bytes]:
    """Every file a reader can see, by relative path, with its bytes."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not _hidden(p, root)
    }


def hidden_files(root: Path) -> list[str]:
    """Staged (hidden) files and journals: what a reader must never see."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if _hidden(p, root))


def watermarks(root: Path) -> dict[str, str | None]:
    """The committed watermark of each incremental source."""
    state = json.loads((root / STATE_FILE).read_text(encoding="utf-8"))
    return {name: entry["watermark"] for name, entry in state["sources"].items()}


def metric_values(root: Path) -> pl.DataFrame:
    """The fact table as a reader finds it under ``root``, minus what differs between two
    runs of the same data (run id, time of computing), in key order."""
    files = [p for p in sorted((root / "metric_values").rglob("*.parquet")) if not _hidden(p, root)]
    assert files, f"no metric values under {root}"
    values = pl.concat([pl.read_parquet(p) for p in files], how="vertical")
    values = values.drop("run_id", "computed_at")
    rest = [name for name in values.columns if name not in GRAIN_KEY]
    return values.sort([*GRAIN_KEY, *rest], nulls_last=False)


def snapshot(root: Path, entity: str, source: str) -> pl.DataFrame:
    """An incremental source's committed snapshot: its canonical columns, in key order."""
    frame = ParquetSink(str(root)).read_snapshot(entity, source)
    assert frame is not None, f"no snapshot of {source!r} ({entity}) under {root}"
    spec = get_entity(entity)
    return frame.select(spec.columns).sort(spec.primary_key)


# --- the checks ---------------------------------------------------------------------------------


def assert_untouched(root: Path, before: Mapping[str, bytes], committed: Mapping[str, Any]) -> None:
    """The killed run left ``root`` as the run before it published it: every visible file
    byte for byte (so the watermarks and outputs too), nothing staged."""
    assert watermarks(root) == committed
    after = visible_files(root)
    assert sorted(after) == sorted(before), "the killed run added or removed visible files"
    changed = [name for name in before if after[name] != before[name]]
    assert not changed, f"the killed run changed {changed}"
    # the run lock's file may stay: the kernel released its lock with the killed process
    staged = [name for name in hidden_files(root) if name != LOCK_NAME]
    assert staged == [], "the killed run left staged files"


def assert_resumed(
    root: Path,
    reference: Path,
    sources: Sequence[tuple[str, str]],
    first: Mapping[str, Any],
) -> dict[str, pl.DataFrame]:
    """After the rerun, ``root`` holds what one uninterrupted full run over the final data
    wrote under ``reference``: each ``(entity, source)`` snapshot with every record once,
    in its latest version (no duplicate, no gap), the watermarks advanced past ``first``,
    and the same metric values (rows in any order, floats within tolerance). Returns the
    snapshots by source, for the connector's own checks."""
    snapshots: dict[str, pl.DataFrame] = {}
    for entity, source in sources:
        got = snapshot(root, entity, source)
        key = list(get_entity(entity).primary_key)
        duplicated = got.filter(pl.struct(key).is_duplicated())
        assert duplicated.height == 0, f"{source}: duplicated records\n{duplicated}"
        want = snapshot(reference, entity, source)
        missing = want.join(got, on=key, how="anti")
        assert missing.height == 0, f"{source}: records lost\n{missing.select(key)}"
        extra = got.join(want, on=key, how="anti")
        assert extra.height == 0, f"{source}: records a full read has not\n{extra.select(key)}"
        assert_frame_equal(got, want, check_exact=False)
        snapshots[source] = got
    resumed, full = watermarks(root), watermarks(reference)
    assert resumed == full
    for _, source in sources:
        previous, now = first[source], resumed[source]
        assert previous is not None
        assert now is not None
        assert datetime.fromisoformat(now) > datetime.fromisoformat(previous), source
    assert_frame_equal(metric_values(root), metric_values(reference), check_exact=False)
    assert hidden_files(root) == []
    return snapshots


# --- the whole story ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Resumed:
    """What :func:`kill_and_resume` saw, for the connector's own checks."""

    first: RunResult
    committed: dict[str, str | None]
    """The watermarks the first run committed (and the killed run left)."""
    killed: Killed
    rerun: RunResult
    snapshots: dict[str, pl.DataFrame]
    """Each incremental source's snapshot after the rerun, by source name."""


def kill_and_resume(
    data: Mapping[str, Any],
    base_dir: Path,
    scratch: Path,
    *,
    change: Callable[[], None],
    hold: AbstractContextManager[Blocked],
    where: str,
    sources: Sequence[tuple[str, str]],
) -> Resumed:
    """First run, ``change`` the system's data, second run killed where ``hold`` blocks it,
    checks that it left nothing, rerun, and checks the rerun against a reference: a fresh
    output root with one full run over the final data. ``sources`` are the ``(entity,
    source name)`` of the config's incremental sources."""
    root, reference = scratch / "output", scratch / "reference"
    first = run(data, base_dir, root)
    committed = watermarks(root)
    assert set(committed) == {name for _, name in sources}
    before = visible_files(root)

    change()
    killed = kill_mid_read(data, base_dir, root, hold, where)
    assert_untouched(root, before, committed)

    rerun = run(data, base_dir, root)
    since = {s["name"]: s["since"] for s in rerun.manifest["sources"]}
    assert since == committed, "the rerun did not resume from the committed watermarks"
    quarantined = {s["name"]: s["rows_quarantined"] for s in rerun.manifest["sources"]}
    assert not any(quarantined.values()), f"changed records were quarantined: {quarantined}"
    run(data, base_dir, reference)
    snapshots = assert_resumed(root, reference, sources, committed)
    return Resumed(first, committed, killed, rerun, snapshots)
