"""The Jira Service Management (Cloud) sources: requests as tickets, CSAT feedback as survey
responses.

Both search issues with JQL through the enhanced search endpoint (``POST
/rest/api/3/search/jql``, paged by ``nextPageToken`` until ``isLast``), on the shared HTTP
base (:mod:`cxpipe.sources.http`: credentials from the environment, retries honouring
``Retry-After``, scrubbed messages). ``jira.requests`` adds each page's changelog counts
(``POST /rest/api/3/changelog/bulkfetch``, one call per page, not per issue);
``jira.feedback`` asks ``GET /rest/servicedeskapi/request/{key}/feedback`` for each resolved
request changed since the watermark, and no other. See the README for the options, the
derived ``jsm.*`` columns and the incremental overlap.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl
from pydantic import Field, field_validator, model_validator

from cxpipe.config import SourceConfig
from cxpipe.sources.base import Extract
from cxpipe.sources.http import (
    HttpOptions,
    HttpSource,
    NextUrlPaginator,
    frame_from_records,
)
from cxpipe_jira import derive

log = logging.getLogger(__name__)

SEARCH_PATH = "/rest/api/3/search/jql"
"""Enhanced JQL search. The older ``/rest/api/3/search`` (``startAt``/``total``) was
removed from Jira Cloud in 2025 and is not used."""
CHANGELOG_PATH = "/rest/api/3/changelog/bulkfetch"
MYSELF_PATH = "/rest/api/3/myself"
FEEDBACK_PATH = "/rest/servicedeskapi/request/{issueIdOrKey}/feedback"

SEARCH_PAGES = NextUrlPaginator("nextPageToken", done_path="isLast")
CHANGELOG_PAGES = NextUrlPaginator("nextPageToken")
CHANGELOG_FIELDS = ("assignee", "resolution")
CHANGELOG_BATCH = 1000
"""Issues per bulk changelog request (the endpoint's maximum)."""

STANDARD_FIELDS = (
    "created",
    "updated",
    "resolutiondate",
    "resolution",
    "priority",
    "status",
    "issuetype",
    "project",
    "reporter",
    "assignee",
)
"""The system fields every search asks for (``fields.<id>.…`` in the frame)."""
FEEDBACK_FIELDS = ("created", "updated", "resolutiondate", "resolution", "project", "reporter")

JQL_DATETIME = "%Y/%m/%d %H:%M"
_CUSTOM_FIELD = re.compile(r"customfield_(\d+)")
_FIELD_ID = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]*")
_ORDER_BY = re.compile(r"\border\s+by\b", re.IGNORECASE)


# --------------------------------------------------------------------------- options


