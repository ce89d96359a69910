"""A run killed half-way through a connector's read resumes without duplicates or gaps.

For each connector, against its local stand-in (``<plugin>.testing``): a first incremental
run commits watermark W1; the system then changes (records updated, records added, spread
over more than one page where the connector pages); a second run, in a child process, is
SIGKILLed while the system holds back one answer of its read (page 2 of the paged reads,
the export file for Qualtrics, the table lock for PostgreSQL). The killed run must leave
the previous output byte for byte, W1 included; the next run must resume from W1 and end
with what one uninterrupted full run over the final data gives (``kill_resume.py``).
"""

from __future__ import annotations

import copy
import importlib
import threading
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from cxpipe_jira.source import SEARCH_PATH
from cxpipe_jira.testing import EMAIL, TOKEN, FakeJira, make_issue
from cxpipe_qualtrics.testing import FakeQualtrics, qualtrics_time, sample_responses
from cxpipe_servicenow.testing import TIME_FORMAT, FakeInstance, Ref, load_sample
from cxpipe_sql import SqlOptions
from cxpipe_sql.testing import (
    PostgresServer,
    create_sample_tickets,
    postgres_or_skip,
    sample_tickets_source,
)
from cxpipe_zendesk.testing import ENV as ZENDESK_ENV
from cxpipe_zendesk.testing import TICKETS_PATH, FakeZendesk, zendesk_time
from pytest_httpserver import HTTPServer
from werkzeug import Request

from tests.connectors.kill_resume import Blocked, RequestGate, kill_and_resume

pytestmark = pytest.mark.slow

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"
FAST = {"backoff_base": 0.01, "backoff_max": 0.02, "max_total_wait": 5, "max_attempts": 3}
"""Retry options that keep a failing test quick (the kills are not retried anyway)."""


def example(plugin: str, base_url: str, **options: Any) -> dict[str, Any]:
    """A plugin's shipped example config as a dict, every source pointed at ``base_url``
    with fast retries and ``options``."""
    data = tomllib.loads((PLUGINS / plugin / "example.cxpipe.toml").read_text(encoding="utf-8"))
    for source in data["sources"]:
        source["options"].update(base_url=base_url, **FAST, **options)
    return data


def row(frame: pl.DataFrame, column: str, value: str) -> dict[str, Any]:
    """The one row of ``frame`` whose ``column`` is ``value``."""
    found = frame.filter(pl.col(column) == value)
    assert found.height == 1, f"{column} = {value!r}: {found.height} rows"
    return found.row(0, named=True)


# --- Zendesk: cursor-paged incremental ticket export -------------------------------------------


