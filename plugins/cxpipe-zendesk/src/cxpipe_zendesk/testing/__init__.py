"""A local Zendesk for tests: the documented endpoints on a pytest-httpserver.

:class:`FakeZendesk` serves recorded-style data (``fixtures/*.json``, shaped like the
examples of Zendesk's API reference) the way the Support API documents it:

- ``GET /api/v2/incremental/tickets/cursor.json``: ``start_time`` (compared with each
  ticket's ``generated_timestamp``), ``per_page`` (at most 1000), ``cursor`` (refused next
  to ``start_time``), ``include=metric_sets`` (each ticket's ``metric_set``),
  ``exclude_deleted``; answers ``tickets``, ``after_cursor``, ``after_url``,
  ``before_cursor``, ``before_url``, ``end_of_stream``;
- ``GET /api/v2/satisfaction_ratings``: ``start_time`` (on ``created_at``), cursor
  pagination with ``page[size]`` (at most 100) and ``page[after]``; answers
  ``satisfaction_ratings``, ``meta.has_more``/``after_cursor``, ``links.next``;
- ``GET /api/v2/tickets/show_many.json?ids=…`` (at most 100 ids).

Every request must authenticate (API token as Basic ``{email}/token:{token}``, or an OAuth
bearer token) or gets Zendesk's 401. Faults are queued per path with :meth:`fail_next`
(a 429 with ``Retry-After``, a 500, a malformed body…). It is not Zendesk: the protocol
and the shapes come from the API reference, not from a recording of the real service.

Needs ``pytest-httpserver`` (the ``test`` extra).
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_httpserver import HTTPServer
    from werkzeug import Request, Response

TICKETS_PATH = "/api/v2/incremental/tickets/cursor.json"
RATINGS_PATH = "/api/v2/satisfaction_ratings"
SHOW_MANY_PATH = "/api/v2/tickets/show_many.json"

EMAIL = "agent@example.com"
API_TOKEN = "zd-TOKEN-planted-6Gq1xV"
"""The API token the fake accepts; tests plant it and check it never shows."""
OAUTH_TOKEN = "zd-OAUTH-planted-9Lk2pW"
ENV = {"ZENDESK_EMAIL": EMAIL, "ZENDESK_API_TOKEN": API_TOKEN, "ZENDESK_OAUTH": OAUTH_TOKEN}
"""The environment the example config's variable names point at."""


def load_fixture(name: str) -> list[dict[str, Any]]:
    """A recorded-style fixture: ``tickets`` (each with its ``metric_set``) or
    ``satisfaction_ratings``."""
    text = resources.files(__package__).joinpath("fixtures", f"{name}.json").read_text("utf-8")
    data: list[dict[str, Any]] = json.loads(text)
    return data


def zendesk_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Fault:
    """One queued answer replacing the next request to a path."""

    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    after: int = 0
    """Requests to let through normally before this one (``after=1``: the second page)."""