class JiraOptions(HttpOptions):
    """Settings of both Jira sources (plus every :class:`HttpOptions` setting)."""

    page_size: int = Field(100, ge=1, le=5000)
    """``maxResults`` of a search page; Jira may send fewer, paging goes on by token."""
    projects: list[str] = Field(default_factory=list)
    """Project keys to read (``project IN (…)``)."""
    jql: str | None = None
    """Extra JQL, AND-ed to the connector's clauses (no ``ORDER BY``: the connector orders by
    ``updated``). ``projects`` or ``jql`` is required: Jira refuses unbounded searches."""
    jql_timezone: str = "auto"
    """Time zone Jira reads the ``updated >= "yyyy/MM/dd HH:mm"`` bound in: the API user's
    profile time zone. ``auto`` asks ``GET /rest/api/3/myself`` once per incremental read."""
    overlap_minutes: int = Field(1, ge=0, le=1440)
    """Minutes re-read before the watermark's minute (JQL has minute precision and the search
    index is eventually consistent); the runner's key merge drops the duplicates."""
    organization_field: str | None = None
    """The "Organizations" custom field (``customfield_10002``): ``jsm.organization`` and
    ``jsm.client``."""
    request_type_field: str | None = None
    """The "Customer Request Type" custom field (``customfield_10010``):
    ``jsm.request_type``."""
    extra_fields: list[str] = Field(default_factory=list)
    """More field ids to ask for (``customfield_10001``), to map as ``fields.<id>…``."""

    @field_validator("organization_field", "request_type_field")
    @classmethod
    def _custom_field(cls, value: str | None) -> str | None:
        if value is not None and not _CUSTOM_FIELD.fullmatch(value):
            raise ValueError("must be a custom field id like customfield_10010")
        return value

    @field_validator("extra_fields")
    @classmethod
    def _field_ids(cls, value: list[str]) -> list[str]:
        for name in value:
            if not _FIELD_ID.fullmatch(name):
                raise ValueError(f"{name!r} is not a Jira field id (customfield_10001, labels)")
        return value

    @field_validator("projects")
    @classmethod
    def _project_keys(cls, value: list[str]) -> list[str]:
        for key in value:
            if not key.strip():
                raise ValueError("project keys must not be empty")
        return value

    @field_validator("jql")
    @classmethod
    def _no_order_by(cls, value: str | None) -> str | None:
        if value is not None and _ORDER_BY.search(value):
            raise ValueError("must not have ORDER BY: the connector orders by updated")
        return value

    @field_validator("jql_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if value != "auto":
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(
                    f"{value!r} is not an IANA time zone (Europe/Paris) or 'auto'"
                ) from None
        return value

    @model_validator(mode="after")
    def _bounded_and_authenticated(self) -> JiraOptions:
        if not self.projects and not (self.jql and self.jql.strip()):
            raise ValueError(
                "give projects (project keys) or jql: Jira Cloud refuses an unbounded search"
            )
        if not (self.username_env or self.token_env or self.token_secret_block):
            raise ValueError(
                "Jira Cloud needs credentials: set username_env (the variable holding the "
                "account's e-mail) and password_env (the one holding its API token)"
            )
        return self


class JiraRequestsOptions(JiraOptions):
    """``kind = "jira.requests"``."""

    sla_first_response_field: str | None = None
    """The "Time to first response" SLA field (``customfield_10030``):
    ``jsm.first_response_at``, ``jsm.respond_due_at``, ``jsm.respond_breached``."""
    sla_resolution_field: str | None = None
    """The "Time to resolution" SLA field (``customfield_10031``): ``jsm.resolve_due_at``,
    ``jsm.resolve_stopped_at``, ``jsm.resolve_breached``."""
    changelog: bool = True
    """Count reopens and reassignments from the changelogs (``jsm.reopen_count``,
    ``jsm.reassignment_count``): one bulk request per search page."""

    @field_validator("sla_first_response_field", "sla_resolution_field")
    @classmethod
    def _sla_field(cls, value: str | None) -> str | None:
        if value is not None and not _CUSTOM_FIELD.fullmatch(value):
            raise ValueError("must be a custom field id like customfield_10030")
        return value


class JiraFeedbackOptions(JiraOptions):
    """``kind = "jira.feedback"``."""

    headers: dict[str, str] = Field(default_factory=lambda: {"X-ExperimentalApi": "opt-in"})
    """The JSM feedback resource has been marked experimental; the opt-in header is sent
    (and kept when you add headers of your own)."""
    satisfaction_field: str | None = None
    """The "Satisfaction" field (``customfield_10034``): when set, only requests with a
    rating are searched, so a feedback call is made only where there is feedback."""
    satisfaction_date_field: str | None = None
    """The "Satisfaction date" field (``customfield_10035``): ``jsm.submitted_at``; without
    it, the request's resolution date stands in."""
    max_feedback_requests: int = Field(2000, ge=1)
    """Bound on the per-request feedback calls of one extract (the N of the N+1): more
    candidates is an error, not a silent cut."""

    @field_validator("satisfaction_field", "satisfaction_date_field")
    @classmethod
    def _satisfaction_field(cls, value: str | None) -> str | None:
        if value is not None and not _CUSTOM_FIELD.fullmatch(value):
            raise ValueError("must be a custom field id like customfield_10034")
        return value

    @field_validator("headers")
    @classmethod
    def _experimental_opt_in(cls, value: dict[str, str]) -> dict[str, str]:
        return {"X-ExperimentalApi": "opt-in", **value}


# --------------------------------------------------------------------------- JQL


def jql_string(value: str) -> str:
    """A JQL string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def custom_field_clause(field_id: str) -> str:
    """``customfield_10034`` as JQL names it: ``cf[10034]``."""
    match = _CUSTOM_FIELD.fullmatch(field_id)
    if match is None:
        raise ValueError(f"{field_id!r} is not a custom field id")
    return f"cf[{match.group(1)}]"


def jql_since(since: datetime, zone: ZoneInfo, overlap_minutes: int) -> str:
    """The ``updated >=`` bound for a watermark, as JQL reads it: minutes, wall time in
    the API user's time zone.

    The watermark's minute is floored and ``overlap_minutes`` more are re-read. A wall time
    that a DST change makes ambiguous is moved an hour earlier, so whichever instant Jira
    picks is not after the watermark.
    """
    instant = since if since.tzinfo else since.replace(tzinfo=UTC)
    bound = instant - timedelta(minutes=overlap_minutes)
    wall = bound.astimezone(zone).replace(second=0, microsecond=0)
    if wall.replace(fold=0).utcoffset() != wall.replace(fold=1).utcoffset():
        wall = (bound - timedelta(hours=1)).astimezone(zone).replace(second=0, microsecond=0)
    return wall.strftime(JQL_DATETIME)


def build_jql(
    *,
    projects: Sequence[str] = (),
    jql: str | None = None,
    clauses: Sequence[str] = (),
    updated_since: str | None = None,
) -> str:
    """``project IN (…) AND (jql) AND clauses… AND updated >= "…" ORDER BY updated ASC``."""
    parts: list[str] = []
    if projects:
        parts.append("project IN (" + ", ".join(jql_string(p) for p in projects) + ")")
    if jql and jql.strip():
        parts.append(f"({jql.strip()})")
    parts.extend(clauses)
    if updated_since is not None:
        parts.append(f"updated >= {jql_string(updated_since)}")
    return " AND ".join(parts) + " ORDER BY updated ASC"


# --------------------------------------------------------------------------- sources


class JiraSource(HttpSource):
    """What both Jira sources share: JQL, token-paged POST searches, the frame."""

    Options: ClassVar[type[JiraOptions]] = JiraOptions
    options: JiraOptions

    def __init__(self, config: SourceConfig, *, resolve_path: Any = None) -> None:
        super().__init__(config, resolve_path=resolve_path)
        self._zone: ZoneInfo | None = None

    # ---------------------------------------------------------------- JQL

    def time_zone(self) -> ZoneInfo:
        """The zone JQL dates are read in: ``jql_timezone``, or the API user's profile
        time zone (``GET /rest/api/3/myself``, asked once)."""
        if self._zone is None:
            name = self.options.jql_timezone
            if name == "auto":
                me = self.request(MYSELF_PATH)
                found = me.get("timeZone")
                try:
                    self._zone = ZoneInfo(str(found))
                except (ZoneInfoNotFoundError, ValueError):
                    raise self.error(
                        f"GET {MYSELF_PATH}: the API user's time zone is {found!r}, not one "
                        f"JQL dates can be written in; set options.jql_timezone to the "
                        f"user's profile time zone"
                    ) from None
            else:
                self._zone = ZoneInfo(name)
        return self._zone

    def jql(self, since: datetime | None, clauses: Sequence[str] = ()) -> str:
        """The search's JQL; with ``since``, only issues updated from its minute on (minus
        ``overlap_minutes``) in the API user's time zone."""
        bound = (
            None
            if since is None
            else jql_since(since, self.time_zone(), self.options.overlap_minutes)
        )
        return build_jql(
            projects=self.options.projects,
            jql=self.options.jql,
            clauses=clauses,
            updated_since=bound,
        )

    def search_fields(self) -> list[str]:
        """The ``fields`` every search asks for."""
        return list(
            dict.fromkeys(
                [
                    *STANDARD_FIELDS,
                    *(f for f in (self.options.organization_field,) if f),
                    *(f for f in (self.options.request_type_field,) if f),
                    *self.options.extra_fields,
                ]
            )
        )

    # ---------------------------------------------------------------- paging

    def search(self, jql: str, fields: Sequence[str]) -> Iterator[list[dict[str, Any]]]:
        """Every page of issues matching ``jql``, with ``fields``."""
        body = {"jql": jql, "fields": list(fields), "maxResults": self.options.page_size}
        log.info("source %r: searching %s", self.name, jql)
        yield from self.records(SEARCH_PATH, body, "issues", paginator=SEARCH_PAGES, method="POST")

    # ---------------------------------------------------------------- the frame

    def frame(self, rows: Sequence[tuple[str, int, Mapping[str, Any]]]) -> pl.LazyFrame:
        """Records as a frame of text columns (nested fields by dotted name), with lineage
        ``(_cx_file, _cx_row)`` as given; a mapped column a null parent object leaves
        out (``fields.assignee.accountId`` when no request is assigned) is there, null."""
        return frame_from_records(rows, self.config.source_columns())


