"""The HTTP source base against a real local HTTP server speaking each API's protocol.

No mock of httpx: pytest-httpserver answers on localhost as ServiceNow, Jira and Zendesk
document it. Waits are kept to milliseconds through the options, except one real
``Retry-After: 1``.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import subprocess
import sys
import time
import tomllib
import types
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any, ClassVar

import polars as pl
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from cxpipe.config import SourceConfig
from cxpipe.errors import ConfigError, SourceError
from cxpipe.sources.http import (
    EMPTY_HEADERS,
    CursorPaginator,
    HttpOptions,
    HttpSource,
    NextUrlPaginator,
    OffsetPaginator,
    PagePaginator,
    PageRequest,
    Paginator,
    flatten_record,
    retry_after_seconds,
)

TOKEN = "tok-PLANTED-7Hq2-zz9"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "http-sources.md"
FAST = {"backoff_base": 0.01, "backoff_max": 0.02, "max_total_wait": 3, "max_attempts": 3}


class Tickets(HttpSource):
    kind = "test.tickets"
    path = "/api/v2/tickets"
    records_key = "tickets"


def make(
    server: HTTPServer,
    paginator: Paginator | None = None,
    *,
    records_key: str = "tickets",
    path: str = "/api/v2/tickets",
    **options: Any,
) -> HttpSource:
    cls: type[HttpSource] = type(
        "Endpoint",
        (Tickets,),
        {"paginator": paginator, "records_key": records_key, "path": path},
    )
    settings = {"base_url": server.url_for("/"), "token_env": "CX_TEST_TOKEN", **FAST, **options}
    config = SourceConfig.model_validate(
        {"name": "desk", "kind": "test.tickets", "entity": "tickets", "options": settings}
    )
    return cls(config)


def rows(source: HttpSource) -> pl.DataFrame:
    return source.extract().frame.collect()


def frame_of(source: HttpSource, path: str, params: dict[str, Any], key: str) -> pl.DataFrame:
    return source.fetch(path, params, key).frame.collect()


def fail(source: HttpSource) -> str:
    with pytest.raises(SourceError) as info:
        source.extract()
    return str(info.value)


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CX_TEST_TOKEN", TOKEN)


# ------------------------------------------------------------------------- paginators


def test_offset_paginator_servicenow(httpserver: HTTPServer) -> None:
    path = "/api/now/table/incident"
    group = {"value": "g1", "link": "https://x.service-now.com/api/now/table/sys_user_group/g1"}
    pages = [  # full pages of 2, then an empty one: a total that is a multiple of the size
        [{"number": "INC1", "priority": 1, "assignment_group": group}, {"number": "INC2"}],
        [{"number": "INC3", "active": True, "assignment_group": ""}, {"number": "INC4"}],
        [],
    ]
    for offset, page in zip((0, 2, 4), pages, strict=True):
        httpserver.expect_oneshot_request(
            path,
            query_string={
                "sysparm_query": "active=true",
                "sysparm_limit": "2",
                "sysparm_offset": str(offset),
            },
        ).respond_with_json({"result": page})
    source = make(
        httpserver,
        OffsetPaginator("sysparm_limit", "sysparm_offset"),
        path=path,
        records_key="result",
        page_size=2,
    )
    frame = frame_of(source, path, {"sysparm_query": "active=true"}, "result")
    assert frame["number"].to_list() == ["INC1", "INC2", "INC3", "INC4"]
    assert frame["priority"].to_list() == ["1", None, None, None]  # text, as written
    assert frame["assignment_group.value"].to_list() == ["g1", None, None, None]
    assert frame["assignment_group"].to_list() == [None, None, "", None]
    assert frame["active"].to_list() == [None, None, "true", None]
    assert frame["_cx_file"].to_list() == [f"GET {path} page {n}" for n in (1, 1, 2, 2)]
    assert frame["_cx_row"].to_list() == [1, 2, 1, 2]
    assert all(dtype == pl.String for name, dtype in frame.schema.items() if name != "_cx_row")
    httpserver.check_assertions()


def test_offset_paginator_with_a_total_survives_a_server_capped_page_size(
    httpserver: HTTPServer,
) -> None:
    # Jira: asked for 5, the server sends 2 per page; `total` says when to stop.
    issues = [{"key": f"SD-{n}", "fields": {"status": {"name": "Open"}}} for n in range(5)]
    for start in (0, 2, 4):
        httpserver.expect_oneshot_request(
            "/rest/api/2/search", query_string={"maxResults": "5", "startAt": str(start)}
        ).respond_with_json({"startAt": start, "total": 5, "issues": issues[start : start + 2]})
    source = make(
        httpserver,
        OffsetPaginator("maxResults", "startAt", total_path="total"),
        path="/rest/api/2/search",
        records_key="issues",
        page_size=5,
    )
    frame = rows(source)
    assert frame["key"].to_list() == [f"SD-{n}" for n in range(5)]
    assert frame["fields.status.name"].unique().to_list() == ["Open"]


def test_page_paginator(httpserver: HTTPServer) -> None:
    for number, ids in ((1, [1, 2]), (2, [3, 4]), (3, [5])):
        httpserver.expect_oneshot_request(
            "/api/v2/tickets", query_string={"page": str(number), "per_page": "2"}
        ).respond_with_json({"tickets": [{"id": i} for i in ids]})
    assert rows(make(httpserver, PagePaginator(), page_size=2))["id"].to_list() == list("12345")


def test_cursor_paginator_zendesk_incremental(httpserver: HTTPServer) -> None:
    path = "/api/v2/incremental/tickets/cursor.json"
    httpserver.expect_oneshot_request(
        path, query_string={"start_time": "1700000000", "per_page": "2"}
    ).respond_with_json(
        {"tickets": [{"id": 1}, {"id": 2}], "after_cursor": "c1", "end_of_stream": False}
    )
    # the cursor replaces start_time (Zendesk rejects both together)
    httpserver.expect_oneshot_request(
        path, query_string={"cursor": "c1", "per_page": "2"}
    ).respond_with_json(
        {"tickets": [{"id": 3}, {"id": 4}], "after_cursor": "c2", "end_of_stream": False}
    )
    httpserver.expect_oneshot_request(
        path, query_string={"cursor": "c2", "per_page": "2"}
    ).respond_with_json({"tickets": [{"id": 5}], "after_cursor": "c3", "end_of_stream": True})
    paginator = CursorPaginator(
        "after_cursor", done_path="end_of_stream", size_param="per_page", keep_params=False
    )
    source = make(httpserver, paginator, path=path, page_size=2)
    frame = frame_of(source, path, {"start_time": 1700000000}, "tickets")
    assert frame["id"].to_list() == list("12345")
    httpserver.check_assertions()


def test_cursor_paginator_zendesk_has_more(httpserver: HTTPServer) -> None:
    def page(ids: list[int], more: bool, cursor: str | None) -> dict[str, Any]:
        return {
            "tickets": [{"id": i} for i in ids],
            "meta": {"has_more": more, "after_cursor": cursor},
        }

    base = {"status": "open", "page[size]": "2"}
    httpserver.expect_oneshot_request("/api/v2/tickets", query_string=base).respond_with_json(
        page([1, 2], True, "a")
    )
    httpserver.expect_oneshot_request(
        "/api/v2/tickets", query_string={**base, "page[after]": "a"}
    ).respond_with_json(page([3], False, None))
    paginator = CursorPaginator(
        "meta.after_cursor", "meta.has_more", cursor_param="page[after]", size_param="page[size]"
    )
    source = make(httpserver, paginator, page_size=2)
    assert frame_of(source, "/api/v2/tickets", {"status": "open"}, "tickets")["id"].to_list() == [
        "1",
        "2",
        "3",
    ]


def test_next_url_paginator_follows_links_next(httpserver: HTTPServer) -> None:
    second = httpserver.url_for("/api/v2/tickets") + "?page%5Bafter%5D=xyz&page%5Bsize%5D=2"
    httpserver.expect_oneshot_request("/api/v2/tickets", query_string="").respond_with_json(
        {"tickets": [{"id": 1}], "meta": {"has_more": True}, "links": {"next": second}}
    )
    httpserver.expect_oneshot_request(
        "/api/v2/tickets", query_string={"page[after]": "xyz", "page[size]": "2"}
    ).respond_with_json(
        {"tickets": [{"id": 2}], "meta": {"has_more": False}, "links": {"next": None}}
    )
    source = make(httpserver, NextUrlPaginator("links.next", has_more_path="meta.has_more"))
    frame = rows(source)
    assert frame["id"].to_list() == ["1", "2"]
    assert frame["_cx_file"].to_list() == [
        "GET /api/v2/tickets page 1",
        "GET /api/v2/tickets page 2",
    ]


def test_next_url_paginator_jira_page_token(httpserver: HTTPServer) -> None:
    path = "/rest/api/3/search/jql"
    httpserver.expect_oneshot_request(path, query_string={"jql": "project=SD"}).respond_with_json(
        {"issues": [{"id": "1"}], "nextPageToken": "t1", "isLast": False}
    )
    httpserver.expect_oneshot_request(
        path, query_string={"jql": "project=SD", "nextPageToken": "t1"}
    ).respond_with_json({"issues": [{"id": "2"}], "isLast": True})
    source = make(httpserver, NextUrlPaginator("nextPageToken", done_path="isLast"), path=path)
    assert frame_of(source, path, {"jql": "project=SD"}, "issues")["id"].to_list() == ["1", "2"]


def test_relative_next_link_is_resolved_against_the_host(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request("/v3/responses").respond_with_json(
        {"result": {"elements": [{"id": "R1"}], "nextPage": "/v3/responses?offset=1"}}
    )
    httpserver.expect_oneshot_request(
        "/v3/responses", query_string={"offset": "1"}
    ).respond_with_json({"result": {"elements": [{"id": "R2"}], "nextPage": None}})
    source = make(
        httpserver,
        NextUrlPaginator("result.nextPage"),
        base_url=httpserver.url_for("/v3"),
        path="/responses",
        records_key="result.elements",
    )
    assert rows(source)["id"].to_list() == ["R1", "R2"]


def test_a_next_url_on_another_host_is_refused(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v2/tickets").respond_with_json(
        {"tickets": [{"id": 1}], "links": {"next": "https://evil.example/steal"}}
    )
    message = fail(make(httpserver, NextUrlPaginator("links.next")))
    assert "refusing to follow a next-page URL to https://evil.example" in message
    assert len(httpserver.log) == 1


def test_a_repeated_cursor_stops_instead_of_looping(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request("/api/v2/tickets", query_string="").respond_with_json(
        {"tickets": [{"id": 1}], "meta": {"has_more": True, "after_cursor": "c1"}}
    )
    httpserver.expect_request("/api/v2/tickets", query_string={"cursor": "c1"}).respond_with_json(
        {"tickets": [{"id": 2}], "meta": {"has_more": True, "after_cursor": "c1"}}
    )
    message = fail(make(httpserver, CursorPaginator("meta.after_cursor", "meta.has_more")))
    assert message == (
        "source 'desk' (test.tickets): page 3 of GET /api/v2/tickets: the server sent back "
        "cursor 'c1', already used for page 2; stopping instead of looping forever"
    )
    assert len(httpserver.log) == 2


def test_a_server_ignoring_the_offset_is_caught(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v2/tickets").respond_with_json(
        {"tickets": [{"id": 1}, {"id": 2}]}
    )
    message = fail(make(httpserver, OffsetPaginator(), page_size=2))
    assert "page 2 of GET /api/v2/tickets has the same 2 records as page 1 (offset 2)" in message


def test_max_pages_bounds_an_extract(httpserver: HTTPServer) -> None:
    counter = iter(range(100))

    def endless(request: Request) -> Response:
        n = next(counter)
        body = f'{{"tickets": [{{"id": {n}}}], "after_cursor": "c{n}"}}'
        return Response(body, content_type="application/json")

    httpserver.expect_request("/api/v2/tickets").respond_with_handler(endless)
    message = fail(make(httpserver, CursorPaginator("after_cursor"), max_pages=3))
    assert "stopped at options.max_pages = 3 and the server has more (cursor 'c2')" in message
    assert len(httpserver.log) == 3


def test_more_pages_without_a_cursor_is_an_error(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v2/tickets").respond_with_json(
        {"tickets": [], "meta": {"has_more": True}}
    )
    message = fail(make(httpserver, CursorPaginator("meta.after_cursor", "meta.has_more")))
    assert message.endswith(
        "page 1 of GET /api/v2/tickets: the response says there are more pages but has no "
        "cursor at 'meta.after_cursor'"
    )


# ------------------------------------------------------------------------- retries


def test_429_waits_for_retry_after_then_succeeds(
    httpserver: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    httpserver.expect_ordered_request("/api/v2/tickets").respond_with_data(
        "slow down", status=429, headers={"Retry-After": "1"}
    )
    httpserver.expect_ordered_request("/api/v2/tickets").respond_with_json({"tickets": [{"id": 1}]})
    source = make(httpserver)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, "cxpipe.sources.http"):
        extract = source.extract()
    assert time.monotonic() - started >= 1.0
    assert extract.frame.collect()["id"].to_list() == ["1"]
    assert extract.warnings == ["source 'desk': requests were retried (HTTP 429 ×1)"]
    assert "HTTP 429 Too Many Requests; retry 1 of 2" in caplog.text


def test_a_retry_after_beyond_the_budget_fails_at_once(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v2/tickets").respond_with_data(
        "", status=503, headers={"Retry-After": "120"}
    )
    started = time.monotonic()
    message = fail(make(httpserver, max_total_wait=2))
    assert time.monotonic() - started < 1
    assert "the server asks to wait 120 s (Retry-After), more than the 2 s left" in message


def test_retry_after_header_forms() -> None:
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert retry_after_seconds("7", now) == 7
    assert retry_after_seconds(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30
    assert retry_after_seconds("Sun, 01 Mar 2026 11:00:00 GMT", now) == 0  # in the past
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds(None, now) is None


def test_500_then_success(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/api/v2/tickets").respond_with_data("oops", status=500)
    httpserver.expect_ordered_request("/api/v2/tickets").respond_with_data("oops", status=502)
    httpserver.expect_ordered_request("/api/v2/tickets").respond_with_json({"tickets": [{"id": 1}]})
    assert rows(make(httpserver))["id"].to_list() == ["1"]


def test_persistent_500_fails_after_max_attempts(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v2/tickets").respond_with_json(
        {"error": {"message": "Database busy"}}, status=500
    )
    message = fail(make(httpserver, max_attempts=3))
    assert message == (
        "source 'desk' (test.tickets): page 1 of GET /api/v2/tickets: HTTP 500 Internal "
        "Server Error (Database busy), after 3 attempts"
    )
    assert len(httpserver.log) == 3


def test_connection_errors_are_retried_then_reported() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    config = SourceConfig.model_validate(
        {
            "name": "desk",
            "kind": "test.tickets",
            "entity": "tickets",
            "options": {"base_url": f"http://127.0.0.1:{port}", **FAST},
        }
    )
    message = fail(Tickets(config))
    assert f"cannot reach http://127.0.0.1:{port} (ConnectError" in message
    assert message.endswith("after 3 attempts")


def test_max_requests_per_minute_spaces_requests(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v2/tickets").respond_with_json({"tickets": []})
    source = make(httpserver, max_requests_per_minute=600)  # one per 0.1 s
    started = time.monotonic()
    for _ in range(3):
        source.request("/api/v2/tickets")
    assert time.monotonic() - started >= 0.2


# ------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (401, "HTTP 401 Unauthorized: check the credentials in CX_TEST_TOKEN"),
        (403, "HTTP 403 Forbidden: the credentials in CX_TEST_TOKEN are not allowed to read"),
        (404, "HTTP 404 Not Found: check options.base_url (http://localhost:"),
        (
            422,
            "HTTP 422 Unprocessable Entity (InvalidValue; start_time is too recent): the "
            "request was refused",
        ),
    ],
)
def test_client_errors_are_explained(httpserver: HTTPServer, status: int, expected: str) -> None:
    body = {"error": "InvalidValue", "description": "start_time is too recent"}
    httpserver.expect_request("/api/v2/tickets").respond_with_json(
        body if status == 422 else {}, status=status
    )
    message = fail(make(httpserver))
    assert message.startswith("source 'desk' (test.tickets): page 1 of GET /api/v2/tickets: ")
    assert expected in message
    assert len(httpserver.log) == 1  # not retried


def test_jira_error_shape_and_redirects(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/rest/api/3/search").respond_with_json(
        {"errorMessages": ["The JQL is invalid."], "errors": {"jql": "bad field"}}, status=400
    )
    httpserver.expect_request("/old").respond_with_data(
        "", status=301, headers={"Location": "https://elsewhere.example/new?x=1"}
    )
    source = make(httpserver)
    with pytest.raises(SourceError, match=r"\(The JQL is invalid\.; jql: bad field\)"):
        source.request("/rest/api/3/search", {"jql": "x"})
    with pytest.raises(SourceError, match="redirected to /new; redirects are not followed"):
        source.request("/old")


def test_malformed_json_names_the_page(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request("/api/v2/tickets", query_string="").respond_with_json(
        {"tickets": [{"id": 1}], "after_cursor": "c1"}
    )
    httpserver.expect_oneshot_request("/api/v2/tickets").respond_with_data(
        "<html>Maintenance</html>", content_type="text/html"
    )
    message = fail(make(httpserver, CursorPaginator("after_cursor")))
    assert message.startswith(
        "source 'desk' (test.tickets): page 2 of GET /api/v2/tickets: the response is not "
        "valid JSON (Expecting value at line 1; text/html"
    )
    assert "it starts with '<html>Maintenance</html>'" in message


def test_a_page_without_the_records_key(httpserver: HTTPServer) -> None:
    for n in (1, 2):
        httpserver.expect_oneshot_request(
            "/api/v2/tickets", query_string={"page": str(n), "per_page": "1"}
        ).respond_with_json({"tickets": [{"id": n}]})
    httpserver.expect_oneshot_request("/api/v2/tickets").respond_with_json(
        {"results": [], "count": 0}
    )
    message = fail(make(httpserver, PagePaginator(), page_size=1))
    assert message == (
        "source 'desk' (test.tickets): page 3 of GET /api/v2/tickets: expected a list of "
        "records under 'tickets'; the response has keys 'results', 'count'"
    )


# ------------------------------------------------------------------------- secrets


def test_the_token_is_sent_and_never_shown(
    httpserver: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, httpx and httpcore included
    messages: list[str] = []
    # success after a retry
    httpserver.expect_ordered_request("/api/v2/tickets").respond_with_data("", status=503)
    httpserver.expect_ordered_request("/api/v2/tickets").respond_with_json(
        {"tickets": [{"id": 1, "subject": "hello", "via": {"channel": "web"}}]}
    )
    extract = make(httpserver).extract()
    frame = extract.frame.collect()
    messages += extract.warnings + [i.path for i in extract.inputs]
    assert httpserver.log[-1][0].headers["Authorization"] == f"Bearer {TOKEN}"
    httpserver.clear()
    # failures, one of them a server echoing the token back
    for status, body in (
        (401, {}),
        (403, {}),
        (400, {"error": f"bad token {TOKEN}"}),
        (500, {"message": f"token {TOKEN} rejected"}),
    ):
        httpserver.expect_request("/api/v2/tickets").respond_with_json(body, status=status)
        messages.append(fail(make(httpserver)))
        httpserver.clear()
    httpserver.expect_request("/api/v2/tickets").respond_with_data(f"<p>{TOKEN}</p>")
    messages.append(fail(make(httpserver)))
    assert any("check the credentials in CX_TEST_TOKEN" in m for m in messages)
    assert any("bad token ***" in m for m in messages)
    logged = [r.getMessage() for r in caplog.records] + [caplog.text]
    assert logged
    values = frame.select(pl.all().cast(pl.String)).rows()
    for text in [*messages, *logged, *map(str, values)]:
        assert TOKEN not in text


def test_basic_auth_is_sent_and_never_shown(
    httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("CX_USER", "agent@example.com")
    monkeypatch.setenv("CX_PASSWORD", TOKEN)
    httpserver.expect_ordered_request("/api/v2/tickets").respond_with_json({}, status=500)
    httpserver.expect_ordered_request("/api/v2/tickets").respond_with_json({}, status=401)
    source = make(httpserver, token_env=None, username_env="CX_USER", password_env="CX_PASSWORD")
    message = fail(source)
    assert "check the credentials in CX_USER and CX_PASSWORD" in message
    header = httpserver.log[0][0].headers["Authorization"]
    assert header.startswith("Basic ")
    encoded = header.removeprefix("Basic ")
    for text in (message, caplog.text):
        assert TOKEN not in text
        assert encoded not in text


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"token_env": TOKEN}, "options.token_env: must name an environment variable"),
        (
            {"username_env": "CX_USER"},
            "username_env and password_env go together",
        ),
        (
            {"token_secret_block": "zendesk-token"},
            "set only one of token_env, token_secret_block",
        ),
        (
            {"base_url": f"https://me:{TOKEN}@acme.example"},
            "options.base_url: must not hold credentials",
        ),
        ({"headers": {"X-Api-Key": TOKEN}}, "header 'X-Api-Key' looks like a credential"),
    ],
)
def test_credentials_in_the_config_are_refused_without_repeating_them(
    options: dict[str, Any], expected: str
) -> None:
    settings = {"base_url": "https://acme.example", "token_env": "CX_TEST_TOKEN", **options}
    with pytest.raises(ConfigError) as info:
        Tickets(SourceConfig(name="desk", kind="test.tickets", entity="tickets", options=settings))
    assert expected in str(info.value)
    assert TOKEN not in str(info.value)


def test_an_unset_variable_is_named(
    httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CX_TEST_TOKEN")
    with pytest.raises(
        ConfigError,
        match=r"options.token_env names the environment variable "
        r"CX_TEST_TOKEN, which is not set",
    ):
        make(httpserver).extract()
    assert not httpserver.log  # nothing was sent without credentials


def test_the_prefect_secret_block_is_loaded_lazily(
    httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded: list[tuple[str, bool]] = []

    class Secret:  # a stand-in: a real block needs a Prefect server
        @classmethod
        def load(cls, name: str, _sync: bool = False) -> Secret:
            loaded.append((name, _sync))
            return cls()

        def get(self) -> str:
            return TOKEN

    fake = types.ModuleType("prefect.blocks.system")
    fake.Secret = Secret  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "prefect.blocks.system", fake)
    httpserver.expect_request("/api/v2/tickets").respond_with_json({"tickets": []})
    source = make(httpserver, token_env=None, token_secret_block="zendesk-token")
    assert not loaded  # nothing is loaded before the first request
    source.extract()
    assert loaded == [("zendesk-token", True)]
    assert httpserver.log[0][0].headers["Authorization"] == f"Bearer {TOKEN}"


def test_importing_the_module_loads_no_prefect() -> None:
    code = (
        "import sys, cxpipe.sources.http\n"
        "print(any(m.split('.')[0] == 'prefect' for m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "False"


# ------------------------------------------------------------------------- frames, docs


def test_flatten_record_keeps_values_as_text() -> None:
    record = {
        "id": 7,
        "score": 4.5,
        "ok": False,
        "none": None,
        "tags": ["a", "b"],
        "empty": {},
        "fields": {"status": {"name": "Done"}, "labels": []},
    }
    assert flatten_record(record) == {
        "id": "7",
        "score": "4.5",
        "ok": "false",
        "none": None,
        "tags": '["a","b"]',
        "empty": "{}",
        "fields.status.name": "Done",
        "fields.labels": "[]",
    }


def test_the_documented_connector_runs(httpserver: HTTPServer) -> None:
    text = DOCS.read_text(encoding="utf-8")
    (code,) = [b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "@hookimpl" in b]
    (toml,) = re.findall(r"```toml\n(.*?)```", text, re.S)
    module = types.ModuleType("docs_http_connector")
    exec(compile(code, "docs/http-sources.md", "exec"), module.__dict__)
    source_table = tomllib.loads(toml)["sources"][0]
    options = {**source_table["options"], "base_url": httpserver.url_for("/"), **FAST}
    options["token_env"] = "CX_TEST_TOKEN"
    config = SourceConfig.model_validate({**source_table, "options": options})
    path = "/api/v2/incremental/tickets/cursor.json"
    httpserver.expect_oneshot_request(
        path, query_string={"start_time": "1767225600", "per_page": "1000"}
    ).respond_with_json(
        {
            "tickets": [
                {"id": 1, "created_at": "2026-01-02T10:00:00Z", "via": {"channel": "email"}}
            ],
            "after_cursor": "c1",
            "end_of_stream": False,
        }
    )
    httpserver.expect_oneshot_request(
        path, query_string={"cursor": "c1", "per_page": "1000"}
    ).respond_with_json(
        {
            "tickets": [{"id": 2, "created_at": "2026-01-03T09:00:00Z", "via": {"channel": "web"}}],
            "end_of_stream": True,
        }
    )
    source = module.ZendeskTickets(config)
    frame = source.extract(datetime(2026, 1, 1, tzinfo=UTC)).frame.collect()
    assert frame.select("id", "via.channel", "_cx_row").rows() == [
        ("1", "email", 1),
        ("2", "web", 1),
    ]
    assert set(source_table["columns"].values()) <= set(frame.columns)
    httpserver.check_assertions()


def test_a_source_must_declare_its_endpoint(httpserver: HTTPServer) -> None:
    class Bare(HttpSource):
        kind = "bare"

    config = SourceConfig(
        name="b", kind="bare", entity="tickets", options={"base_url": httpserver.url_for("/")}
    )
    with pytest.raises(TypeError, match="must set `path` and `records_key`"):
        Bare(config).extract()


# ------------------------------------------------------------------------- the public API
# What connectors build on instead of the base's private members.


def _mapped(server: HTTPServer, **table: Any) -> HttpSource:
    """A ``Tickets`` source whose config maps source columns (``table`` extends it)."""
    config = SourceConfig.model_validate(
        {
            "name": "desk",
            "kind": "test.tickets",
            "entity": "tickets",
            "options": {"base_url": server.url_for("/"), "token_env": "CX_TEST_TOKEN", **FAST},
            "columns": {"ticket_id": "id", "client_id": "org.name", "priority": "prio"},
            "keep": ["channel"],
            **table,
        }
    )
    return Tickets(config)


def test_an_empty_read_has_the_mapped_columns_a_typo_stays_missing(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request("/api/v2/tickets").respond_with_json({"tickets": []})
    empty = _mapped(httpserver).extract().frame.collect()
    assert empty.height == 0
    assert set(empty.columns) == {"id", "org.name", "prio", "channel", "_cx_file", "_cx_row"}
    # with records: a null parent object ("org": null) adds its mapped child, null; a column
    # the records simply lack (a typo for "priority") stays missing, so conform names it
    records = [{"id": 1, "org": None, "priority": "p1", "channel": "web"}]
    httpserver.expect_oneshot_request("/api/v2/tickets").respond_with_json({"tickets": records})
    frame = _mapped(httpserver).extract().frame.collect()
    assert frame["org.name"].to_list() == [None]
    assert "prio" not in frame.columns


def test_post_paging_sends_the_paginator_parameters_in_the_body(httpserver: HTTPServer) -> None:
    seen: list[dict[str, Any]] = []

    def search(request: Request) -> Response:
        body = request.get_json()
        seen.append(body)
        token = body.get("nextPageToken")
        page = {None: ([{"key": "A-1"}], "t2"), "t2": ([{"key": "A-2"}], None)}[token]
        answer: dict[str, Any] = {"issues": page[0], "isLast": page[1] is None}
        if page[1]:
            answer["nextPageToken"] = page[1]
        return Response(json.dumps(answer), content_type="application/json")

    httpserver.expect_request("/rest/api/3/search/jql", method="POST").respond_with_handler(search)
    source = make(httpserver, path="/rest/api/3/search/jql", records_key="issues")
    pages = list(
        source.records(
            "/rest/api/3/search/jql",
            {"jql": "project = A", "maxResults": 1},
            paginator=NextUrlPaginator("nextPageToken", done_path="isLast"),
            method="POST",
        )
    )
    assert [[r["key"] for r in page] for page in pages] == [["A-1"], ["A-2"]]
    assert seen == [
        {"jql": "project = A", "maxResults": 1},
        {"jql": "project = A", "maxResults": 1, "nextPageToken": "t2"},
    ]
    assert all(not r.query_string for r, _ in httpserver.log)  # nothing in the query string
    with pytest.raises(ValueError, match="GET or POST"):
        next(source.records("/x", method="DELETE"))


@dataclass(frozen=True)
class _TotalInHeader(Paginator):
    """Pages by ``X-Total-Count``, as ServiceNow's Table API does."""

    def first(self, path: str, params: Mapping[str, Any], page_size: int) -> PageRequest:
        return PageRequest(path, {**params, "offset": 0}, "offset 0")

    def next(
        self,
        current: PageRequest,
        body: Mapping[str, Any],
        records: list[dict[str, Any]],
        page_size: int,
        *,
        headers: Mapping[str, str] = EMPTY_HEADERS,
    ) -> PageRequest | None:
        offset = int(current.params["offset"]) + page_size
        if offset >= int(headers["x-total-count"]):
            return None
        return PageRequest(current.path, {"offset": offset}, f"offset {offset}")


