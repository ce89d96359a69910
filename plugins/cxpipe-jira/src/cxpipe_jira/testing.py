"""A local Jira Service Management Cloud for tests: the documented endpoints on a
pytest-httpserver, and sample requests shaped like the documentation's examples.

Not the real SaaS: the protocol (request bodies, paging tokens, ``isLast``, error bodies,
JQL's minute precision read in the API user's time zone) follows Atlassian's REST
reference; the data is made up. Used by this distribution's tests and cxpipe's
``tests/connectors/test_jira.py``; needs ``pytest-httpserver`` (the ``test`` extra).

- ``POST /rest/api/3/search/jql``: evaluates the JQL the connector writes (``project IN``,
  ``resolution IS NOT EMPTY``, ``cf[N] IS NOT EMPTY``, ``updated >= "yyyy/MM/dd HH:mm"``,
  ``ORDER BY updated ASC``), pages by ``nextPageToken`` until ``isLast``; a clause it does
  not know is a 400 with Jira's ``errorMessages`` body.
- ``POST /rest/api/3/changelog/bulkfetch``: changelogs filtered by ``fieldIds``, paged.
- ``GET /rest/api/3/myself``: the API user, with its ``timeZone``.
- ``GET /rest/servicedeskapi/request/{key}/feedback``: the CSAT, or a 404.
"""

from __future__ import annotations

import base64
import copy
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

EMAIL = "cx-reader@example.com"
TOKEN = "ATATT3xFfGF0-PLANTED-api-token-9zQ"
SITE = "https://your-domain.atlassian.net"

FIELD_ORGANIZATIONS = "customfield_10002"
FIELD_REQUEST_TYPE = "customfield_10010"
FIELD_TIME_TO_FIRST_RESPONSE = "customfield_10030"
FIELD_TIME_TO_RESOLUTION = "customfield_10031"
FIELD_SATISFACTION = "customfield_10034"
FIELD_SATISFACTION_DATE = "customfield_10035"

_FEEDBACK_URI = re.compile(r"/rest/servicedeskapi/request/([^/]+)/feedback")
_SINCE = re.compile(r'updated >= "(\d{4}/\d{2}/\d{2} \d{2}:\d{2})"')
_PROJECTS = re.compile(r"project IN \((.*)\)")
_NOT_EMPTY = re.compile(r"(resolution|cf\[(\d+)\]) IS NOT EMPTY")


