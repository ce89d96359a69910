"""A ServiceNow instance's Table API on a local HTTP server, for tests.

:class:`FakeInstance` answers ``GET /api/now[/{api_version}]/table/{tableName}`` on a
``pytest-httpserver`` server as ServiceNow's Table API documentation describes it:

- ``sysparm_query`` (conditions joined by ``^``, with ``=``, ``!=``, ``>=``, ``>``,
  ``<=``, ``<``, ``IN``, ``STARTSWITH`` and ``LIKE``, dot-walks through references, and
  ``ORDERBY``/``ORDERBYDESC``); a query it does not understand is a 400, so a connector's
  mistake fails instead of being ignored as a real instance would;
- ``sysparm_fields`` (dot-walked names come back as keys such as ``instance.taken_on``;
  unknown fields are ignored), ``sysparm_display_value`` (``true``/``false``/``all``:
  labels of choices, display fields of referenced records, date-times in the API user's
  time zone) and ``sysparm_exclude_reference_link``;
- ``sysparm_limit``/``sysparm_offset`` paging, applied *before* ACLs (records in
  :attr:`FakeInstance.hidden` are counted but not returned), with the ``X-Total-Count``
  and ``Link`` (first/prev/next/last) response headers;
- HTTP Basic or bearer authentication, ``{"error": {"message", "detail"}, "status":
  "failure"}`` bodies for 400/401/403, and canned responses (429 with ``Retry-After``,
  500…) served first when queued.

Records hold database values: strings, ``None``, or :class:`Ref` for reference fields.
:func:`load_sample` fills an instance with a small, consistent data set (companies,
groups, users, incidents, requested items, SLAs and a satisfaction survey).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

TABLE_URI = re.compile(r"^/api/now(/v\d+)?/table/[a-z0-9_]+$")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
DATETIME_FIELDS = frozenset(
    {
        "opened_at",
        "resolved_at",
        "closed_at",
        "sys_created_on",
        "sys_updated_on",
        "taken_on",
        "due_date",
        "planned_end_time",
    }
)
"""Fields whose display value is the date-time in the API user's time zone."""

_CONDITION = re.compile(
    r"^(?P<field>[a-z_][a-z0-9_.]*)(?P<op>>=|<=|!=|>|<|=|IN|STARTSWITH|LIKE)(?P<value>.*)$"
)


def sys_id(name: str) -> str:
    """A stable 32-hex sys_id for a sample record."""
    return hashlib.md5(name.encode()).hexdigest()


@dataclass(frozen=True)
class Ref:
    """A reference field's value: the referenced record's table and sys_id."""

    table: str
    sys_id: str


Value = str | Ref | None


def error_body(message: str, detail: str | None = None) -> dict[str, Any]:
    """ServiceNow's error response body."""
    return {"error": {"message": message, "detail": detail}, "status": "failure"}


