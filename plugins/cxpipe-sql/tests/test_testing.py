"""The throwaway server of ``cxpipe_sql.testing``: it cleans up after a failure, and it
skips locally but fails under CI when PostgreSQL is not installed."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from cxpipe_sql import testing
from cxpipe_sql.testing import PostgresServer, postgres_or_skip, running_postgres


def _fail_inside(seen: dict[str, object]) -> None:
    with running_postgres("other") as server:
        seen.update(port=server.port, root=server.root)
        assert server.scalar("SELECT current_database()", database="other") == "other"
        raise RuntimeError("a failing test")


def test_server_is_stopped_and_deleted_even_when_the_block_fails(postgres: PostgresServer) -> None:
    seen: dict[str, object] = {}
    with pytest.raises(RuntimeError, match="a failing test"):
        _fail_inside(seen)
    root = seen["root"]
    assert isinstance(root, Path)
    assert not root.exists()
    with socket.socket() as probe:  # nothing listens on its port any more
        assert probe.connect_ex(("127.0.0.1", int(str(seen["port"])))) != 0


def test_missing_binaries_skip_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(testing, "find_bin_dir", lambda: None)
    monkeypatch.delenv("CI", raising=False)
    with (
        pytest.raises(pytest.skip.Exception, match="apt-get install -y postgresql"),
        postgres_or_skip(),
    ):
        pass


def test_missing_binaries_fail_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(testing, "find_bin_dir", lambda: None)
    monkeypatch.setenv("CI", "true")
    with (
        pytest.raises(pytest.fail.Exception, match="CI=true but PostgreSQL server binaries"),
        postgres_or_skip(),
    ):
        pass
