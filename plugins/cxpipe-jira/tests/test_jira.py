"""The Jira sources against a local server speaking Jira Cloud's documented REST API.

No mock of httpx: :class:`cxpipe_jira.testing.FakeJira` answers on localhost the way
Atlassian's reference describes each endpoint (request bodies, ``nextPageToken`` /
``isLast``, error bodies, JQL read in the API user's time zone). Waits are milliseconds,
except one real ``Retry-After: 1``.
"""

from __future__ import annotations

import base64
import logging
import time
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from cxpipe_jira import JiraFeedback, JiraRequests, build_jql, jql_since
from cxpipe_jira.derive import ChangeCounts, count_changes, sla_columns
from cxpipe_jira.source import CHANGELOG_PATH, MYSELF_PATH, SEARCH_PATH, JiraOptions, JiraSource
from cxpipe_jira.testing import (
    EMAIL,
    FIELD_REQUEST_TYPE,
    FIELD_TIME_TO_RESOLUTION,
    TOKEN,
    Dataset,
    FakeJira,
    jsm_date,
    make_issue,
    sample_dataset,
    source_options,
)
from pytest_httpserver import HTTPServer

from cxpipe.config import SourceConfig
from cxpipe.conform import conform
from cxpipe.errors import ConfigError, SourceError
from cxpipe.schemas import SURVEY_RESPONSES, TICKETS
from cxpipe.testing import get_source_test_class
from cxpipe.testing.factory import ConfigData

EXAMPLE = Path(__file__).resolve().parents[1] / "example.cxpipe.toml"


def example_table(kind: str) -> dict[str, Any]:
    """The ``[[sources]]`` table of ``kind`` in the shipped example config."""
    data = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    return next(s for s in data["sources"] if s["kind"] == kind)


def config(kind: str, fake: FakeJira, **options: Any) -> SourceConfig:
    """The example's table of ``kind``, its options pointed at ``fake``."""
    table = example_table(kind)
    table["options"] = {**table["options"], **source_options(fake), **options}
    return SourceConfig.model_validate(table)


def requests_source(fake: FakeJira, **options: Any) -> JiraRequests:
    return JiraRequests(config("jira.requests", fake, **options))


def feedback_source(fake: FakeJira, **options: Any) -> JiraFeedback:
    return JiraFeedback(config("jira.feedback", fake, **options))


def rows(source: JiraSource, since: datetime | None = None) -> pl.DataFrame:
    return source.extract(since).frame.collect()


def failure(source: JiraSource, since: datetime | None = None) -> str:
    with pytest.raises(SourceError) as caught:
        source.extract(since)
    return str(caught.value)


# ------------------------------------------------------------------------- paging


def test_token_paging_reads_every_page_until_is_last(fake: FakeJira) -> None:
    frame = rows(requests_source(fake, jql_timezone="UTC"))
    assert frame["key"].to_list() == [f"SD-{n}" for n in range(1, 13)]  # ORDER BY updated
    bodies = fake.bodies(SEARCH_PATH)
    assert [b.get("nextPageToken") for b in bodies] == [None, "search-1:5", "search-1:10"]
    first = bodies[0]
    assert first["jql"] == 'project IN ("SD") ORDER BY updated ASC'
    assert first["maxResults"] == 100  # asked; the server sent 5 a page
    assert {"created", "updated", FIELD_TIME_TO_RESOLUTION, FIELD_REQUEST_TYPE} <= set(
        first["fields"]
    )
    assert all(b["jql"] == first["jql"] and b["fields"] == first["fields"] for b in bodies)
    assert frame["_cx_file"].unique(maintain_order=True).to_list() == [
        f"POST {SEARCH_PATH} page {n}" for n in (1, 2, 3)
    ]
    assert frame["_cx_row"].to_list() == [1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 1, 2]
    assert MYSELF_PATH not in [path for _m, path, _b in fake.calls]  # full read: no zone needed


def test_more_pages_without_a_token_is_an_error(httpserver: HTTPServer, fake: FakeJira) -> None:
    issue = make_issue(1, created=datetime(2026, 1, 5, tzinfo=UTC))
    httpserver.expect_oneshot_request(SEARCH_PATH, method="POST").respond_with_json(
        {"issues": [issue], "isLast": False}
    )
    message = failure(requests_source(fake, jql_timezone="UTC"))
    assert message == (
        "source 'jira' (jira.requests): page 1 of POST /rest/api/3/search/jql: the response "
        "says there are more pages but has no 'nextPageToken'"
    )