@dataclass
class FakeZendesk:
    """The Zendesk Support API endpoints cxpipe-zendesk reads, on ``server``."""

    server: HTTPServer
    tickets: list[dict[str, Any]] = field(default_factory=lambda: load_fixture("tickets"))
    ratings: list[dict[str, Any]] = field(
        default_factory=lambda: load_fixture("satisfaction_ratings")
    )
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    """Every request served: ``(path, query)``, in order."""
    metric_sets_top_level: bool = False
    """Send the sideload as a top-level ``metric_sets`` array instead of nested."""
    _faults: dict[str, list[Fault]] = field(default_factory=dict)
    _cursors: dict[str, tuple[int, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        handlers: dict[str, Callable[[Request], Response]] = {
            TICKETS_PATH: self._tickets,
            RATINGS_PATH: self._ratings,
            SHOW_MANY_PATH: self._show_many,
        }
        for path, handler in handlers.items():
            self.server.expect_request(path).respond_with_handler(self._guarded(path, handler))

    @property
    def base_url(self) -> str:
        return self.server.url_for("/").rstrip("/")

    # ------------------------------------------------------------------ test controls

    def fail_next(
        self,
        path: str,
        status: int,
        body: str | Mapping[str, Any] = "",
        *,
        headers: Mapping[str, str] | None = None,
        content_type: str = "application/json",
        after: int = 0,
    ) -> None:
        """Answer a request to ``path`` with this instead: the next one, or the one after
        ``after`` normal answers. Faults queue in order."""
        text = body if isinstance(body, str) else json.dumps(body)
        fault = Fault(status, text, dict(headers or {}), content_type, after)
        self._faults.setdefault(path, []).append(fault)

    def update_ticket(self, ticket_id: int, at: datetime, **changes: Any) -> dict[str, Any]:
        """Change a ticket as an agent would at ``at``: fields, ``updated_at`` and
        ``generated_timestamp`` (and ``metric_set`` keys given as ``metric_set={...}``)."""
        ticket = next(t for t in self.tickets if t["id"] == ticket_id)
        metric_changes = changes.pop("metric_set", {})
        ticket.update(changes)
        ticket["updated_at"] = zendesk_time(at)
        ticket["generated_timestamp"] = int(at.timestamp()) + 30
        if ticket.get("metric_set") is not None:
            ticket["metric_set"].update(metric_changes, updated_at=zendesk_time(at))
        return ticket

    def queries(self, path: str) -> list[dict[str, str]]:
        """The query strings of the requests served on ``path``."""
        return [query for served, query in self.requests if served == path]

    # ------------------------------------------------------------------ plumbing

    def _guarded(
        self, path: str, handler: Callable[[Request], Response]
    ) -> Callable[[Request], Response]:
        def serve(request: Request) -> Response:
            from werkzeug import Response

            self.requests.append((path, dict(request.args)))
            queued = self._faults.get(path)
            if queued and queued[0].after > 0:
                queued[0].after -= 1
            elif queued:
                fault = queued.pop(0)
                return Response(
                    fault.body, fault.status, headers=fault.headers, content_type=fault.content_type
                )
            if not self._authenticated(request.headers.get("Authorization", "")):
                return self._json({"error": "Couldn't authenticate you"}, 401)
            return handler(request)

        return serve

    @staticmethod
    def _authenticated(header: str) -> bool:
        scheme, _, value = header.partition(" ")
        if scheme == "Bearer":
            return value == OAUTH_TOKEN
        if scheme == "Basic":
            try:
                decoded = base64.b64decode(value).decode()
            except ValueError:
                return False
            return decoded == f"{EMAIL}/token:{API_TOKEN}"
        return False

    @staticmethod
    def _json(body: Any, status: int = 200) -> Response:
        from werkzeug import Response

        return Response(json.dumps(body), status, content_type="application/json")

    def _error(self, status: int, error: str, description: str) -> Response:
        return self._json({"error": error, "description": description}, status)

    # ------------------------------------------------------------------ endpoints

    def _tickets(self, request: Request) -> Response:
        args = request.args
        if "cursor" in args and "start_time" in args:
            return self._error(
                400, "InvalidPaginationParameter", "cursor and start_time cannot be used together"
            )
        per_page = int(args.get("per_page", "1000"))
        if not 1 <= per_page <= 1000:
            return self._error(400, "InvalidValue", "per_page must be between 1 and 1000")
        if "cursor" in args:
            if args["cursor"] not in self._cursors:
                return self._error(422, "InvalidValue", "cursor is invalid")
            start_time, offset = self._cursors[args["cursor"]]
        elif "start_time" in args:
            start_time, offset = int(args["start_time"]), 0
        else:
            return self._error(400, "InvalidValue", "start_time or cursor is required")
        selected = sorted(
            (t for t in self.tickets if t["generated_timestamp"] >= start_time),
            key=lambda t: (t["generated_timestamp"], t["id"]),
        )
        if args.get("exclude_deleted") == "true":
            selected = [t for t in selected if t["status"] != "deleted"]
        page = [copy.deepcopy(t) for t in selected[offset : offset + per_page]]
        sets = []
        for ticket in page:
            metric_set = ticket.pop("metric_set", None)
            if "metric_sets" in args.get("include", "").split(","):
                if self.metric_sets_top_level:
                    if metric_set is not None:
                        sets.append(metric_set)
                else:
                    ticket["metric_set"] = metric_set
        after = offset + len(page)
        cursor = base64.b64encode(f"{start_time}.{after}||{len(self._cursors)}".encode()).decode()
        self._cursors[cursor] = (start_time, after)
        body: dict[str, Any] = {
            "after_cursor": cursor,
            "after_url": f"{self.base_url}{TICKETS_PATH}?cursor={cursor}",
            "before_cursor": None,
            "before_url": None,
            "end_of_stream": after >= len(selected),
            "tickets": page,
        }
        if self.metric_sets_top_level:
            body["metric_sets"] = sets
        return self._json(body)

    def _ratings(self, request: Request) -> Response:
        args = request.args
        size = int(args.get("page[size]", "100"))
        if not 1 <= size <= 100:
            return self._error(400, "InvalidPaginationParameter", "page[size] is at most 100")
        start_time = int(args.get("start_time", "0"))
        selected = [
            r
            for r in sorted(self.ratings, key=lambda r: (r["created_at"], r["id"]))
            if datetime.fromisoformat(r["created_at"]).timestamp() >= start_time
        ]
        offset = 0
        if "page[after]" in args:
            offset = int(base64.b64decode(args["page[after]"]).decode().split(":")[1])
        page = selected[offset : offset + size]
        more = offset + size < len(selected)
        after = base64.b64encode(f"after:{offset + len(page)}".encode()).decode() if page else None
        query = {k: v for k, v in args.items() if k != "page[after]"}
        next_url = None
        if more and after:
            from urllib.parse import urlencode

            next_url = f"{self.base_url}{RATINGS_PATH}?{urlencode({**query, 'page[after]': after})}"
        return self._json(
            {
                "satisfaction_ratings": page,
                "meta": {"has_more": more, "after_cursor": after, "before_cursor": None},
                "links": {"next": next_url, "prev": None},
            }
        )

    def _show_many(self, request: Request) -> Response:
        ids = [i for i in request.args.get("ids", "").split(",") if i]
        if len(ids) > 100:
            return self._error(400, "InvalidValue", "ids: at most 100")
        wanted = {int(i) for i in ids}
        found = [
            {k: v for k, v in t.items() if k != "metric_set"}
            for t in self.tickets
            if t["id"] in wanted and t["status"] != "deleted"
        ]
        return self._json({"tickets": found, "count": len(found)})


__all__ = [
    "API_TOKEN",
    "EMAIL",
    "ENV",
    "OAUTH_TOKEN",
    "RATINGS_PATH",
    "SHOW_MANY_PATH",
    "TICKETS_PATH",
    "FakeZendesk",
    "Fault",
    "load_fixture",
    "zendesk_time",
]