def jira_time(moment: datetime) -> str:
    """Jira's own timestamp format: ``2026-01-05T09:00:00.000+0000``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def jsm_date(moment: datetime) -> dict[str, Any]:
    """A JSM ``DateDTO``."""
    utc = moment.astimezone(UTC)
    return {
        "iso8601": utc.strftime("%Y-%m-%dT%H:%M:%S+0000"),
        "jira": jira_time(utc),
        "friendly": utc.strftime("%d/%b/%y %I:%M %p"),
        "epochMillis": int(utc.timestamp() * 1000),
    }


def _duration(hours: float) -> dict[str, Any]:
    millis = int(hours * 3_600_000)
    return {"millis": millis, "friendly": f"{hours:g}h"}


def sla_field(
    name: str,
    started: datetime,
    goal_hours: float,
    stopped: datetime | None,
    *,
    earlier_cycles: Iterable[tuple[datetime, datetime]] = (),
) -> dict[str, Any]:
    """An SLA field value as the JSM docs show it: completed cycles (one per start/stop)
    and the ongoing cycle while it runs."""
    breach = started + timedelta(hours=goal_hours)

    def completed(start: datetime, stop: datetime) -> dict[str, Any]:
        due = start + timedelta(hours=goal_hours)
        return {
            "startTime": jsm_date(start),
            "stopTime": jsm_date(stop),
            "breachTime": jsm_date(due),
            "breached": stop > due,
            "goalDuration": _duration(goal_hours),
            "elapsedTime": _duration((stop - start).total_seconds() / 3600),
            "remainingTime": _duration((due - stop).total_seconds() / 3600),
        }

    cycles = [completed(a, b) for a, b in earlier_cycles]
    value: dict[str, Any] = {
        "id": "1" if "response" in name else "2",
        "name": name,
        "_links": {"self": f"{SITE}/rest/servicedeskapi/request/1/sla/1"},
        "completedCycles": cycles,
        "slaDisplayFormat": "NEW_SLA_FORMAT",
    }
    if stopped is not None:
        cycles.append(completed(started, stopped))
    else:
        value["ongoingCycle"] = {
            "startTime": jsm_date(started),
            "breachTime": jsm_date(breach),
            "breached": False,
            "paused": False,
            "withinCalendarHours": False,
            "goalDuration": _duration(goal_hours),
            "elapsedTime": _duration(1),
            "remainingTime": _duration(goal_hours - 1),
        }
    return value


PRIORITIES = {"Highest": "1", "High": "2", "Medium": "3", "Low": "4", "Lowest": "5"}
STATUSES = {
    "Waiting for support": ("new", 2, "To Do"),
    "In Progress": ("indeterminate", 4, "In Progress"),
    "Resolved": ("done", 3, "Done"),
}
SLA_HOURS = {"Highest": (1, 4), "High": (4, 24), "Medium": (8, 72), "Low": (24, 120)}


def make_issue(
    number: int,
    *,
    created: datetime,
    priority: str = "Medium",
    organization: str | None = "Acme",
    project: str = "SD",
    request_type: str = "Get IT help",
    first_response: datetime | None = None,
    resolved: datetime | None = None,
    updated: datetime | None = None,
    status: str | None = None,
    reporter: str = "qm:a1b2c3",
    assignee: str | None = "5b10a2844c20165700ede21g",
    rating: int | None = None,
    rated_at: datetime | None = None,
) -> dict[str, Any]:
    """One request as ``GET /rest/api/3/search/jql`` returns it (every field this
    connector asks for, with the JSM custom fields of a default service project)."""
    issue_id = str(10000 + number)
    status = status or ("Resolved" if resolved else "In Progress" if first_response else None)
    status = status or "Waiting for support"
    category, category_id, category_name = STATUSES[status]
    respond_hours, resolve_hours = SLA_HOURS.get(priority, (24, 120))
    times = [t for t in (created, first_response, resolved, rated_at) if t is not None]
    fields: dict[str, Any] = {
        "created": jira_time(created),
        "updated": jira_time(updated or max(times)),
        "resolutiondate": jira_time(resolved) if resolved else None,
        "resolution": (
            {"self": f"{SITE}/rest/api/3/resolution/10000", "id": "10000", "name": "Done"}
            if resolved
            else None
        ),
        "priority": {
            "self": f"{SITE}/rest/api/3/priority/{PRIORITIES.get(priority, '3')}",
            "iconUrl": f"{SITE}/images/icons/priorities/{priority.lower()}.svg",
            "name": priority,
            "id": PRIORITIES.get(priority, "3"),
        },
        "status": {
            "self": f"{SITE}/rest/api/3/status/{category_id}",
            "description": "",
            "name": status,
            "id": str(category_id),
            "statusCategory": {
                "self": f"{SITE}/rest/api/3/statuscategory/{category_id}",
                "id": category_id,
                "key": category,
                "colorName": "green" if category == "done" else "yellow",
                "name": category_name,
            },
        },
        "issuetype": {"id": "10003", "name": "Service Request", "subtask": False},
        "project": {
            "self": f"{SITE}/rest/api/3/project/10000",
            "id": "10000",
            "key": project,
            "name": "Service Desk",
            "projectTypeKey": "service_desk",
        },
        "reporter": {
            "accountId": reporter,
            "accountType": "customer",
            "displayName": "Pat Customer",
            "active": True,
        },
        "assignee": (
            None
            if assignee is None
            else {
                "accountId": assignee,
                "accountType": "atlassian",
                "displayName": "Alex Agent",
                "active": True,
            }
        ),
        FIELD_ORGANIZATIONS: [] if organization is None else [{"id": "1", "name": organization}],
        FIELD_REQUEST_TYPE: {
            "_links": {"web": f"{SITE}/servicedesk/customer/portal/1/SD-{number}"},
            "requestType": {
                "id": "11",
                "name": request_type,
                "description": "Get assistance for general IT problems and questions.",
                "serviceDeskId": "1",
                "groupIds": ["1"],
            },
            "currentStatus": {
                "status": status,
                "statusCategory": category.upper(),
                "statusDate": jsm_date(updated or max(times)),
            },
        },
        FIELD_TIME_TO_FIRST_RESPONSE: sla_field(
            "Time to first response", created, respond_hours, first_response
        ),
        FIELD_TIME_TO_RESOLUTION: sla_field("Time to resolution", created, resolve_hours, resolved),
        FIELD_SATISFACTION: None if rating is None else {"rating": rating},
        FIELD_SATISFACTION_DATE: jira_time(rated_at) if rated_at else None,
    }
    return {
        "expand": "operations,versionedRepresentations,editmeta,changelog,renderedFields",
        "id": issue_id,
        "self": f"{SITE}/rest/api/3/issue/{issue_id}",
        "key": f"{project}-{number}",
        "fields": fields,
    }


def history(
    history_id: int, created: datetime, *items: tuple[str, str | None, str | None]
) -> dict[str, Any]:
    """A changelog entry; items are ``(field, from, to)``."""
    return {
        "id": str(history_id),
        "author": {"accountId": "5b10a2844c20165700ede21g", "displayName": "Alex Agent"},
        "created": jira_time(created),
        "items": [
            {
                "field": name,
                "fieldtype": "jira",
                "fieldId": name,
                "from": old,
                "fromString": old,
                "to": new,
                "toString": new,
            }
            for name, old, new in items
        ],
    }


@dataclass
class Dataset:
    """What the fake site holds."""

    issues: list[dict[str, Any]]
    changelogs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Issue id → its histories, oldest first."""
    feedback: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Issue key → the feedback body."""

    def issue(self, key: str) -> dict[str, Any]:
        return next(i for i in self.issues if i["key"] == key)


def sample_dataset() -> Dataset:
    """Twelve requests from January to March 2026 for two organizations (and one with no
    organization, whose client is its project), every priority, some unresolved, one
    reopened, two reassigned; five rated (one rated 2)."""

    def at(month: int, day: int, hour: int = 9, minute: int = 0) -> datetime:
        return datetime(2026, month, day, hour, minute, tzinfo=UTC)

    specs: list[dict[str, Any]] = [
        {"created": at(1, 5), "priority": "Highest", "first_response": at(1, 5, 9, 30),
         "resolved": at(1, 5, 12), "rating": 5, "rated_at": at(1, 6, 8)},
        {"created": at(1, 12), "priority": "High", "first_response": at(1, 12, 11),
         "resolved": at(1, 13, 15), "organization": "Globex", "rating": 4,
         "rated_at": at(1, 14, 10)},
        {"created": at(1, 19), "priority": "Medium", "first_response": at(1, 19, 18),
         "resolved": at(1, 26, 10), "rating": 2, "rated_at": at(1, 27, 9)},
        {"created": at(1, 26), "priority": "Low", "first_response": at(1, 27),
         "resolved": at(2, 2), "organization": "Globex"},
        {"created": at(2, 2), "priority": "Lowest", "first_response": at(2, 3),
         "resolved": at(2, 9), "organization": None},
        {"created": at(2, 9), "priority": "High", "first_response": at(2, 9, 10),
         "resolved": at(2, 10, 16), "rating": 5, "rated_at": at(2, 11, 9)},
        {"created": at(2, 16), "priority": "Medium", "first_response": at(2, 16, 12),
         "resolved": at(2, 18), "organization": "Globex"},
        {"created": at(2, 23), "priority": "Highest", "first_response": at(2, 23, 9, 45),
         "resolved": at(2, 23, 16)},
        {"created": at(3, 2), "priority": "Medium", "first_response": at(3, 2, 15),
         "resolved": at(3, 4), "rating": 3, "rated_at": at(3, 5, 9)},
        {"created": at(3, 9), "priority": "Low", "first_response": at(3, 10),
         "organization": "Globex"},
        {"created": at(3, 16), "priority": "High"},
        {"created": at(3, 23), "priority": "Medium", "first_response": at(3, 23, 14),
         "assignee": None},
    ]  # fmt: skip
    issues = [make_issue(n, **spec) for n, spec in enumerate(specs, start=1)]
    data = Dataset(issues=issues)
    sd3, sd6, sd9 = data.issue("SD-3"), data.issue("SD-6"), data.issue("SD-9")
    # SD-3 was resolved, reopened, resolved again: two resolution cycles, the last breached.
    sd3["fields"][FIELD_TIME_TO_RESOLUTION] = sla_field(
        "Time to resolution", at(1, 23), 72, at(1, 26, 10), earlier_cycles=[(at(1, 19), at(1, 22))]
    )
    data.changelogs = {
        sd3["id"]: [  # assigned, reassigned, resolved, reopened, resolved again
            history(1, at(1, 19, 10), ("assignee", None, "5b10a2844c20165700ede21g")),
            history(2, at(1, 20), ("assignee", "5b10a2844c20165700ede21g", "70121:9f1c")),
            history(3, at(1, 22), ("resolution", None, "10000"), ("status", "3", "5")),
            history(4, at(1, 23), ("resolution", "10000", None), ("status", "5", "3")),
            history(5, at(1, 26, 10), ("resolution", None, "10000")),
        ],
        sd6["id"]: [
            history(6, at(2, 9, 10), ("assignee", None, "70121:9f1c")),
            history(7, at(2, 9, 11), ("assignee", "70121:9f1c", "5b10a2844c20165700ede21g")),
            history(8, at(2, 10, 16), ("resolution", None, "10000")),
        ],
        sd9["id"]: [history(9, at(3, 4), ("resolution", None, "10000"))],
    }
    data.feedback = {
        issue["key"]: {
            "type": "csat",
            "rating": issue["fields"][FIELD_SATISFACTION]["rating"],
            "comment": {"body": f"Rated {issue['fields'][FIELD_SATISFACTION]['rating']}/5."},
        }
        for issue in issues
        if issue["fields"][FIELD_SATISFACTION]
    }
    data.feedback["SD-3"]["comment"] = {"body": "Slow to answer, and it came back."}
    return data


def _jira_datetime(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")


class FakeJira:
    """The documented endpoints on ``server``, serving ``data``.

    ``calls`` records every request as ``(method, path, json body or None)``;
    ``page_limit`` caps ``maxResults`` as Jira may; ``changelog_page_size`` is the
    histories per bulk changelog page.
    """

    def __init__(
        self,
        server: HTTPServer,
        data: Dataset | None = None,
        *,
        time_zone: str | None = "UTC",
        email: str = EMAIL,
        token: str = TOKEN,
        page_limit: int = 100,
        changelog_page_size: int = 3,
    ) -> None:
        self.server = server
        self.data = data or sample_dataset()
        self.time_zone = time_zone
        self.authorization = "Basic " + base64.b64encode(f"{email}:{token}".encode()).decode()
        self.page_limit = page_limit
        self.changelog_page_size = changelog_page_size
        self.calls: list[tuple[str, str, Any]] = []
        self._searches: dict[str, list[dict[str, Any]]] = {}
        server.expect_request("/rest/api/3/search/jql", method="POST").respond_with_handler(
            self._search
        )
        server.expect_request(
            "/rest/api/3/changelog/bulkfetch", method="POST"
        ).respond_with_handler(self._changelog)
        server.expect_request("/rest/api/3/myself", method="GET").respond_with_handler(self._myself)
        server.expect_request(_FEEDBACK_URI, method="GET").respond_with_handler(self._feedback)

    @property
    def base_url(self) -> str:
        return self.server.url_for("/").rstrip("/")

    # ---------------------------------------------------------------- what tests read

    def bodies(self, path: str) -> list[Any]:
        """The JSON bodies sent to ``path``, in order."""
        return [body for _method, called, body in self.calls if called == path]

    def feedback_keys(self) -> list[str]:
        """The request keys whose feedback was asked, in order."""
        found = (_FEEDBACK_URI.fullmatch(path) for _m, path, _b in self.calls)
        return [match.group(1) for match in found if match]

    def fail_next(self, path: str, status: int, *, method: str = "POST", **response: Any) -> None:
        """Answer the next request to ``path`` with ``status`` (a JSON ``body`` and
        ``headers`` may be given), then serve normally again."""
        body = response.get("body", {"errorMessages": [f"HTTP {status}"], "errors": {}})
        self.server.expect_oneshot_request(path, method=method).respond_with_response(
            Response(
                json.dumps(body),
                status=status,
                headers=response.get("headers", {}),
                content_type="application/json",
            )
        )

    # ---------------------------------------------------------------- a change on the site

    def update(self, key: str, updated: datetime, **changes: Any) -> dict[str, Any]:
        """Change a request's fields (Jira's shapes) and its ``updated`` time."""
        issue = self.data.issue(key)
        issue["fields"].update(changes)
        issue["fields"]["updated"] = jira_time(updated)
        return issue

    # ---------------------------------------------------------------- handlers

    def _record(self, request: Request) -> Any:
        body = request.get_json(silent=True) if request.method == "POST" else None
        self.calls.append((request.method, request.path, body))
        return body

    def _unauthorized(self, request: Request) -> Response | None:
        if request.headers.get("Authorization") == self.authorization:
            return None
        message = "Client must be authenticated to access this resource."
        return self._json({"errorMessages": [message]}, 401)

    @staticmethod
    def _json(body: Any, status: int = 200) -> Response:
        return Response(json.dumps(body), status=status, content_type="application/json")

    def _bad_jql(self, message: str) -> Response:
        return self._json({"errorMessages": [message], "warningMessages": []}, 400)

    def _matches(self, jql: str) -> list[dict[str, Any]] | Response:
        where, _, order = jql.partition(" ORDER BY ")
        if order.strip() != "updated ASC":
            return self._bad_jql(f"Unsupported ORDER BY in the test server: {order!r}")
        issues = list(self.data.issues)
        for clause in _clauses(where):
            if match := _PROJECTS.fullmatch(clause):
                keys = {k.strip().strip('"') for k in match.group(1).split(",")}
                issues = [i for i in issues if i["fields"]["project"]["key"] in keys]
            elif match := _SINCE.fullmatch(clause):
                zone = ZoneInfo(self.time_zone or "UTC")
                wall = datetime.strptime(match.group(1), "%Y/%m/%d %H:%M")
                bound = wall.replace(tzinfo=zone)
                issues = [i for i in issues if _jira_datetime(i["fields"]["updated"]) >= bound]
            elif match := _NOT_EMPTY.fullmatch(clause):
                name = "resolution" if match.group(2) is None else f"customfield_{match.group(2)}"
                issues = [i for i in issues if i["fields"].get(name)]
            else:
                return self._bad_jql(
                    f"Error in the JQL Query: the test server does not know {clause!r}."
                )
        return sorted(issues, key=lambda i: (_jira_datetime(i["fields"]["updated"]), i["id"]))

    def _search(self, request: Request) -> Response:
        body = self._record(request)
        if (refused := self._unauthorized(request)) is not None:
            return refused
        if not isinstance(body, dict) or not isinstance(body.get("jql"), str):
            return self._bad_jql("The request body must be a JSON object with a jql string.")
        token = body.get("nextPageToken")
        if token is None:
            found = self._matches(body["jql"])
            if isinstance(found, Response):
                return found
            token = f"search-{len(self._searches) + 1}:0"
            self._searches[token.split(":")[0]] = found
        search, _, start_text = str(token).partition(":")
        if search not in self._searches or not start_text.isdigit():
            return self._bad_jql("The provided next page token is invalid or expired.")
        found_issues = self._searches[search]
        start = int(start_text)
        size = min(int(body.get("maxResults", 50)), self.page_limit)
        page = found_issues[start : start + size]
        wanted = body.get("fields") or []
        issues = [
            {**{k: v for k, v in issue.items() if k != "fields"},
             "fields": {f: copy.deepcopy(issue["fields"].get(f)) for f in wanted}}
            for issue in page
        ]  # fmt: skip
        response: dict[str, Any] = {"issues": issues, "isLast": start + size >= len(found_issues)}
        if not response["isLast"]:
            response["nextPageToken"] = f"{search}:{start + size}"
        return self._json(response)

    def _changelog(self, request: Request) -> Response:
        body = self._record(request)
        if (refused := self._unauthorized(request)) is not None:
            return refused
        ids = [str(i) for i in body.get("issueIdsOrKeys") or []]
        if not ids or len(ids) > 1000:
            return self._bad_jql("issueIdsOrKeys must hold 1 to 1000 issues.")
        wanted = set(body.get("fieldIds") or [])
        entries: list[tuple[str, dict[str, Any]]] = []
        for issue_id in ids:
            for entry in self.data.changelogs.get(issue_id, []):
                items = [i for i in entry["items"] if not wanted or i["fieldId"] in wanted]
                if items:
                    entries.append((issue_id, {**entry, "items": items}))
        entries.sort(key=lambda e: (_jira_datetime(e[1]["created"]), int(e[0])))
        start = int(body.get("nextPageToken") or 0)
        page = entries[start : start + self.changelog_page_size]
        grouped: dict[str, list[dict[str, Any]]] = {}
        for issue_id, entry in page:
            grouped.setdefault(issue_id, []).append(entry)
        response: dict[str, Any] = {
            "issueChangeLogs": [
                {"issueId": issue_id, "changeHistories": histories}
                for issue_id, histories in grouped.items()
            ]
        }
        if start + self.changelog_page_size < len(entries):
            response["nextPageToken"] = str(start + self.changelog_page_size)
        return self._json(response)

    def _myself(self, request: Request) -> Response:
        self._record(request)
        if (refused := self._unauthorized(request)) is not None:
            return refused
        return self._json(
            {
                "self": f"{SITE}/rest/api/3/user?accountId=5b10a2844c20165700ede21g",
                "accountId": "5b10a2844c20165700ede21g",
                "accountType": "atlassian",
                "emailAddress": EMAIL,
                "displayName": "CX Reader",
                "active": True,
                "timeZone": self.time_zone,
                "locale": "en_US",
            }
        )

    def _feedback(self, request: Request) -> Response:
        self._record(request)
        if (refused := self._unauthorized(request)) is not None:
            return refused
        match = _FEEDBACK_URI.fullmatch(request.path)
        assert match is not None
        feedback = self.data.feedback.get(match.group(1))
        if feedback is None:
            return self._json(
                {
                    "errorMessage": "No feedback was found for this request.",
                    "i18nErrorMessage": {"i18nKey": "sd.feedback.not.found", "parameters": []},
                },
                404,
            )
        return self._json(feedback)


def _clauses(where: str) -> list[str]:
    """Top-level ``AND`` clauses; a parenthesised group is split in turn."""
    clauses: list[str] = []
    for part in _split_and(where.strip()):
        if part.startswith("(") and part.endswith(")"):
            clauses.extend(_clauses(part[1:-1]))
        elif part:
            clauses.append(part)
    return clauses


def _split_and(text: str) -> list[str]:
    parts, depth, start, quoted = [], 0, 0, False
    index = 0
    while index < len(text):
        char = text[index]
        if char == '"' and (index == 0 or text[index - 1] != "\\"):
            quoted = not quoted
        elif not quoted and char in "([":
            depth += 1
        elif not quoted and char in ")]":
            depth -= 1
        elif not quoted and depth == 0 and text.startswith(" AND ", index):
            parts.append(text[start:index].strip())
            index += 5
            start = index
            continue
        index += 1
    parts.append(text[start:].strip())
    return parts


def source_options(fake: FakeJira, **overrides: Any) -> dict[str, Any]:
    """``[sources.options]`` pointing at ``fake`` with fast retries (waits of ms)."""
    options: dict[str, Any] = {
        "base_url": fake.base_url,
        "username_env": "JIRA_EMAIL",
        "password_env": "JIRA_API_TOKEN",
        "projects": ["SD"],
        "organization_field": FIELD_ORGANIZATIONS,
        "backoff_base": 0.01,
        "backoff_max": 0.02,
        "max_attempts": 3,
        "max_total_wait": 5,
    }
    return {**options, **overrides}


__all__ = [
    "EMAIL",
    "FIELD_ORGANIZATIONS",
    "FIELD_REQUEST_TYPE",
    "FIELD_SATISFACTION",
    "FIELD_SATISFACTION_DATE",
    "FIELD_TIME_TO_FIRST_RESPONSE",
    "FIELD_TIME_TO_RESOLUTION",
    "TOKEN",
    "Dataset",
    "FakeJira",
    "history",
    "jira_time",
    "jsm_date",
    "make_issue",
    "sample_dataset",
    "sla_field",
    "source_options",
]