def test_a_repeated_page_token_stops_the_read(httpserver: HTTPServer, fake: FakeJira) -> None:
    issue = make_issue(1, created=datetime(2026, 1, 5, tzinfo=UTC))
    other = make_issue(2, created=datetime(2026, 1, 6, tzinfo=UTC))
    for page in ([issue], [other]):
        httpserver.expect_oneshot_request(SEARCH_PATH, method="POST").respond_with_json(
            {"issues": page, "nextPageToken": "t1", "isLast": False}
        )
    message = failure(requests_source(fake, jql_timezone="UTC", changelog=False))
    assert message.endswith(
        "page 3 of POST /rest/api/3/search/jql: the server sent back page token 't1', "
        "already used for page 2; stopping instead of looping forever"
    )
    assert len(httpserver.log) == 2


def test_a_page_without_issues_is_an_error(httpserver: HTTPServer, fake: FakeJira) -> None:
    httpserver.expect_oneshot_request(SEARCH_PATH, method="POST").respond_with_json(
        {"values": [], "isLast": True}
    )
    assert failure(requests_source(fake, jql_timezone="UTC")) == (
        "source 'jira' (jira.requests): page 1 of POST /rest/api/3/search/jql: expected a list "
        "of records under 'issues'; the response has keys 'values', 'isLast'"
    )


def test_changelog_counts_come_from_bulk_fetches_one_per_page(fake: FakeJira) -> None:
    frame = rows(requests_source(fake, jql_timezone="UTC"))
    counts = {
        key: (reopens, reassignments)
        for key, reopens, reassignments in frame.select(
            "key", "jsm.reopen_count", "jsm.reassignment_count"
        ).iter_rows()
    }
    assert counts["SD-3"] == ("1", "1")  # assigned, reassigned, resolved, reopened, resolved
    assert counts["SD-6"] == ("0", "1")
    assert counts["SD-9"] == ("0", "0")  # resolved once
    assert {v for k, v in counts.items() if k not in ("SD-3", "SD-6")} == {("0", "0")}
    bodies = fake.bodies(CHANGELOG_PATH)
    asked = [b["issueIdsOrKeys"] for b in bodies if "nextPageToken" not in b]
    assert asked == [
        [str(10000 + n) for n in range(1, 6)],
        [str(10000 + n) for n in range(6, 11)],
        ["10011", "10012"],
    ]
    assert all(b["fieldIds"] == ["assignee", "resolution"] for b in bodies)
    assert any("nextPageToken" in b for b in bodies)  # SD-3's 4 histories span two pages


def test_changelog_can_be_turned_off(fake: FakeJira) -> None:
    frame = rows(requests_source(fake, jql_timezone="UTC", changelog=False))
    assert "jsm.reopen_count" not in frame.columns
    assert fake.bodies(CHANGELOG_PATH) == []


# ------------------------------------------------------------------------- incremental


def test_incremental_jql_is_exact_and_read_in_the_users_time_zone(
    httpserver: HTTPServer,
) -> None:
    fake = FakeJira(httpserver, time_zone="Europe/Paris")
    since = datetime(2026, 3, 5, 9, 0, 30, tzinfo=UTC)  # 10:00:30 in Paris
    frame = rows(requests_source(fake), since)
    (body,) = fake.bodies(SEARCH_PATH)
    assert body["jql"] == 'project IN ("SD") AND updated >= "2026/03/05 09:59" ORDER BY updated ASC'
    assert fake.calls[0][1] == MYSELF_PATH  # the zone, asked once
    assert frame["key"].to_list() == ["SD-9", "SD-10", "SD-11", "SD-12"]
    # SD-9 was updated at 09:00:00 UTC, 30 s before `since`: the re-read minute
    assert frame.filter(pl.col("key") == "SD-9")["fields.updated"].item() < "2026-03-05T09:00:30"


def test_a_user_without_a_time_zone_needs_jql_timezone(httpserver: HTTPServer) -> None:
    fake = FakeJira(httpserver, time_zone=None)
    message = failure(requests_source(fake), datetime(2026, 3, 5, tzinfo=UTC))
    assert message.endswith(
        "GET /rest/api/3/myself: the API user's time zone is None, not one JQL dates can be "
        "written in; set options.jql_timezone to the user's profile time zone"
    )
    assert fake.bodies(SEARCH_PATH) == []