class JiraRequests(JiraSource):
    """Jira Service Management requests (any issue the JQL finds), one row per issue.

    Columns: the issue flattened (``key``, ``fields.status.statusCategory.key``…) and the
    derived ``jsm.*`` columns (see the README).
    """

    kind = "jira.requests"
    Options: ClassVar[type[JiraOptions]] = JiraRequestsOptions
    options: JiraRequestsOptions

    def search_fields(self) -> list[str]:
        sla = (self.options.sla_first_response_field, self.options.sla_resolution_field)
        return list(dict.fromkeys([*super().search_fields(), *(f for f in sla if f)]))

    def extract(self, since: datetime | None = None) -> Extract:
        try:
            before = self.retried.copy()
            jql = self.jql(since)
            rows: list[tuple[str, int, Mapping[str, Any]]] = []
            for number, issues in enumerate(self.search(jql, self.search_fields()), start=1):
                counts = self.change_counts(issues) if self.options.changelog else None
                page = f"POST {SEARCH_PATH} page {number}"
                for row, issue in enumerate(issues, start=1):
                    rows.append((page, row, {**issue, "jsm": self.derived(issue, counts)}))
            inputs = [self.endpoint(SEARCH_PATH)]
            if self.options.changelog:
                inputs.append(self.endpoint(CHANGELOG_PATH))
            log.info("source %r: %d requests (%s)", self.name, len(rows), jql)
            return Extract(
                frame=self.frame(rows), inputs=inputs, warnings=self.retry_warnings(before)
            )
        finally:
            self.close()

    def derived(
        self, issue: Mapping[str, Any], counts: Mapping[str, derive.ChangeCounts] | None
    ) -> dict[str, str | None]:
        """The ``jsm.*`` columns of one issue."""
        options = self.options
        respond = derive.sla_columns(
            derive.field(issue, options.sla_first_response_field), "respond"
        )
        resolve = derive.sla_columns(derive.field(issue, options.sla_resolution_field), "resolve")
        values: dict[str, str | None] = {
            "request_type": derive.request_type_name(
                derive.field(issue, options.request_type_field)
            ),
            "organization": derive.first_organization(
                derive.field(issue, options.organization_field)
            ),
            "client": derive.client_of(issue, options.organization_field),
            "first_response_at": respond["respond_stopped_at"],
            "respond_due_at": respond["respond_due_at"],
            "respond_breached": respond["respond_breached"],
            "resolve_due_at": resolve["resolve_due_at"],
            "resolve_stopped_at": resolve["resolve_stopped_at"],
            "resolve_breached": resolve["resolve_breached"],
        }
        if counts is not None:
            found = counts.get(str(issue.get("id")), derive.ChangeCounts())
            values["reopen_count"] = str(found.reopens)
            values["reassignment_count"] = str(found.reassignments)
        return values

    def change_counts(self, issues: Sequence[Mapping[str, Any]]) -> dict[str, derive.ChangeCounts]:
        """Reopens and reassignments of ``issues``, by issue id, from their whole changelogs
        (``POST /rest/api/3/changelog/bulkfetch``, filtered to assignee and resolution)."""
        ids = [str(issue["id"]) for issue in issues if issue.get("id") is not None]
        counts: dict[str, derive.ChangeCounts] = {i: derive.ChangeCounts() for i in ids}
        for start in range(0, len(ids), CHANGELOG_BATCH):
            body = {
                "issueIdsOrKeys": ids[start : start + CHANGELOG_BATCH],
                "fieldIds": list(CHANGELOG_FIELDS),
            }
            pages = self.records(
                CHANGELOG_PATH, body, "issueChangeLogs", paginator=CHANGELOG_PAGES, method="POST"
            )
            for logs in pages:
                for log_entry in logs:
                    issue_id = str(log_entry.get("issueId"))
                    tally = counts.setdefault(issue_id, derive.ChangeCounts())
                    derive.count_changes(log_entry.get("changeHistories") or [], tally)
        return counts