def test_zendesk_killed_on_page_2_of_the_ticket_export_resumes(
    tmp_path: Path, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed while Zendesk holds the second page (the first ``cursor`` request) of the
    tickets changed since W1; ratings too change meanwhile (an offered survey answered
    within the answer window, a new answer)."""
    for name, value in ZENDESK_ENV.items():
        monkeypatch.setenv(name, value)
    zendesk = FakeZendesk(httpserver)
    data = example("cxpipe-zendesk", zendesk.base_url, page_size=2, max_requests_per_minute=100_000)
    gate = RequestGate(httpserver)
    updated = {35440: "solved", 35447: "solved", 35456: "pending"}
    added = (35460, 35461, 35462)

    def change() -> None:
        for day, (ticket_id, status) in enumerate(updated.items(), start=20):
            at = datetime(2024, 3, day, 10, tzinfo=UTC)
            solved = zendesk_time(at) if status == "solved" else None
            zendesk.update_ticket(ticket_id, at=at, status=status, metric_set={"solved_at": solved})
        for day, ticket_id in enumerate(added, start=22):
            opened = datetime(2024, 3, day, 9, tzinfo=UTC)
            ticket = copy.deepcopy(zendesk.tickets[-1])
            ticket.update(id=ticket_id, created_at=zendesk_time(opened), status="open")
            ticket["metric_set"].update(ticket_id=ticket_id, solved_at=None, reopens=0)
            zendesk.tickets.append(ticket)
            zendesk.update_ticket(ticket_id, at=opened + timedelta(hours=1))
        offered = next(r for r in zendesk.ratings if r["id"] == 120458)
        offered.update(score="good", comment="Sorted.", updated_at="2024-03-21T10:00:00Z")
        answer = {**copy.deepcopy(offered), "id": 120463, "ticket_id": 35460, "score": "bad"}
        answer.update(created_at="2024-03-22T12:00:00Z", updated_at="2024-03-23T09:00:00Z")
        zendesk.ratings.append(answer)

    def page_2(request: Request) -> bool:
        return request.path == TICKETS_PATH and "cursor" in request.args

    resumed = kill_and_resume(
        data,
        tmp_path,
        tmp_path,
        change=change,
        hold=gate.hold(page_2),
        where="on page 2 of the ticket export",
        sources=[("tickets", "zendesk"), ("survey_responses", "zendesk-csat")],
    )

    # The killed read asked from W1 and got page 1 (two tickets) before it was held.
    w1 = datetime.fromisoformat(str(resumed.committed["zendesk"]))
    starts = [q["start_time"] for q in zendesk.queries(TICKETS_PATH) if "start_time" in q]
    start_date, since = "1704067200", str(int(w1.timestamp()))
    assert starts == [start_date, since, since, start_date]  # first, killed, rerun, reference
    (held,) = gate.held
    assert "cursor=" in held
    tickets = resumed.snapshots["zendesk"]
    assert tickets.height == 24 + len(added)
    for ticket_id, status in updated.items():
        assert row(tickets, "ticket_id", str(ticket_id))["status"] == status
    assert {str(i) for i in added} <= set(tickets["ticket_id"])
    ratings = resumed.snapshots["zendesk-csat"]
    assert row(ratings, "response_id", "120458")["csat"] == 5
    assert row(ratings, "response_id", "120463")["csat"] == 1


# --- ServiceNow: offset-paged Table API --------------------------------------------------------


def test_servicenow_killed_on_page_2_of_the_incidents_resumes(
    tmp_path: Path, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed while the instance holds ``sysparm_offset=2`` of the incidents changed since
    W1 (two per page, in ``sys_id`` order, so changed and new ones mix on every page)."""
    monkeypatch.setenv("SERVICENOW_USERNAME", "cxpipe.integration")
    monkeypatch.setenv("SERVICENOW_PASSWORD", "Pl4nted-SN:Xq9zK@Vb7w")
    instance = load_sample(FakeInstance(password="Pl4nted-SN:Xq9zK@Vb7w")).install(httpserver)
    data = example("cxpipe-servicenow", httpserver.url_for("/").rstrip("/"), page_size=2)
    data["sources"] = [s for s in data["sources"] if s["kind"] == "servicenow.incidents"]
    gate = RequestGate(httpserver)
    updated = {"INC0010004": "6", "INC0010008": "7", "INC0010011": "2"}
    added = ("INC0010013", "INC0010014", "INC0010015")

    def at(day: int, hour: int) -> str:
        return datetime(2024, 3, day, hour, tzinfo=UTC).strftime(TIME_FORMAT)

    def change() -> None:
        for day, (number, state) in enumerate(updated.items(), start=20):
            record = instance.find("incident", number=number)
            done = {"resolved_at": at(day, 9)} if state in ("6", "7") else {}
            if state == "7":
                done["closed_at"] = at(day, 10)
            key = str(record["sys_id"])
            instance.update("incident", key, state=state, sys_updated_on=at(day, 10), **done)
        template = instance.find("incident", number="INC0010004")
        slas = [
            s
            for s in instance.tables["task_sla"]
            if s["task"] == Ref("incident", str(template["sys_id"]))
        ]
        for day, number in enumerate(added, start=23):
            fields = {k: v for k, v in template.items() if k not in ("sys_id", "sys_class_name")}
            fields.update(
                number=number,
                state="2",
                resolved_at=None,
                closed_at=None,
                opened_at=at(day, 8),
                sys_created_on=at(day, 8),
                sys_updated_on=at(day, 11),
            )
            key = instance.add("incident", **fields)
            for sla in slas:
                copied = {k: v for k, v in sla.items() if k not in ("sys_id", "sys_class_name")}
                copied.update(
                    task=Ref("incident", key),
                    stage="in_progress",
                    has_breached="false",
                    planned_end_time=at(day, 16),
                    sys_updated_on=at(day, 11),
                )
                instance.add("task_sla", **copied)

    def page_2(request: Request) -> bool:
        return (
            request.path.endswith("/table/incident") and request.args.get("sysparm_offset") == "2"
        )

    resumed = kill_and_resume(
        data,
        tmp_path,
        tmp_path,
        change=change,
        hold=gate.hold(page_2),
        where="on page 2 of the incidents",
        sources=[("tickets", "servicenow_incidents")],
    )

    w1 = datetime.fromisoformat(str(resumed.committed["servicenow_incidents"]))
    since = f"sys_updated_on>={w1.strftime(TIME_FORMAT)}^ORDERBYsys_id"
    assert instance.queries("incident").count(since) >= 2 * 2  # two pages each: killed, rerun
    incidents = resumed.snapshots["servicenow_incidents"]
    assert incidents.height == 12 + len(added)
    assert row(incidents, "ticket_id", "INC0010004")["status"] == "Resolved"
    assert row(incidents, "ticket_id", "INC0010008")["status"] == "Closed"
    assert row(incidents, "ticket_id", "INC0010011")["status"] == "In Progress"
    assert row(incidents, "ticket_id", "INC0010015")["resolve_due_at"] is not None


# --- Jira Service Management: token-paged JQL search ---------------------------------------------


def test_jira_killed_on_page_2_of_the_search_resumes(
    tmp_path: Path, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed while the site holds the second page (``nextPageToken``) of the JQL search
    for requests updated since W1; ratings given meanwhile are read by the rerun."""
    monkeypatch.setenv("JIRA_EMAIL", EMAIL)
    monkeypatch.setenv("JIRA_API_TOKEN", TOKEN)
    site = FakeJira(httpserver, time_zone="Europe/Paris")
    data = example("cxpipe-jira", site.base_url)
    data["sources"][0]["options"]["page_size"] = 2
    gate = RequestGate(httpserver)

    def at(day: int, hour: int = 9) -> datetime:
        return datetime(2026, 3, day, hour, tzinfo=UTC)

    changes: dict[int, dict[str, Any]] = {
        10: {"created": at(9), "priority": "Low", "first_response": at(10),
             "resolved": at(25, 10), "organization": "Globex"},
        11: {"created": at(16), "priority": "High", "first_response": at(24),
             "resolved": at(26), "rating": 1, "rated_at": at(27)},
        12: {"created": at(23), "priority": "High", "first_response": at(23, 14),
             "assignee": None, "updated": at(25, 12)},
        13: {"created": at(24, 8), "priority": "Highest", "first_response": at(24, 9),
             "resolved": at(24, 15), "rating": 4, "rated_at": at(25, 8)},
        14: {"created": at(25), "priority": "Low", "organization": "Globex"},
        15: {"created": at(26), "priority": "Medium", "first_response": at(26, 11)},
    }  # fmt: skip

    def change() -> None:
        for number, spec in changes.items():
            issue = make_issue(number, **spec)
            known = [i for i, old in enumerate(site.data.issues) if old["key"] == issue["key"]]
            if known:
                site.data.issues[known[0]] = issue
            else:
                site.data.issues.append(issue)
            if "rating" in spec:
                body = {"body": f"Rated {spec['rating']}/5."}
                site.data.feedback[issue["key"]] = {
                    "type": "csat",
                    "rating": spec["rating"],
                    "comment": body,
                }

    def page_2(request: Request) -> bool:
        body = request.get_json(silent=True)
        return request.path == SEARCH_PATH and isinstance(body, dict) and "nextPageToken" in body

    resumed = kill_and_resume(
        data,
        tmp_path,
        tmp_path,
        change=change,
        hold=gate.hold(page_2),
        where="on page 2 of the JQL search",
        sources=[("tickets", "jira"), ("survey_responses", "jira.csat")],
    )

    first_pages = [b["jql"] for b in site.bodies(SEARCH_PATH) if "nextPageToken" not in b]
    first, killed, rerun, reference = [jql for jql in first_pages if "cf[" not in jql]
    assert killed == rerun  # both from W1 (SD-12's update, in Paris, less the overlap)
    assert 'updated >= "2026/03/23 14:59"' in killed
    assert "updated >=" not in first
    assert "updated >=" not in reference
    tickets = resumed.snapshots["jira"]
    assert tickets.height == 15
    assert row(tickets, "ticket_id", "SD-10")["status"] == "resolved"
    assert row(tickets, "ticket_id", "SD-12")["priority"] == "high"
    assert {"SD-13", "SD-14", "SD-15"} <= set(tickets["ticket_id"])
    ratings = resumed.snapshots["jira.csat"]
    assert row(ratings, "response_id", "SD-11:csat")["csat"] == 1
    assert row(ratings, "response_id", "SD-13:csat")["csat"] == 4


# --- Qualtrics: one asynchronous export ----------------------------------------------------------

QUALTRICS_TOKEN = "qx-PLANTED-9vTz4Lw2-token"


def test_qualtrics_killed_before_the_export_file_download_resumes(
    tmp_path: Path, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The export is one file, so the kill comes after the export job of the responses
    recorded since W1 has completed, while Qualtrics holds its file download."""
    monkeypatch.setenv("QUALTRICS_API_TOKEN", QUALTRICS_TOKEN)
    fake = FakeQualtrics(httpserver, QUALTRICS_TOKEN).install()
    data = example("cxpipe-qualtrics", fake.base_url, poll_interval=0.01)
    gate = RequestGate(httpserver)

    def change() -> None:
        responses = copy.deepcopy(fake.responses)
        # the watermark's own response, corrected without a new recordedDate (re-exported
        # because startDate is inclusive), and one re-recorded after it
        responses[23]["values"]["QID1"] = 10
        responses[23]["labels"]["QID1"] = "10"
        responses[5]["values"].update(
            QID2=5, recordedDate=qualtrics_time(datetime(2024, 3, 10, tzinfo=UTC))
        )
        new = sample_responses(27, start=datetime(2024, 1, 3, 9, 0, tzinfo=UTC))[24:]
        fake.responses = [*responses, *new]

    resumed = kill_and_resume(
        data,
        tmp_path,
        tmp_path,
        change=change,
        hold=gate.hold(lambda request: request.path.endswith("/file")),
        where="downloading the export file",
        sources=[("survey_responses", "qualtrics_pulse")],
    )

    since = str(resumed.committed["qualtrics_pulse"])[:19] + "Z"
    starts = [start.get("startDate") for start in fake.starts]
    assert starts == [None, since, since, None]  # first, killed, rerun, reference
    responses = resumed.snapshots["qualtrics_pulse"]
    assert responses.height == 27
    assert row(responses, "response_id", fake.responses[23]["responseId"])["nps_score"] == 10
    assert row(responses, "response_id", fake.responses[5]["responseId"])["csat"] == 5


# --- PostgreSQL: one query, blocked by a table lock ----------------------------------------------

SQL_ENV = "CXPIPE_HELPDESK_DB_URL"
TABLE = "helpdesk_tickets"


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    with postgres_or_skip() as server:
        yield server


@contextmanager
def table_lock(server: PostgresServer, table: str) -> Iterator[Blocked]:
    """Hold ``ACCESS EXCLUSIVE`` on ``table`` from another session; yields whether some
    backend waits for it. On a normal exit the waiting backends (the killed child's, which
    would only learn of its dead client when it next writes) are ended before the lock is
    released."""
    driver = importlib.import_module("adbc_driver_postgresql.dbapi")
    connection = driver.connect(server.url())  # autocommit off: the lock lasts until rollback
    waiting: list[int] = []
    pause = threading.Event()
    try:
        with connection.cursor() as cursor:
            cursor.execute(f'LOCK TABLE "{table}" IN ACCESS EXCLUSIVE MODE')

        def blocked(timeout: float) -> bool:
            pid = server.scalar(
                "SELECT l.pid FROM pg_locks l "
                f"WHERE l.relation = '\"{table}\"'::regclass AND NOT l.granted"
            )
            if pid is None:
                pause.wait(timeout)
                return False
            assert isinstance(pid, int)
            waiting.append(pid)
            return True

        yield blocked
        for pid in waiting:
            server.execute(f"SELECT pg_terminate_backend({pid})")
    finally:
        connection.rollback()
        connection.close()


def test_sql_killed_while_its_query_waits_for_the_table_resumes(
    tmp_path: Path, postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed while its SELECT of the rows changed since W1 waits on a table lock: the
    child has connected and set up its session, the query is on the server."""
    create_sample_tickets(postgres, TABLE)
    monkeypatch.setenv(SQL_ENV, postgres.url())
    source = {
        "name": "helpdesk.tickets",
        "kind": "sql",
        "incremental": True,
        **sample_tickets_source(SQL_ENV, TABLE, batch_size_bytes=4096),
    }
    data = {"run": {"period_grain": "month"}, "sources": [source]}
    updated = ("T-00010", "T-00120", "T-00230")
    added = ("T-00241", "T-00242", "T-00243")

    def change() -> None:
        latest = f'SELECT max("LastChange") FROM {TABLE}'
        postgres.execute(
            f"""UPDATE {TABLE} SET "State" = 'closed',
                   "SolvedAt" = "OpenedAt" + interval '5 hours',
                   "ClosedAt" = "OpenedAt" + interval '6 hours',
                   "LastChange" = ({latest}) + interval '1 hour' * right("TicketNo", 3)::int
               WHERE "TicketNo" IN ({", ".join(f"'{t}'" for t in updated)})""",
            f"""INSERT INTO {TABLE}
               SELECT 'T-00' || n, 'acme', 'support', 'high', 'open',
                      opened, opened + interval '1 hour', NULL, NULL,
                      ({latest}) + interval '1 day' + interval '1 minute' * n,
                      0, 0, 'desk', 'email', 1
               FROM generate_series(241, 243) AS n,
                    LATERAL (SELECT timestamp '2024-06-20 08:00' + interval '1 hour' * n
                             AS opened) t""",
        )

    resumed = kill_and_resume(
        data,
        tmp_path,
        tmp_path,
        change=change,
        hold=table_lock(postgres, TABLE),
        where=f"waiting for the lock on {TABLE}",
        sources=[("tickets", "helpdesk.tickets")],
    )

    # the rerun reads what changed since W1, and what options.lookback_seconds (default 300)
    # re-reads before it: rows stamped within that window that were not changed
    read = resumed.rerun.manifest["sources"][0]
    lookback = SqlOptions.model_fields["lookback_seconds"].default
    relooked = postgres.scalar(
        f"""SELECT count(*) FROM {TABLE}
            WHERE "LastChange" > CAST('{read["since"]}' AS timestamptz) - interval '{lookback} s'
              AND "LastChange" <= CAST('{read["since"]}' AS timestamptz)"""
    )
    assert isinstance(relooked, int)
    assert read["rows_read"] == len(updated) + len(added) + relooked
    tickets = resumed.snapshots["helpdesk.tickets"]
    assert tickets.height == 240 + len(added)
    for ticket_id in updated:
        assert row(tickets, "ticket_id", ticket_id)["status"] == "closed"
    assert set(added) <= set(tickets["ticket_id"])