def test_incremental_jql_with_an_explicit_zone_and_no_overlap(fake: FakeJira) -> None:
    source = requests_source(fake, jql_timezone="America/New_York", overlap_minutes=0)
    assert source.jql(datetime(2026, 3, 5, 14, 7, 59, tzinfo=UTC)) == (
        'project IN ("SD") AND updated >= "2026/03/05 09:07" ORDER BY updated ASC'
    )
    assert fake.calls == []


@pytest.mark.parametrize(
    ("since", "zone", "overlap", "expected"),
    [
        (datetime(2026, 3, 5, 9, 0, 30, tzinfo=UTC), "UTC", 1, "2026/03/05 08:59"),
        (datetime(2026, 3, 5, 9, 0, 30), "UTC", 0, "2026/03/05 09:00"),  # naive = UTC
        (datetime(2026, 1, 1, 0, 0, 10, tzinfo=UTC), "Australia/Sydney", 0, "2026/01/01 11:00"),
        # 00:31 UTC is 02:31 CEST; 02:30 happens twice that night (clocks go back at 03:00
        # CEST), so the bound moves an hour earlier, whichever 02:30 Jira would pick.
        (datetime(2026, 10, 25, 0, 31, tzinfo=UTC), "Europe/Paris", 1, "2026/10/25 01:30"),
    ],
)
def test_jql_since(since: datetime, zone: str, overlap: int, expected: str) -> None:
    assert jql_since(since, ZoneInfo(zone), overlap) == expected


def test_build_jql_quotes_and_orders() -> None:
    assert build_jql(
        projects=["SD", 'O"DD'],
        jql='issuetype = "Service Request" OR labels = vip',
        clauses=["resolution IS NOT EMPTY"],
        updated_since="2026/03/05 09:59",
    ) == (
        'project IN ("SD", "O\\"DD") AND (issuetype = "Service Request" OR labels = vip) '
        'AND resolution IS NOT EMPTY AND updated >= "2026/03/05 09:59" ORDER BY updated ASC'
    )


def test_an_incremental_read_with_nothing_new_still_conforms(fake: FakeJira) -> None:
    source = requests_source(fake, jql_timezone="UTC")
    extract = source.extract(datetime(2027, 1, 1, tzinfo=UTC))
    frame = extract.frame.collect()
    assert frame.height == 0
    assert {"key", "fields.priority.name", "jsm.client"} <= set(frame.columns)
    conformed = conform(extract.frame, source.config, TICKETS).collect()
    assert conformed.height == 0


def test_a_mapped_field_null_in_every_row_is_a_null_column(httpserver: HTTPServer) -> None:
    data = Dataset([make_issue(1, created=datetime(2026, 1, 5, tzinfo=UTC), assignee=None)])
    fake = FakeJira(httpserver, data)
    table = example_table("jira.requests")
    table["options"] = {**table["options"], **source_options(fake), "jql_timezone": "UTC"}
    table["columns"]["assignment_group"] = "fields.assignee.displayName"
    source = JiraRequests(SourceConfig.model_validate(table))
    frame = source.extract().frame.collect()
    assert frame["fields.assignee"].to_list() == [None]
    assert frame["fields.assignee.displayName"].to_list() == [None]
    table["columns"]["assignment_group"] = "fields.asignee.displayName"  # a typo stays an error
    source = JiraRequests(SourceConfig.model_validate(table))
    assert "fields.asignee.displayName" not in source.extract().frame.collect_schema()


# ------------------------------------------------------------------------- retries, errors


def test_429_with_retry_after_then_success(
    fake: FakeJira, caplog: pytest.LogCaptureFixture
) -> None:
    fake.fail_next(SEARCH_PATH, 429, headers={"Retry-After": "1"})
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, "cxpipe.sources.http"):
        extract = requests_source(fake, jql_timezone="UTC").extract()
    assert time.monotonic() - started >= 1.0
    assert extract.frame.collect().height == 12
    assert extract.warnings == ["source 'jira': requests were retried (HTTP 429 ×1)"]
    assert "HTTP 429 Too Many Requests" in caplog.text