def test_paginators_see_the_response_headers_and_the_last_response_is_public(
    httpserver: HTTPServer,
) -> None:
    for offset in (0, 1, 2):
        httpserver.expect_oneshot_request(
            "/api/v2/tickets", query_string={"offset": str(offset)}
        ).respond_with_json(
            {"tickets": [{"id": offset}]},
            headers={"X-Total-Count": "3", "Date": f"Mon, 23 Nov 2026 10:00:0{offset} GMT"},
        )
    source = make(httpserver, _TotalInHeader(), page_size=1)
    assert rows(source)["id"].to_list() == ["0", "1", "2"]
    assert source.last_response is not None
    assert source.last_response.headers["date"].endswith("10:00:02 GMT")


def test_get_if_exists_reads_a_404_as_absent_and_still_fails_on_other_errors(
    httpserver: HTTPServer,
) -> None:
    path = "/rest/servicedeskapi/request/{key}/feedback"
    httpserver.expect_request(path.format(key="SD-1")).respond_with_json({"rating": 5})
    httpserver.expect_request(path.format(key="SD-2")).respond_with_json(
        {"errorMessage": "No feedback"}, status=404
    )
    httpserver.expect_request(path.format(key="SD-3")).respond_with_json({}, status=403)
    source = make(httpserver)
    assert source.get_if_exists(path.format(key="SD-1")) == {"rating": 5}
    assert source.get_if_exists(path.format(key="SD-2")) is None
    with pytest.raises(SourceError, match="feedback of SD-3: HTTP 403 Forbidden"):
        source.get_if_exists(path.format(key="SD-3"), where="feedback of SD-3")
    with pytest.raises(SourceError, match=r"GET .*SD-2/feedback: HTTP 404 Not Found"):
        source.request(path.format(key="SD-2"))  # where 404 is a wrong URL