class JiraFeedback(JiraSource):
    """Customer satisfaction feedback of resolved JSM requests: one row per rated request.

    Searches the resolved requests changed since the watermark, then asks each one's
    feedback (``GET /rest/servicedeskapi/request/{key}/feedback``): N+1 requests, bounded
    by ``max_feedback_requests``. Columns: the issue flattened, ``feedback.rating`` (1–5),
    ``feedback.comment.body``, and ``jsm.response_id``, ``jsm.client``,
    ``jsm.submitted_at``.
    """

    kind = "jira.feedback"
    Options: ClassVar[type[JiraOptions]] = JiraFeedbackOptions
    options: JiraFeedbackOptions

    def search_fields(self) -> list[str]:
        options = self.options
        custom = (
            options.organization_field,
            options.satisfaction_field,
            options.satisfaction_date_field,
        )
        return list(
            dict.fromkeys([*FEEDBACK_FIELDS, *(f for f in custom if f), *options.extra_fields])
        )

    def candidates_jql(self, since: datetime | None) -> str:
        """Resolved requests changed since ``since``; rated ones only when
        ``satisfaction_field`` is set."""
        clauses = ["resolution IS NOT EMPTY"]
        if self.options.satisfaction_field:
            clauses.append(f"{custom_field_clause(self.options.satisfaction_field)} IS NOT EMPTY")
        return self.jql(since, clauses)

    def extract(self, since: datetime | None = None) -> Extract:
        try:
            before = self.retried.copy()
            jql = self.candidates_jql(since)
            limit = self.options.max_feedback_requests
            candidates: list[dict[str, Any]] = []
            for issues in self.search(jql, self.search_fields()):
                candidates.extend(issues)
                if len(candidates) > limit:
                    raise self.error(
                        f"more than options.max_feedback_requests = {limit} resolved "
                        f"requests match {jql!r}, each needing its own feedback request; "
                        f"raise the bound for this read, set satisfaction_field to ask only "
                        f"rated requests, or narrow projects/jql"
                    )
            rows: list[tuple[str, int, Mapping[str, Any]]] = []
            for issue in candidates:
                key = str(issue.get("key") or issue.get("id"))
                body = self.feedback(key)
                if body is None or derive.feedback_rating(body) is None:
                    continue
                where = f"GET {FEEDBACK_PATH.format(issueIdOrKey=key)}"
                rows.append((where, 1, {**issue, "feedback": body, "jsm": self.derived(issue)}))
            log.info(
                "source %r: %d of %d resolved requests have feedback",
                self.name,
                len(rows),
                len(candidates),
            )
            return Extract(
                frame=self.frame(rows),
                inputs=[self.endpoint(SEARCH_PATH), self.endpoint(FEEDBACK_PATH)],
                warnings=self.retry_warnings(before),
            )
        finally:
            self.close()

    def feedback(self, key: str) -> dict[str, Any] | None:
        """The request's CSAT feedback body, or ``None`` when it has none (404)."""
        return self.get_if_exists(FEEDBACK_PATH.format(issueIdOrKey=quote(key, safe="")))

    def derived(self, issue: Mapping[str, Any]) -> dict[str, str | None]:
        """The ``jsm.*`` columns of one rated request."""
        options = self.options
        submitted = derive.field(issue, options.satisfaction_date_field)
        if not isinstance(submitted, str) or not submitted:
            resolved = derive.field(issue, "resolutiondate")
            submitted = resolved if isinstance(resolved, str) else None
        return {
            "response_id": f"{issue.get('key')}:csat",
            "organization": derive.first_organization(
                derive.field(issue, options.organization_field)
            ),
            "client": derive.client_of(issue, options.organization_field),
            "submitted_at": submitted,
        }


__all__ = [
    "CHANGELOG_PATH",
    "FEEDBACK_PATH",
    "MYSELF_PATH",
    "SEARCH_PATH",
    "JiraFeedback",
    "JiraFeedbackOptions",
    "JiraOptions",
    "JiraRequests",
    "JiraRequestsOptions",
    "JiraSource",
    "build_jql",
    "custom_field_clause",
    "jql_since",
    "jql_string",
]
