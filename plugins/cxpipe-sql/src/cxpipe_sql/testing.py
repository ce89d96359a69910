"""A throwaway PostgreSQL server for tests, started from the machine's own binaries.

``running_postgres()`` runs ``initdb`` into a fresh folder under the system temp dir, starts
``postgres`` on a free localhost port (its unix socket in the same folder), creates one
database and yields how to reach it; on exit it stops the server and deletes the folder,
whether the tests passed or not. No system service is touched.

PostgreSQL refuses to run as root, so when the tests run as root (a CI container) the
server runs as the ``postgres`` system user that Debian's ``postgresql`` package creates,
through ``runuser``. The binaries are looked up under ``/usr/lib/postgresql/<version>/bin``
(Debian, Ubuntu) and then on ``PATH``.

In tests, :func:`postgres_or_skip` skips with a clear reason when the binaries are absent,
except under ``CI=true``, where their absence fails the tests instead: CI installs them.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

SERVER_USER = "postgres"
"""The unprivileged system account the server runs as when the tests run as root."""

INSTALL_HINT = "apt-get install -y postgresql"


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server binaries (or an account to run them as) are not on this machine."""


@dataclass(frozen=True)
class PostgresServer:
    """How to reach a running test server. ``password`` is the superuser's password."""

    host: str
    port: int
    user: str
    password: str
    database: str
    root: Path

    def url(self, database: str | None = None, *, password: str | None = None) -> str:
        """A ``postgresql://`` URL; give ``password`` to plant a wrong one."""
        secret = quote(self.password if password is None else password, safe="")
        return (
            f"postgresql://{quote(self.user, safe='')}:{secret}@{self.host}:{self.port}/"
            f"{database or self.database}"
        )

    def execute(self, *statements: str, database: str | None = None) -> None:
        """Run setup statements (DDL, inserts) in autocommit mode."""
        from cxpipe_sql.source import connect_postgres

        with (
            connect_postgres(self.url(database)) as connection,
            connection.cursor() as cursor,
        ):
            for statement in statements:
                cursor.execute(statement)

    def scalar(self, query: str, database: str | None = None) -> object:
        """The first column of the first row of ``query``."""
        from cxpipe_sql.source import connect_postgres

        with (
            connect_postgres(self.url(database)) as connection,
            connection.cursor() as cursor,
        ):
            cursor.execute(query)
            row = cursor.fetchone()
        return None if row is None else row[0]


def find_bin_dir() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``: the newest Debian-style install, or PATH."""

    def version(path: str) -> tuple[int, ...]:
        match = re.search(r"/postgresql/([\d.]+)/bin/", path)
        return tuple(int(p) for p in match.group(1).split(".")) if match else (0,)

    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=version)
    for initdb in reversed(candidates):
        folder = Path(initdb).parent
        if (folder / "pg_ctl").exists():
            return folder
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).parent
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _as_server_user() -> tuple[list[str], int | None, int | None]:
    """The command prefix, uid and gid to run the server binaries with."""
    if os.geteuid() != 0:
        return [], None, None
    try:
        account = pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise PostgresUnavailable(
            f"running as root and there is no {SERVER_USER!r} user to run PostgreSQL as "
            f"(it refuses root); {INSTALL_HINT} creates it"
        ) from None
    runuser = shutil.which("runuser")
    if runuser is None:
        raise PostgresUnavailable("running as root and `runuser` is not available")
    return [runuser, "-u", SERVER_USER, "--"], account.pw_uid, account.pw_gid


def _run(command: list[str], log: Path | None = None) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
        raise RuntimeError(
            f"exit status {done.returncode}: {' '.join(command)}\n{done.stdout}{done.stderr}{tail}"
        )


@contextmanager
def running_postgres(
    database: str = "cxpipe_test", user: str = "cxpipe"
) -> Iterator[PostgresServer]:
    """Start a private PostgreSQL server; stop it and delete its files on exit."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise PostgresUnavailable(
            f"PostgreSQL server binaries (initdb, pg_ctl) not found under "
            f"/usr/lib/postgresql/*/bin or on PATH; {INSTALL_HINT}"
        )
    prefix, uid, gid = _as_server_user()
    # Under /tmp, not $TMPDIR: the server user must reach it, and a unix socket path must
    # stay under ~100 bytes.
    root = Path(
        tempfile.mkdtemp(prefix="cxpipe-pg-", dir="/tmp" if os.path.isdir("/tmp") else None)
    )
    data, log = root / "data", root / "server.log"
    password = secrets.token_urlsafe(12)
    started = False
    try:
        password_file = root / "password"
        password_file.write_text(password + "\n", encoding="utf-8")
        if uid is not None and gid is not None:
            os.chown(root, uid, gid)
            os.chown(password_file, uid, gid)
        _run(
            [
                *prefix,
                str(bin_dir / "initdb"),
                "--pgdata",
                str(data),
                "--username",
                user,
                "--pwfile",
                str(password_file),
                "--auth-local",
                "trust",
                "--auth-host",
                "scram-sha-256",
                "--encoding",
                "UTF8",
                "--locale",
                "C",
                "--no-sync",
                "--no-instructions",
            ]
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -k {root} -c fsync=off "
            f"-c synchronous_commit=off -c full_page_writes=off"
        )
        for attempt in range(3):
            port = _free_port()
            command = [
                *prefix,
                str(bin_dir / "pg_ctl"),
                "--pgdata",
                str(data),
                "--log",
                str(log),
                "--options",
                f"-p {port} {options}",
                "--wait",
                "--timeout",
                "60",
                "start",
            ]
            try:
                _run(command, log)
            except RuntimeError:
                if attempt == 2:
                    raise
                continue  # someone took the port between probing and starting
            started = True
            break
        server = PostgresServer("127.0.0.1", port, user, password, database, root)
        server.execute(f'CREATE DATABASE "{database}"', database="postgres")
        yield server
    finally:
        if started:
            subprocess.run(
                [
                    *prefix,
                    str(bin_dir / "pg_ctl"),
                    "--pgdata",
                    str(data),
                    "--mode",
                    "immediate",
                    "--wait",
                    "stop",
                ],
                capture_output=True,
                check=False,
                timeout=60,
            )
        shutil.rmtree(root, ignore_errors=True)