def test_500_then_success(fake: FakeJira) -> None:
    fake.fail_next(CHANGELOG_PATH, 500)
    extract = requests_source(fake, jql_timezone="UTC").extract()
    assert extract.frame.collect().height == 12
    assert extract.warnings == ["source 'jira': requests were retried (HTTP 500 ×1)"]


def test_401_names_the_variables_never_the_token(
    fake: FakeJira, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "ATATT-wrong-PLANTED-4242"
    monkeypatch.setenv("JIRA_API_TOKEN", wrong)
    with caplog.at_level(logging.DEBUG):
        message = failure(requests_source(fake, jql_timezone="UTC"))
    assert message == (
        "source 'jira' (jira.requests): page 1 of POST /rest/api/3/search/jql: HTTP 401 "
        "Unauthorized (Client must be authenticated to access this resource.): check the "
        "credentials in JIRA_EMAIL and JIRA_API_TOKEN"
    )
    encoded = base64.b64encode(f"{EMAIL}:{wrong}".encode()).decode()
    for secret in (wrong, encoded, TOKEN):
        assert secret not in message
        assert secret not in caplog.text


def test_an_atlassian_error_body_is_surfaced(fake: FakeJira) -> None:
    fake.fail_next(
        SEARCH_PATH,
        400,
        body={
            "errorMessages": ["The value 'Bogus' does not exist for the field 'issuetype'."],
            "warningMessages": [],
        },
    )
    message = failure(requests_source(fake, jql_timezone="UTC", jql="issuetype = Bogus"))
    assert message.endswith(
        "POST /rest/api/3/search/jql: HTTP 400 Bad Request (The value 'Bogus' does not "
        "exist for the field 'issuetype'.): the request was refused"
    )


def test_a_field_errors_body_is_surfaced(fake: FakeJira) -> None:
    fake.fail_next(
        SEARCH_PATH, 400, body={"errorMessages": [], "errors": {"jql": "The JQL is invalid."}}
    )
    assert "HTTP 400 Bad Request (jql: The JQL is invalid.)" in failure(
        requests_source(fake, jql_timezone="UTC")
    )


def test_an_unset_variable_is_a_config_error(
    fake: FakeJira, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JIRA_API_TOKEN")
    with pytest.raises(ConfigError, match=r"options\.password_env names the environment variable"):
        requests_source(fake, jql_timezone="UTC").extract()


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"projects": [], "jql": None}, "refuses an unbounded search"),
        ({"username_env": None, "password_env": None}, "Jira Cloud needs credentials"),
        ({"jql": "project = SD ORDER BY created"}, "must not have ORDER BY"),
        ({"jql_timezone": "Mars/Olympus"}, "is not an IANA time zone"),
        ({"sla_resolution_field": "Time to resolution"}, "custom field id like"),
        ({"password_env": "ATATT3xFfGF0-pasted-token"}, "not hold the secret itself"),
    ],
)
def test_bad_options_are_config_errors(
    fake: FakeJira, options: dict[str, Any], expected: str
) -> None:
    with pytest.raises(ConfigError, match=expected) as caught:
        requests_source(fake, **options)
    assert "ATATT3xFfGF0-pasted-token" not in str(caught.value)


# ------------------------------------------------------------------------- SLA, derived


def test_sla_fields_give_due_times_and_first_response(fake: FakeJira) -> None:
    frame = rows(requests_source(fake, jql_timezone="UTC"))
    by_key = {row["key"]: row for row in frame.iter_rows(named=True)}
    sd1 = by_key["SD-1"]  # Highest: 1 h to respond, 4 h to resolve, both met
    assert sd1["jsm.first_response_at"] == "2026-01-05T09:30:00+00:00"
    assert sd1["jsm.respond_due_at"] == "2026-01-05T10:00:00+00:00"
    assert sd1["jsm.respond_breached"] == "false"
    assert sd1["jsm.resolve_due_at"] == "2026-01-05T13:00:00+00:00"
    assert sd1["jsm.request_type"] == "Get IT help"
    sd3 = by_key["SD-3"]  # reopened: the second resolution cycle counts, and it breached
    assert sd3["jsm.resolve_due_at"] == "2026-01-26T09:00:00+00:00"
    assert sd3["jsm.resolve_stopped_at"] == "2026-01-26T10:00:00+00:00"
    assert sd3["jsm.resolve_breached"] == "true"
    sd11 = by_key["SD-11"]  # nothing answered yet: the ongoing cycle's breach time
    assert sd11["jsm.first_response_at"] is None
    assert sd11["jsm.respond_due_at"] == "2026-03-16T13:00:00+00:00"
    assert by_key["SD-5"]["jsm.client"] == "SD"  # no organization: the project's key
    assert by_key["SD-2"]["jsm.client"] == "Globex"