@dataclass
class Canned:
    """A response served before normal handling (a 429, a 500…)."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class QueryError(ValueError):
    pass


_MISSING: Any = object()


class FakeInstance:
    """The Table API of one instance, with its tables in memory."""

    def __init__(
        self,
        *,
        username: str = "cxpipe.integration",
        password: str | None = None,
        token: str | None = None,
        user_timezone: str = "UTC",
    ) -> None:
        self.username = username
        self.password = password
        self.token = token
        self.user_timezone = user_timezone
        self.tables: dict[str, list[dict[str, Value]]] = {}
        self.choices: dict[tuple[str, str], dict[str, str]] = {}
        """``(table, field)`` → value → label, for choice fields' display values."""
        self.hidden: set[str] = set()
        """sys_ids the API user's ACLs hide: counted by the query, dropped after the limit."""
        self.forbidden: set[str] = set()
        """Tables the API user may not read at all (403)."""
        self.canned: list[Canned] = []
        self.requests: list[dict[str, str]] = []
        """Every request's query parameters, with its path under ``_path``."""
        self.on_page: Callable[[FakeInstance, int], None] | None = None
        """Called after each page served (with the count so far): change data mid-read."""
        self._pages = 0

    # ---------------------------------------------------------------- data

    def install(self, server: HTTPServer) -> FakeInstance:
        server.expect_request(TABLE_URI, method="GET").respond_with_handler(self.handle)
        return self

    def add(self, table: str, **fields: Value) -> str:
        record: dict[str, Value] = {"sys_id": sys_id(f"{table}:{len(self.tables.get(table, []))}")}
        record.update(fields)
        record.setdefault("sys_class_name", table)
        self.tables.setdefault(table, []).append(record)
        assert isinstance(record["sys_id"], str)
        return record["sys_id"]

    def record(self, table: str, key: str) -> dict[str, Value] | None:
        return next((r for r in self.tables.get(table, []) if r["sys_id"] == key), None)

    def update(self, table: str, key: str, **fields: Value) -> None:
        """Change a record; ``sys_updated_on`` becomes now (UTC) unless given."""
        record = self.record(table, key)
        assert record is not None, f"no {table} record {key}"
        record.update(fields)
        if "sys_updated_on" not in fields:
            record["sys_updated_on"] = datetime.now(UTC).strftime(TIME_FORMAT)

    def find(self, table: str, **where: str) -> dict[str, Value]:
        return next(r for r in self.tables[table] if all(r.get(k) == v for k, v in where.items()))

    def queries(self, table: str) -> list[str]:
        """The ``sysparm_query`` of every request made to ``table``, in order."""
        return [
            r.get("sysparm_query", "")
            for r in self.requests
            if r["_path"].endswith(f"/table/{table}")
        ]

    # ---------------------------------------------------------------- HTTP

    def handle(self, request: Request) -> Response:
        self.requests.append({"_path": request.path, **request.args.to_dict()})
        if self.canned:
            canned = self.canned.pop(0)
            return _json(canned.status, canned.body, canned.headers)
        if not self._authorised(request.headers.get("Authorization", "")):
            return _json(
                401, error_body("User Not Authenticated", "Required to provide Auth information")
            )
        table = request.path.rsplit("/", 1)[1]
        if table in self.forbidden:
            return _json(403, error_body("User Not Authorized", f"ACL restricts the table {table}"))
        if table not in self.tables:
            return _json(400, error_body(f"Invalid table {table}"))
        args = request.args
        try:
            matched = self._select(table, args.get("sysparm_query", ""))
        except QueryError as exc:
            return _json(400, error_body("Invalid query", str(exc)))
        limit = int(args.get("sysparm_limit", "10000"))
        offset = int(args.get("sysparm_offset", "0"))
        window = [r for r in matched[offset : offset + limit] if r["sys_id"] not in self.hidden]
        names = args.get("sysparm_fields")
        mode = args.get("sysparm_display_value", "false").lower()
        exclude = args.get("sysparm_exclude_reference_link", "false").lower() == "true"
        base = request.host_url
        result = [
            self._render(
                table,
                r,
                names.split(",") if names else None,
                mode=mode,
                exclude=exclude,
                base=base,
            )
            for r in window
        ]
        headers = {}
        if args.get("sysparm_no_count", "false").lower() != "true":
            headers["X-Total-Count"] = str(len(matched))
        if args.get("sysparm_suppress_pagination_header", "false").lower() != "true":
            links = self._links(request, offset, limit, len(matched))
            if links:
                headers["Link"] = links
        response = _json(200, {"result": result}, headers)
        self._pages += 1
        if self.on_page is not None:
            self.on_page(self, self._pages)
        return response

    def _authorised(self, header: str) -> bool:
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() == "bearer":
            return self.token is not None and credentials == self.token
        if scheme.lower() == "basic" and self.password is not None:
            expected = f"{self.username}:{self.password}".encode()
            return base64.b64decode(credentials or "=") == expected
        return False

    def _links(self, request: Request, offset: int, limit: int, total: int) -> str:
        if total <= limit and offset == 0:
            return ""

        def url(at: int) -> str:
            query = {
                **request.args.to_dict(),
                "sysparm_offset": str(at),
                "sysparm_limit": str(limit),
            }
            return f"<{request.base_url}?{urlencode(query)}>"

        links = [f'{url(0)};rel="first"']
        if offset > 0:
            links.append(f'{url(max(0, offset - limit))};rel="prev"')
        if offset + limit < total:
            links.append(f'{url(offset + limit)};rel="next"')
        links.append(f'{url(max(0, (total - 1) // limit * limit))};rel="last"')
        return ",".join(links)

    # ---------------------------------------------------------------- queries

    def _fields(self, table: str) -> set[str]:
        return {name for record in self.tables.get(table, []) for name in record}

    def _resolve(self, table: str, record: Mapping[str, Value], path: str) -> Any:
        """``(value, table, field)`` at a dotted path, or ``_MISSING`` for a field the
        table does not have."""
        parts = path.split(".")
        for index, part in enumerate(parts):
            if part not in self._fields(table):
                return _MISSING
            value = record.get(part)
            if index == len(parts) - 1:
                return value, table, part
            if not isinstance(value, Ref):
                return None, table, parts[-1]
            target = self.record(value.table, value.sys_id)
            if target is None:
                return None, table, parts[-1]
            table, record = value.table, target
        raise AssertionError("unreachable")

    def _select(self, table: str, query: str) -> list[dict[str, Value]]:
        conditions: list[tuple[str, str, str]] = []
        order: list[tuple[str, bool]] = []
        for part in filter(None, query.split("^")):
            if part.startswith("ORDERBYDESC"):
                order.append((part.removeprefix("ORDERBYDESC"), True))
            elif part.startswith("ORDERBY"):
                order.append((part.removeprefix("ORDERBY"), False))
            else:
                match = _CONDITION.match(part)
                if match is None:
                    raise QueryError(f"cannot read the condition {part!r}")
                conditions.append((match["field"], match["op"], match["value"]))
        for name, _, _ in conditions:
            if (
                not self.tables[table]
                or self._resolve(table, self.tables[table][0], name) is _MISSING
            ):
                raise QueryError(f"unknown field {name!r} of {table}")
        rows = [r for r in self.tables[table] if all(self._test(table, r, c) for c in conditions)]
        for name, descending in reversed(order):
            rows.sort(key=lambda r: _text(self._resolve(table, r, name)[0]), reverse=descending)
        return rows

    def _test(
        self, table: str, record: Mapping[str, Value], condition: tuple[str, str, str]
    ) -> bool:
        name, op, wanted = condition
        have = _text(self._resolve(table, record, name)[0])
        match op:
            case "=":
                return have == wanted
            case "!=":
                return have != wanted
            case ">=":
                return have >= wanted
            case ">":
                return have > wanted
            case "<=":
                return have <= wanted
            case "<":
                return have < wanted
            case "IN":
                return have in wanted.split(",")
            case "STARTSWITH":
                return have.startswith(wanted)
            case _:
                return wanted in have

    # ---------------------------------------------------------------- responses

    def _render(
        self,
        table: str,
        record: Mapping[str, Value],
        names: list[str] | None,
        *,
        mode: str,
        exclude: bool,
        base: str,
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in names if names is not None else sorted(self._fields(table)):
            found = self._resolve(table, record, name)
            if found is _MISSING:
                continue  # "Invalid fields are ignored."
            value, owner, field_name = found
            out[name] = self._shape(owner, field_name, value, mode=mode, exclude=exclude, base=base)
        return out

    def _shape(
        self, table: str, name: str, value: Value, *, mode: str, exclude: bool, base: str
    ) -> Any:
        actual = _text(value)
        display = self._display(table, name, value)
        link = (
            f"{base}api/now/table/{value.table}/{value.sys_id}"
            if isinstance(value, Ref) and not exclude
            else None
        )
        if mode == "all":
            shaped = {"display_value": display, "value": actual}
            return {**shaped, "link": link} if link else shaped
        if mode == "true":
            return {"display_value": display, "link": link} if link else display
        return {"link": link, "value": actual} if link else actual

    def _display(self, table: str, name: str, value: Value) -> str:
        if value is None or value == "":
            return ""
        if isinstance(value, Ref):
            target = self.record(value.table, value.sys_id)
            if target is None:
                return ""
            return _text(target.get("number") or target.get("name") or target["sys_id"])
        if name in DATETIME_FIELDS:
            at = datetime.strptime(value, TIME_FORMAT).replace(tzinfo=UTC)
            return at.astimezone(ZoneInfo(self.user_timezone)).strftime(TIME_FORMAT)
        return self.choices.get((table, name), {}).get(value, value)


def _text(value: Value) -> str:
    if value is None:
        return ""
    return value.sys_id if isinstance(value, Ref) else value


def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body),
        status=status,
        headers=dict(headers or {}),
        content_type="application/json",
    )