class _OwnAuthOptions(HttpOptions):
    api_key_env: str | None = None
    account_env: str | None = None
    auth_kinds: ClassVar[tuple[tuple[str, ...], ...]] = (
        ("api_key_env", "account_env"),
        *HttpOptions.auth_kinds,
    )
    auth_required: ClassVar[bool] = True


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"api_key_env": "K"}, "api_key_env and account_env go together"),
        ({"username_env": "U"}, "username_env and password_env go together"),
        (
            {"api_key_env": "K", "account_env": "A", "token_env": "T"},
            "set only one of api_key_env with account_env, token_env, token_secret_block, or "
            "username_env with password_env",
        ),
        ({}, "this API needs credentials: set api_key_env with account_env, token_env"),
    ],
)
def test_a_connector_declares_its_own_kind_of_credentials(
    given: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        _OwnAuthOptions.model_validate({"base_url": "https://x.example.com", **given})
    accepted = {"base_url": "https://x.example.com", "api_key_env": "K", "account_env": "A"}
    assert _OwnAuthOptions.model_validate(accepted).api_key_env == "K"
    # the base's own kinds still exclude each other, and none is needed there
    with pytest.raises(ValueError, match="set only one of token_env, token_secret_block"):
        HttpOptions.model_validate(
            {"base_url": "https://x.example.com", "token_env": "T", "token_secret_block": "b"}
        )
    assert HttpOptions.model_validate({"base_url": "https://x.example.com"}).token_env is None