def postgres_available() -> str | None:
    """``None`` when a test server can be started here, else the reason it cannot."""
    if find_bin_dir() is None:
        return f"PostgreSQL server binaries not found ({INSTALL_HINT})"
    try:
        _as_server_user()
    except PostgresUnavailable as exc:
        return str(exc)
    return None


@contextmanager
def postgres_or_skip(database: str = "cxpipe_test") -> Iterator[PostgresServer]:
    """:func:`running_postgres` for a pytest fixture: skip when PostgreSQL is not installed,
    but fail under ``CI=true`` (CI installs it; a silent skip there would hide the tests)."""
    import pytest

    reason = postgres_available()
    if reason is not None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    with running_postgres(database) as server:
        yield server


# --- a helpdesk table to read --------------------------------------------------------------

SAMPLE_TICKET_COLUMNS: dict[str, str] = {
    "ticket_id": "TicketNo",
    "client_id": "Customer",
    "request_type": "Kind",
    "priority": "Prio",
    "status": "State",
    "opened_at": "OpenedAt",
    "first_response_at": "FirstReplyAt",
    "resolved_at": "SolvedAt",
    "closed_at": "ClosedAt",
    "updated_at": "LastChange",
    "reopen_count": "Reopens",
    "reassignment_count": "Hops",
    "assignment_group": "Queue",
    "channel": "Via",
}
"""``[sources.columns]`` for :func:`create_sample_tickets`'s table: canonical → its column."""


def create_sample_tickets(
    server: PostgresServer, table: str = "helpdesk_tickets", n: int = 240
) -> None:
    """A helpdesk's ticket table with its own column names and database types: ``n`` tickets
    over the first half of 2024, two clients, naive local ``timestamp`` times and a
    ``timestamptz`` last-change column, every 10th ticket still open."""
    server.execute(
        f'DROP TABLE IF EXISTS "{table}"',
        f'''CREATE TABLE "{table}" (
            "TicketNo" text PRIMARY KEY,
            "Customer" text NOT NULL,
            "Kind" text NOT NULL,
            "Prio" text NOT NULL,
            "State" text NOT NULL,
            "OpenedAt" timestamp NOT NULL,
            "FirstReplyAt" timestamp,
            "SolvedAt" timestamp,
            "ClosedAt" timestamp,
            "LastChange" timestamptz NOT NULL,
            "Reopens" integer NOT NULL,
            "Hops" smallint NOT NULL,
            "Queue" text,
            "Via" text,
            "Cost" numeric(8, 2)
        )''',
        f'''INSERT INTO "{table}"
        SELECT 'T-' || lpad(i::text, 5, '0'),
               CASE WHEN i % 3 = 0 THEN 'acme' ELSE 'globex' END,
               'support',
               (ARRAY['critical', 'high', 'medium', 'low'])[1 + i % 4],
               CASE WHEN i % 10 = 0 THEN 'open' ELSE 'closed' END,
               opened,
               opened + interval '30 minutes' * (1 + i % 5),
               CASE WHEN i % 10 = 0 THEN NULL ELSE opened + interval '1 hour' * (2 + i % 30) END,
               CASE WHEN i % 10 = 0 THEN NULL ELSE opened + interval '1 hour' * (3 + i % 30) END,
               (opened + interval '1 hour' * (3 + i % 30)) AT TIME ZONE 'UTC',
               i % 7 / 6,
               i % 3,
               (ARRAY['desk', 'network', 'apps'])[1 + i % 3],
               (ARRAY['email', 'phone', 'portal'])[1 + i % 3],
               (i * 12.5)::numeric(8, 2)
        FROM generate_series(1, {n}) AS i,
             LATERAL (SELECT timestamp '2024-01-01 08:00' + interval '17 hours' * i AS opened) t''',
    )


def sample_tickets_source(
    dsn_env: str, table: str = "helpdesk_tickets", **options: object
) -> dict[str, object]:
    """The ``[[sources]]`` table (as a dict) reading :func:`create_sample_tickets`'s table
    incrementally, mapped onto the canonical tickets; ``name`` and ``kind`` left out."""
    return {
        "entity": "tickets",
        "timezone": "Europe/Paris",
        "options": {
            "dsn_env": dsn_env,
            "table": table,
            "updated_at_column": "LastChange",
            **options,
        },
        "columns": {**SAMPLE_TICKET_COLUMNS, "source_system": {"value": "helpdesk"}},
    }
