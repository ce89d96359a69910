"""One run at a time per output root.

A run reads the committed watermarks, computes, then publishes; two runs doing that on the
same root at once would each advance ``_state/`` from the same starting point and one
would silently drop the other's work. So :func:`acquire_run_lock` is taken in
``start_run`` (before the watermarks are read and before any journal is rolled forward)
and released once the run is finished or has failed.

Local roots use ``fcntl.flock`` on ``<root>/.cxpipe.lock``: the kernel drops the lock when
the holder dies, even by SIGKILL, so a stale lock never blocks a later run. The file holds
the holder's run id, host, pid and start time, only so a waiting run can name it. The
name is hidden, so readers never see it and a killed run leaves the visible outputs as
they were.

Object stores have no ``flock`` and pyarrow's filesystems expose no conditional create,
so there no lock is taken: a warning is logged and keeping runs apart is the scheduler's
job (docs/object-storage.md).
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import socket
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from cxpipe.errors import CxpipeError
from cxpipe.sinks.parquet import open_filesystem

LOCK_NAME = ".cxpipe.lock"
POLL_SECONDS = 0.1

log = logging.getLogger(__name__)


class RunLockedError(CxpipeError):
    """Another run holds the output root's lock (after waiting ``lock_timeout_seconds``)."""


@dataclass
class RunLock:
    """A held lock; :meth:`release` is idempotent."""

    root: str
    path: str | None
    """The lock file, or None when the root is an object store (no lock taken)."""
    _handle: IO[str] | None = field(default=None, repr=False)

    @property
    def held(self) -> bool:
        return self._handle is not None

    def release(self) -> None:
        """Delete the lock file, then unlock. Deleting while still locked matters: a waiter
        that opened the old file notices the path no longer names it and opens again."""
        handle, self._handle = self._handle, None
        if handle is None:
            return
        import fcntl

        try:
            if self.path is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.path)
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()


def _holder(path: str) -> str:
    """Who holds the lock, as the lock file says (best effort: it may be mid-write)."""
    try:
        with open(path, encoding="utf-8") as handle:
            info: dict[str, Any] = json.loads(handle.read() or "{}")
    except (OSError, ValueError):
        info = {}
    if not info:
        return "an unknown run"
    return (
        f"run {info.get('run_id', '?')} (host {info.get('host', '?')}, pid "
        f"{info.get('pid', '?')}, started at {info.get('started_at', '?')})"
    )


def acquire_run_lock(
    root: str, *, run_id: str, started_at: datetime, timeout_seconds: float
) -> RunLock:
    """Lock the output root for this run, waiting up to ``timeout_seconds`` (0: do not wait).

    Raises :class:`RunLockedError` naming the root and the holder when the wait runs out.
    """
    fs, base = open_filesystem(root)
    if fs.type_name != "local":
        log.warning(
            "output root %s is on %s: no run lock is taken there, so keep runs on it from "
            "overlapping (docs/object-storage.md)",
            root,
            fs.type_name,
        )
        return RunLock(root, None)
    import fcntl

    os.makedirs(base, exist_ok=True)
    path = os.path.join(base, LOCK_NAME)
    deadline = time.monotonic() + max(timeout_seconds, 0.0)
    while True:
        handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held until release
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            handle.close()
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            if time.monotonic() >= deadline:
                raise RunLockedError(
                    f"output root {root} is in use by {_holder(path)}; waited "
                    f"{timeout_seconds:g}s ([run].lock_timeout_seconds). If that run is "
                    "gone, its lock was released with it: run again"
                ) from None
            time.sleep(POLL_SECONDS)
            continue
        # The holder before us may have deleted the file between our open and our lock:
        # then we locked an orphan inode, and must lock the file the path names now.
        try:
            current = os.stat(path)
        except FileNotFoundError:
            current = None
        mine = os.fstat(handle.fileno())
        if current is None or (current.st_dev, current.st_ino) != (mine.st_dev, mine.st_ino):
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()
            continue
        handle.seek(0)
        handle.truncate()
        handle.write(
            json.dumps(
                {
                    "run_id": run_id,
                    "host": socket.gethostname(),
                    "pid": os.getpid(),
                    "started_at": started_at.isoformat(),
                }
            )
        )
        handle.flush()
        return RunLock(root, path, handle)


__all__ = ["LOCK_NAME", "RunLock", "RunLockedError", "acquire_run_lock"]