def test_sla_without_breach_time_uses_start_plus_goal() -> None:
    started = datetime(2026, 1, 5, 9, tzinfo=UTC)
    value = {
        "completedCycles": [],
        "ongoingCycle": {"startTime": jsm_date(started), "goalDuration": {"millis": 7_200_000}},
    }
    assert sla_columns(value, "respond")["respond_due_at"] == "2026-01-05T11:00:00+00:00"
    assert sla_columns(None, "resolve") == {
        "resolve_due_at": None,
        "resolve_stopped_at": None,
        "resolve_breached": None,
    }


def test_change_counting() -> None:
    counts = ChangeCounts()
    count_changes(
        [
            {"items": [{"fieldId": "assignee", "from": None, "to": "a"}]},  # first assignment
            {"items": [{"fieldId": "assignee", "from": "a", "to": "b"}]},
            {"items": [{"field": "resolution", "from": "10000", "to": None}]},
            {"items": [{"fieldId": "resolution", "from": None, "to": "10000"}]},
            {"items": [{"fieldId": "status", "from": "5", "to": "3"}]},
        ],
        counts,
    )
    assert counts == ChangeCounts(reopens=1, reassignments=1)


def test_through_conform_with_the_example_config(fake: FakeJira) -> None:
    source = requests_source(fake, jql_timezone="UTC")
    tickets = conform(source.extract().frame, source.config, TICKETS).collect()
    assert tickets.filter(pl.col("_cx_errors").list.len() > 0).height == 0
    sd1 = tickets.filter(pl.col("ticket_id") == "SD-1").row(0, named=True)
    assert sd1["priority"] == "critical"
    assert sd1["status"] == "resolved"
    assert sd1["source_system"] == "jira"
    assert sd1["opened_at"] == datetime(2026, 1, 5, 9, tzinfo=UTC)
    assert sd1["first_response_at"] == datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    assert sd1["respond_due_at"] == datetime(2026, 1, 5, 10, tzinfo=UTC)
    assert sd1["category"] == "Get IT help"
    assert dict(tickets.group_by("priority").len().iter_rows()) == {
        "critical": 2,
        "high": 3,
        "medium": 4,
        "low": 3,  # Low and Lowest
    }
    assert dict(tickets.group_by("status").len().iter_rows()) == {
        "resolved": 9,
        "in_progress": 2,
        "open": 1,
    }


# ------------------------------------------------------------------------- feedback


def test_feedback_is_asked_only_for_resolved_requests_changed_since(fake: FakeJira) -> None:
    source = feedback_source(fake, satisfaction_field=None, jql_timezone="UTC")
    frame = rows(source, datetime(2026, 2, 10, 12, tzinfo=UTC))
    (body,) = fake.bodies(SEARCH_PATH)
    assert body["jql"] == (
        'project IN ("SD") AND resolution IS NOT EMPTY AND updated >= "2026/02/10 11:59" '
        "ORDER BY updated ASC"
    )
    # SD-6 (rated on 11 Feb), SD-7, SD-8, SD-9 are resolved and changed since; SD-10..12
    # are not resolved; SD-1..5 did not change.
    assert fake.feedback_keys() == ["SD-6", "SD-7", "SD-8", "SD-9"]
    assert frame["key"].to_list() == ["SD-6", "SD-9"]  # the 404s have no feedback
    assert frame["_cx_file"].to_list() == [
        "GET /rest/servicedeskapi/request/SD-6/feedback",
        "GET /rest/servicedeskapi/request/SD-9/feedback",
    ]