# --------------------------------------------------------------------------- sample data

CSAT_QUESTION = sys_id("asmt_metric:csat")
"""The sample survey's 1–5 satisfaction question (``asmt_metric``)."""
COMMENT_QUESTION = sys_id("asmt_metric:comment")
"""The sample survey's free-text question."""
SAMPLE_INCIDENTS = 12
SAMPLE_REQUESTS = 6
SAMPLE_SURVEYS = 5
"""Completed survey instances in the sample (a sixth is still ``ready``)."""

_LIKERT = {
    "1": "Very dissatisfied",
    "2": "Dissatisfied",
    "3": "Neutral",
    "4": "Satisfied",
    "5": "Very satisfied",
}


def _at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=day, hours=hour, minutes=minute)


def _t(at: datetime | None) -> str | None:
    return at.strftime(TIME_FORMAT) if at else None


def load_sample(instance: FakeInstance) -> FakeInstance:
    """Two companies, two groups, four users, 12 incidents (January–March 2024, all four
    priorities, one never reopened with an empty ``reopen_count``), 6 requested items,
    response and resolution SLAs for every incident, and a satisfaction survey answered
    for 5 resolved incidents."""
    instance.choices.update(
        {
            ("incident", "priority"): {
                "1": "1 - Critical",
                "2": "2 - High",
                "3": "3 - Moderate",
                "4": "4 - Low",
                "5": "5 - Planning",
            },
            ("incident", "state"): {
                "1": "New",
                "2": "In Progress",
                "3": "On Hold",
                "6": "Resolved",
                "7": "Closed",
                "8": "Canceled",
            },
            ("incident", "contact_type"): {
                "phone": "Phone",
                "email": "Email",
                "self-service": "Self-service",
            },
            ("sc_req_item", "priority"): {"2": "2 - High", "3": "3 - Moderate", "4": "4 - Low"},
            ("sc_req_item", "state"): {
                "1": "Open",
                "2": "Work in Progress",
                "3": "Closed Complete",
                "4": "Closed Incomplete",
            },
            ("contract_sla", "target"): {"response": "Response", "resolution": "Resolution"},
            ("task_sla", "stage"): {
                "in_progress": "In progress",
                "completed": "Completed",
                "cancelled": "Cancelled",
            },
            ("asmt_assessment_instance", "state"): {
                "ready": "Ready to take",
                "complete": "Complete",
            },
        }
    )
    companies = [
        Ref("core_company", instance.add("core_company", name=name)) for name in ("Acme", "Globex")
    ]
    groups = [
        Ref("sys_user_group", instance.add("sys_user_group", name=name))
        for name in ("Service Desk", "Network")
    ]
    users = [
        Ref("sys_user", instance.add("sys_user", name=name, company=companies[i % 2]))
        for i, name in enumerate(("Abel Tuter", "Beth Anglin", "Charlie Whitherspoon", "David Loo"))
    ]
    response_sla = Ref(
        "contract_sla", instance.add("contract_sla", name="Incident response", target="response")
    )
    resolution_sla = Ref(
        "contract_sla",
        instance.add("contract_sla", name="Incident resolution", target="resolution"),
    )
    contact = ("phone", "email", "self-service")
    incidents: list[tuple[Ref, datetime, datetime | None]] = []
    for n in range(SAMPLE_INCIDENTS):
        opened = _at(n * 7, 8 + n % 5, 15)
        priority = str(n % 4 + 1)
        state = ("7", "6", "7", "2")[n % 4] if n < SAMPLE_INCIDENTS - 2 else "1"
        resolved = opened + timedelta(hours=2 + 3 * (n % 4)) if state in ("6", "7") else None
        closed = resolved + timedelta(days=1) if state == "7" and resolved else None
        updated = max(filter(None, (opened + timedelta(minutes=5), resolved, closed)))
        caller = users[n % 4]
        key = instance.add(
            "incident",
            number=f"INC{10001 + n:07d}",
            state=state,
            priority=priority,
            category=("network", "software", "hardware")[n % 3],
            contact_type=contact[n % 3],
            company=instance.record("sys_user", caller.sys_id)["company"],  # type: ignore[index]
            caller_id=caller,
            assignment_group=groups[n % 2],
            opened_at=_t(opened),
            resolved_at=_t(resolved),
            closed_at=_t(closed),
            sys_created_on=_t(opened),
            sys_updated_on=_t(updated),
            reassignment_count=str(n % 3),
            reopen_count="" if n == 5 else str(int(n == 2)),
        )
        incidents.append((Ref("incident", key), opened, resolved))
        for definition, hours in ((response_sla, 1), (resolution_sla, 8)):
            due = opened + timedelta(hours=hours)
            done = resolved is not None
            instance.add(
                "task_sla",
                task=Ref("incident", key),
                sla=definition,
                stage="completed" if done else "in_progress",
                planned_end_time=_t(due),
                has_breached=str(bool(done and resolved and resolved > due)).lower(),
                sys_updated_on=_t(updated),
            )
    items = [
        Ref("sc_cat_item", instance.add("sc_cat_item", name=name))
        for name in ("Standard laptop", "Software installation")
    ]
    for n in range(SAMPLE_REQUESTS):
        opened = _at(3 + n * 11, 10)
        closed = opened + timedelta(days=2 + n % 3) if n % 3 != 2 else None
        requester = users[(n + 1) % 4]
        order = instance.add(
            "sc_request",
            number=f"REQ{10001 + n:07d}",
            requested_for=requester,
            opened_at=_t(opened),
            sys_updated_on=_t(closed or opened),
        )
        instance.add(
            "sc_req_item",
            number=f"RITM{10001 + n:07d}",
            request=Ref("sc_request", order),
            cat_item=items[n % 2],
            state="3" if closed else "2",
            priority="4" if n % 2 else "3",
            contact_type="self-service",
            company=instance.record("sys_user", requester.sys_id)["company"],  # type: ignore[index]
            requested_for=requester,
            opened_by=requester,
            assignment_group=groups[0],
            opened_at=_t(opened),
            closed_at=_t(closed),
            sys_updated_on=_t(closed or opened),
            reassignment_count="0",
        )
    survey = Ref("asmt_metric_type", instance.add("asmt_metric_type", name="Customer Satisfaction"))
    for key, name in (
        (CSAT_QUESTION, "How satisfied are you with the resolution?"),
        (
            COMMENT_QUESTION,
            "Anything we could do better?",
        ),
    ):
        instance.tables.setdefault("asmt_metric", []).append(
            {"sys_id": key, "name": name, "metric_type": survey, "sys_class_name": "asmt_metric"}
        )
    answered = [(ref, resolved) for ref, _, resolved in incidents if resolved][: SAMPLE_SURVEYS + 1]
    for n, (ticket, resolved) in enumerate(answered):
        assert resolved is not None
        record = instance.record("incident", ticket.sys_id)
        assert record is not None
        complete = n < SAMPLE_SURVEYS
        taken = resolved + timedelta(hours=20) if complete else None
        survey_instance = instance.add(
            "asmt_assessment_instance",
            number=f"AINST{10001 + n:07d}",
            metric_type=survey,
            state="complete" if complete else "ready",
            user=record["caller_id"],
            trigger_table="incident",
            trigger_id=ticket,
            taken_on=_t(taken),
            due_date=_t(resolved + timedelta(days=14)),
            sys_updated_on=_t(taken or resolved),
        )
        if not complete:
            continue
        score = str((n % 5) + 1)
        answers = [(CSAT_QUESTION, score, _LIKERT[score])]
        if n % 2 == 0:
            answers.append((COMMENT_QUESTION, "-1", f"Comment {n + 1}: thanks for the quick fix"))
        for metric, actual, text in answers:
            instance.add(
                "asmt_metric_result",
                instance=Ref("asmt_assessment_instance", survey_instance),
                metric=Ref("asmt_metric", metric),
                metric_type=survey,
                user=record["caller_id"],
                actual_value=actual,
                string_value=text,
                sys_created_on=_t(taken),
                sys_updated_on=_t(taken),
            )
    return instance


__all__ = [
    "COMMENT_QUESTION",
    "CSAT_QUESTION",
    "SAMPLE_INCIDENTS",
    "SAMPLE_REQUESTS",
    "SAMPLE_SURVEYS",
    "Canned",
    "FakeInstance",
    "Ref",
    "error_body",
    "load_sample",
    "sys_id",
]