def test_with_the_satisfaction_field_only_rated_requests_are_asked(fake: FakeJira) -> None:
    frame = rows(feedback_source(fake, jql_timezone="UTC"))
    (body,) = fake.bodies(SEARCH_PATH)
    assert "resolution IS NOT EMPTY AND cf[10034] IS NOT EMPTY" in body["jql"]
    assert fake.feedback_keys() == ["SD-1", "SD-2", "SD-3", "SD-6", "SD-9"]
    assert frame["feedback.rating"].to_list() == ["5", "4", "2", "5", "3"]
    sd3 = frame.filter(pl.col("key") == "SD-3").row(0, named=True)
    assert sd3["feedback.comment.body"] == "Slow to answer, and it came back."
    assert sd3["jsm.response_id"] == "SD-3:csat"
    assert sd3["jsm.submitted_at"] == "2026-01-27T09:00:00.000+0000"  # Satisfaction date
    responses = conform(frame.lazy(), feedback_source(fake).config, SURVEY_RESPONSES).collect()
    assert responses.filter(pl.col("_cx_errors").list.len() > 0).height == 0
    assert responses["csat"].to_list() == [5, 4, 2, 5, 3]
    assert set(responses["respondent_side"]) == {"client"}
    assert responses["ticket_id"].to_list() == ["SD-1", "SD-2", "SD-3", "SD-6", "SD-9"]


def test_without_a_satisfaction_date_the_resolution_date_stands_in(fake: FakeJira) -> None:
    frame = rows(feedback_source(fake, jql_timezone="UTC", satisfaction_date_field=None))
    assert frame.filter(pl.col("key") == "SD-3")["jsm.submitted_at"].item() == (
        "2026-01-26T10:00:00.000+0000"
    )


def test_the_feedback_calls_are_bounded(fake: FakeJira) -> None:
    source = feedback_source(fake, satisfaction_field=None, max_feedback_requests=3)
    message = failure(source)
    assert "more than options.max_feedback_requests = 3 resolved requests match" in message
    assert fake.feedback_keys() == []  # failed before the first feedback call


def test_the_experimental_opt_in_header_is_sent(fake: FakeJira) -> None:
    source = feedback_source(fake, jql_timezone="UTC", headers={"X-Team": "cx"})
    assert source.options.headers == {"X-ExperimentalApi": "opt-in", "X-Team": "cx"}
    rows(source)
    feedback_requests = [r for r, _ in fake.server.log if r.path.endswith("/feedback")]
    assert feedback_requests
    assert all(r.headers.get("X-ExperimentalApi") == "opt-in" for r in feedback_requests)


def test_a_feedback_error_other_than_404_fails(fake: FakeJira) -> None:
    fake.fail_next(
        "/rest/servicedeskapi/request/SD-1/feedback",
        403,
        method="GET",
        body={"errorMessage": "You do not have permission to view this request."},
    )
    message = failure(feedback_source(fake, jql_timezone="UTC"))
    assert message.endswith(
        "GET /rest/servicedeskapi/request/SD-1/feedback: HTTP 403 Forbidden (You do not have "
        "permission to view this request.): the credentials in JIRA_EMAIL and JIRA_API_TOKEN "
        "are not allowed to read this (check the account's roles or the token's scopes)"
    )


# ------------------------------------------------------------------------- contract kit


@pytest.fixture(scope="class")
def site() -> Iterator[FakeJira]:
    """A site of the class's own: a contract class reads its source once, across tests."""
    server = HTTPServer()
    server.start()
    try:
        yield FakeJira(server, sample_dataset(), page_limit=5)
    finally:
        server.stop()


def contract_table(kind: str, fake: FakeJira | None = None) -> ConfigData:
    """The example's table of ``kind`` as the kit takes it (``name`` and ``kind`` are
    filled in), pointed at ``fake`` when given."""
    table = {k: v for k, v in example_table(kind).items() if k not in ("name", "kind")}
    if fake is not None:
        table["options"] = {**table["options"], **source_options(fake), "jql_timezone": "UTC"}
    return table


# The JQL reads the watermark's minute (floored) and options.overlap_minutes before it, by
# design (minute precision, an eventually consistent index); the runner's key merge drops
# the re-read rows, and test_incremental_jql_* check the exact bound.
SINCE_TOLERANCE = timedelta(minutes=1 + JiraOptions.model_fields["overlap_minutes"].default)

TestJiraRequestsContract = get_source_test_class(
    JiraRequests,
    config=lambda site: contract_table("jira.requests", site),
    since=datetime(2026, 3, 1, tzinfo=UTC),
    since_tolerance=SINCE_TOLERANCE,
)
TestJiraFeedbackContract = get_source_test_class(
    JiraFeedback,
    config=lambda site: contract_table("jira.feedback", site),
    since=datetime(2026, 2, 1, tzinfo=UTC),
    since_tolerance=SINCE_TOLERANCE,
)
