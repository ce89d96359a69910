"""HTTP machinery for API source plugins: credentials, retries, pagination, lineage.

A connector subclasses :class:`HttpSource` and declares its endpoint, in the style of the
Singer SDK's stream classes but much smaller::

    class ZendeskTickets(HttpSource):
        kind = "zendesk.tickets"
        path = "/api/v2/incremental/tickets/cursor.json"
        records_key = "tickets"
        paginator = CursorPaginator("after_cursor", done_path="end_of_stream")

The base reads credentials from environment variables (or a Prefect Secret block),
retries 429/5xx/connection errors with backoff, follows the paginator to the last page
(with a loop guard and a page bound), and turns the pages into a LazyFrame of strings
with ``_cx_file``/``_cx_row`` lineage. Every message it writes is scrubbed of secrets.
See ``docs/http-sources.md``.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import json
import logging
import os
import random
import re
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, ClassVar, TypeVar
from urllib.parse import quote, quote_plus, urlsplit

import httpx
import polars as pl
from pydantic import Field, field_validator, model_validator

from cxpipe.config import SourceConfig
from cxpipe.errors import ConfigError, SourceError
from cxpipe.sources.base import Extract, InputFile, Source, SourceOptions

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
"""Statuses retried with backoff; 429 and 503 honour ``Retry-After``."""

_MISSING: Any = object()
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
_SECRET_HEADER = re.compile(r"authorization|token|secret|password|cookie|key", re.IGNORECASE)
_MESSAGE_KEYS = (
    "error",
    "errorMessage",
    "errorMessages",
    "message",
    "error_description",
    "description",
    "detail",
    "errors",
    "meta",
)


# --------------------------------------------------------------------------- paginators


EMPTY_HEADERS: Mapping[str, str] = MappingProxyType({})
"""The default ``headers`` of :meth:`Paginator.next` (a paginator called outside a read)."""


class PaginationError(ValueError):
    """A response does not follow the paginator's protocol (:class:`HttpSource` adds the page
    and path to the message)."""


@dataclass(frozen=True)
class PageRequest:
    """One page to ask for: a path (or an absolute URL on the API's host) and its query."""

    path: str
    params: Mapping[str, Any]
    position: str = "the first page"
    """How this page is addressed (``cursor 'abc'``, ``offset 200``), for loop messages."""
    from_origin: bool = False
    """``path`` is relative to the host, not to ``base_url`` (a ``/…`` next link)."""


def dig(body: Any, path: str) -> Any:
    """The value at a dotted path (``meta.has_more``) of a JSON body, or ``_MISSING``."""
    value = body
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _flag(body: Mapping[str, Any], path: str) -> bool:
    value = dig(body, path)
    if value is _MISSING:
        raise PaginationError(f"expected key {path!r} in the response")
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise PaginationError(f"{path!r} is {value!r}, expected true or false")


def _more(body: Mapping[str, Any], has_more_path: str | None, done_path: str | None) -> bool | None:
    """What the response's flags say: more pages (True), no more (False), or no flags (None)."""
    if has_more_path is not None and not _flag(body, has_more_path):
        return False
    if done_path is not None and _flag(body, done_path):
        return False
    if has_more_path is None and done_path is None:
        return None
    return True


def _next_value(
    body: Mapping[str, Any],
    path: str,
    has_more_path: str | None,
    done_path: str | None,
    what: str,
) -> tuple[Any, bool | None] | None:
    """The value at ``path`` that leads to the next page, with what the flags said; ``None``
    when the stream has ended. Flags promising more pages without that value are an error
    (``what`` names the value in it), not a silent end."""
    more = _more(body, has_more_path, done_path)
    if more is False:
        return None
    value = dig(body, path)
    if value is _MISSING or value is None or value == "":
        if more:
            raise PaginationError(f"the response says there are more pages but has no {what}")
        return None
    return value, more


def _count(body: Mapping[str, Any], path: str) -> int:
    value = dig(body, path)
    if value is _MISSING:
        raise PaginationError(f"expected key {path!r} in the response")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise PaginationError(f"{path!r} is {value!r}, expected a whole number") from None


def _last_page(
    records: list[dict[str, Any]],
    page_size: int,
    body: Mapping[str, Any],
    total_path: str | None,
    reached: int,
) -> bool:
    """Whether a page ends a count-paged stream: it is empty, or ``reached`` (records or
    pages so far) meets the total at ``total_path``, or, with no total, it is short."""
    if not records:
        return True
    if total_path is not None:
        return reached >= _count(body, total_path)
    return len(records) < page_size


class Paginator(ABC):
    """How to ask for the page after the current one.

    Paginators are stateless (one object is shared by every extract of a class); the loop
    guard and page bound live in :meth:`HttpSource.records`.
    """

    def first(self, path: str, params: Mapping[str, Any], page_size: int) -> PageRequest:
        """The first page's request."""
        return PageRequest(path, dict(params))

    @abstractmethod
    def next(
        self,
        current: PageRequest,
        body: Mapping[str, Any],
        records: list[dict[str, Any]],
        page_size: int,
        *,
        headers: Mapping[str, str] = EMPTY_HEADERS,
    ) -> PageRequest | None:
        """The request after ``current``, or ``None`` when ``current`` was the last page.

        ``body`` is the current page's JSON object and ``headers`` its response headers
        (case-insensitive; for APIs that page in headers, like ServiceNow's
        ``X-Total-Count`` and ``Link``). Raises :class:`PaginationError` when the response
        contradicts itself."""


@dataclass(frozen=True)
class OffsetPaginator(Paginator):
    """``?limit=100&offset=200``: ServiceNow's ``sysparm_limit``/``sysparm_offset``, Jira's
    ``maxResults``/``startAt``.

    Without ``total_path`` a page shorter than the page size is the last one (so keep
    ``page_size`` within the server's maximum); with it (Jira's ``total``), paging goes on
    until the offset reaches the total, whatever page size the server chose.
    """

    limit_param: str = "limit"
    offset_param: str = "offset"
    _: KW_ONLY
    total_path: str | None = None
    start: int = 0

    def first(self, path: str, params: Mapping[str, Any], page_size: int) -> PageRequest:
        query = {**params, self.limit_param: page_size, self.offset_param: self.start}
        return PageRequest(path, query, f"offset {self.start}")

    def next(
        self,
        current: PageRequest,
        body: Mapping[str, Any],
        records: list[dict[str, Any]],
        page_size: int,
        *,
        headers: Mapping[str, str] = EMPTY_HEADERS,
    ) -> PageRequest | None:
        offset = int(current.params[self.offset_param]) + len(records)
        if _last_page(records, page_size, body, self.total_path, offset):
            return None
        return PageRequest(
            current.path, {**current.params, self.offset_param: offset}, f"offset {offset}"
        )


@dataclass(frozen=True)
class PagePaginator(Paginator):
    """``?page=3&per_page=100``: numbered pages; the last is short, or ``total_pages_path``
    says how many there are."""

    page_param: str = "page"
    size_param: str | None = "per_page"
    _: KW_ONLY
    total_pages_path: str | None = None
    start: int = 1

    def first(self, path: str, params: Mapping[str, Any], page_size: int) -> PageRequest:
        query = {**params, self.page_param: self.start}
        if self.size_param:
            query[self.size_param] = page_size
        return PageRequest(path, query, f"page number {self.start}")

    def next(
        self,
        current: PageRequest,
        body: Mapping[str, Any],
        records: list[dict[str, Any]],
        page_size: int,
        *,
        headers: Mapping[str, str] = EMPTY_HEADERS,
    ) -> PageRequest | None:
        number = int(current.params[self.page_param]) + 1
        if _last_page(records, page_size, body, self.total_pages_path, number - self.start):
            return None
        return PageRequest(
            current.path, {**current.params, self.page_param: number}, f"page number {number}"
        )


@dataclass(frozen=True)
class CursorPaginator(Paginator):
    """An opaque cursor in the body, sent back as a query parameter.

    Zendesk's incremental export: ``CursorPaginator("after_cursor", done_path="end_of_stream",
    keep_params=False)``; Zendesk's cursor pagination: ``CursorPaginator("meta.after_cursor",
    "meta.has_more", cursor_param="page[after]", size_param="page[size]")``. With no flag
    paths, a missing cursor or an empty page ends the stream.
    """

    cursor_path: str
    has_more_path: str | None = None
    _: KW_ONLY
    done_path: str | None = None
    cursor_param: str = "cursor"
    size_param: str | None = None
    keep_params: bool = True
    """Send the first request's parameters again with the cursor (``False`` for APIs that
    reject ``start_time`` next to ``cursor``)."""

    def first(self, path: str, params: Mapping[str, Any], page_size: int) -> PageRequest:
        query = dict(params)
        if self.size_param:
            query[self.size_param] = page_size
        return PageRequest(path, query)

    def next(
        self,
        current: PageRequest,
        body: Mapping[str, Any],
        records: list[dict[str, Any]],
        page_size: int,
        *,
        headers: Mapping[str, str] = EMPTY_HEADERS,
    ) -> PageRequest | None:
        found = _next_value(
            body,
            self.cursor_path,
            self.has_more_path,
            self.done_path,
            f"cursor at {self.cursor_path!r}",
        )
        if found is None:
            return None
        cursor, more = found
        if more is None and not records:
            return None
        query: dict[str, Any] = dict(current.params) if self.keep_params else {}
        if self.size_param:
            query[self.size_param] = page_size
        query[self.cursor_param] = cursor
        return PageRequest(current.path, query, f"cursor {_short(cursor)}")


@dataclass(frozen=True)
class NextUrlPaginator(Paginator):
    """The body names the next page: a URL (Zendesk's ``links.next``, Jira Service
    Management's ``_links.next``, Qualtrics' ``result.nextPage``) that is followed as is,
    or a token (Jira's ``nextPageToken``) sent back as ``token_param`` (default: the last
    part of ``next_path``) with the first request's parameters.

    A next URL on another host than ``base_url`` is refused: credentials are only sent to
    the configured host.
    """

    next_path: str
    _: KW_ONLY
    has_more_path: str | None = None
    done_path: str | None = None
    token_param: str | None = None

    def next(
        self,
        current: PageRequest,
        body: Mapping[str, Any],
        records: list[dict[str, Any]],
        page_size: int,
        *,
        headers: Mapping[str, str] = EMPTY_HEADERS,
    ) -> PageRequest | None:
        found = _next_value(
            body, self.next_path, self.has_more_path, self.done_path, repr(self.next_path)
        )
        if found is None:
            return None
        value, _more_pages = found
        if not isinstance(value, str):
            raise PaginationError(f"{self.next_path!r} is {_short(value)}, expected a string")
        if value.startswith(("http://", "https://")):
            return PageRequest(value, {}, f"next URL {_short(value)}")
        if value.startswith("/"):
            return PageRequest(value, {}, f"next URL {_short(value)}", from_origin=True)
        param = self.token_param or self.next_path.rsplit(".", 1)[-1]
        return PageRequest(
            current.path, {**current.params, param: value}, f"page token {_short(value)}"
        )


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…'"


# --------------------------------------------------------------------------- frames


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def flatten_record(record: Mapping[str, Any], prefix: str = "") -> dict[str, str | None]:
    """One API record as text columns: nested objects become dotted names
    (``fields.status.name``), lists and empty objects JSON text, scalars their JSON text
    (strings unquoted, ``true``/``false``, numbers as written), null stays null."""
    flat: dict[str, str | None] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten_record(value, f"{name}."))
        else:
            flat[name] = _text(value)
    return flat


def frame_from_records(
    records: Iterable[tuple[str, int, Mapping[str, Any]]],
    expected: Iterable[str] = (),
) -> pl.LazyFrame:
    """``(_cx_file, _cx_row, record)`` triples as one frame of text columns (see
    :func:`flatten_record`) with that lineage.

    A column named in ``expected`` (the source columns the config maps or keeps:
    :meth:`~cxpipe.config.SourceConfig.source_columns`) is added, null, when no record
    can have it: there are none (an incremental read that found nothing new), or the
    object it belongs to is null in every record (``fields.assignee.accountId`` when no
    request is assigned). Any other missing column stays missing, so conform names it
    (a typo in the config is an error, not a column of nulls).
    """
    files: list[str] = []
    numbers: list[int] = []
    rows: list[dict[str, str | None]] = []
    for file, number, record in records:
        files.append(file)
        numbers.append(number)
        rows.append(flatten_record(record))
    columns = list(dict.fromkeys(name for row in rows for name in row))
    present = set(columns)
    for name in dict.fromkeys(expected):
        if name not in present and (not rows or any(p in present for p in _parents(name))):
            columns.append(name)
            present.add(name)
    data: dict[str, list[Any]] = {name: [row.get(name) for row in rows] for name in columns}
    schema: dict[str, pl.DataType] = {name: pl.String() for name in columns}
    data.update(_cx_file=files, _cx_row=numbers)
    schema.update(_cx_file=pl.String(), _cx_row=pl.Int64())
    return pl.DataFrame(data, schema=schema).lazy()


_Record = TypeVar("_Record", bound=Mapping[str, Any])


def page_lineage(
    pages: Iterable[Sequence[_Record]], label: str
) -> Iterator[tuple[str, int, _Record]]:
    """``(_cx_file, _cx_row, record)`` for every record of ``pages``: ``"{label} page {n}"``
    and the 1-based row within that page, what a quarantined row points back to."""
    for page_number, page in enumerate(pages, start=1):
        for row_number, record in enumerate(page, start=1):
            yield f"{label} page {page_number}", row_number, record


def frame_from_pages(
    pages: Iterable[Sequence[Mapping[str, Any]]], label: str, expected: Iterable[str] = ()
) -> pl.LazyFrame:
    """The records of every page as one frame (see :func:`frame_from_records`), with the
    lineage of :func:`page_lineage`."""
    return frame_from_records(page_lineage(pages, label), expected)


def _parents(name: str) -> Iterator[str]:
    """``a.b.c`` → ``a.b``, ``a``: the flattened columns a null parent object leaves."""
    parts = name.split(".")
    for end in range(len(parts) - 1, 0, -1):
        yield ".".join(parts[:end])


# --------------------------------------------------------------------------- options


class HttpOptions(SourceOptions):
    """Settings every HTTP source accepts under ``[sources.options]``.

    Credentials are named, never given: ``token_env`` / ``username_env`` +
    ``password_env`` name environment variables, ``token_secret_block`` a Prefect Secret
    block. At most one kind may be set; none means an unauthenticated API.
    """

    base_url: str
    """``https://acme.zendesk.com``; may include a path prefix (``…/API/v3``)."""
    token_env: str | None = None
    """Environment variable holding an API token, sent as ``{token_header}: {token_prefix}
    {token}``."""
    token_secret_block: str | None = None
    """Name of a Prefect ``Secret`` block holding the token (loaded at the first request)."""
    token_header: str = "Authorization"
    token_prefix: str = "Bearer"
    """Set ``token_header = "X-API-TOKEN"`` and ``token_prefix = ""`` for Qualtrics."""
    username_env: str | None = None
    """Environment variables for HTTP Basic auth (Jira: e-mail and API token)."""
    password_env: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    """Extra non-secret headers; names that look like credentials are refused."""
    connect_timeout: float = Field(10.0, gt=0)
    timeout: float = Field(60.0, gt=0)
    """Seconds to wait for each read/write once connected."""
    page_size: int = Field(100, ge=1)
    max_pages: int = Field(10_000, ge=1)
    """Safety bound: an extract that would need more pages fails instead of running on."""
    max_attempts: int = Field(5, ge=1)
    """Tries per request, the first included, on 429/5xx/connection errors."""
    backoff_base: float = Field(1.0, ge=0)
    """Seconds before the first retry; doubles each time, half of it random (jitter)."""
    backoff_max: float = Field(60.0, ge=0)
    """Cap of one backoff wait (a ``Retry-After`` may ask for more)."""
    max_total_wait: float = Field(300.0, ge=0)
    """Total seconds one request may spend waiting between its tries."""
    max_requests_per_minute: float | None = Field(None, gt=0)
    """Client-side throttle, spacing requests evenly (Zendesk: 700; ServiceNow: per role)."""

    auth_kinds: ClassVar[tuple[tuple[str, ...], ...]] = (
        ("token_env",),
        ("token_secret_block",),
        ("username_env", "password_env"),
    )
    """The kinds of credentials these options accept, each a group of options set together;
    at most one kind may be set. A connector with a scheme of its own adds a group (Zendesk:
    ``("email_env", "api_token_env")``) and reads it in
    :meth:`HttpSource.load_credentials`; the one check then covers every kind."""
    auth_required: ClassVar[bool] = False
    """Refuse options that set no kind of credentials (an API with no anonymous access)."""

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        if parts.username is not None or parts.password is not None:
            raise ValueError(
                "must not hold credentials; name environment variables in token_env or "
                "username_env and password_env"
            )
        if parts.query or parts.fragment:
            raise ValueError("must not have a query string or fragment")
        return value.rstrip("/")

    @field_validator("token_env", "username_env", "password_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        # The value is never echoed: a field that should name a variable may hold a secret.
        if value is not None and not _ENV_NAME.fullmatch(value):
            raise ValueError(
                "must name an environment variable in capitals (like ZENDESK_TOKEN), not "
                "hold the secret itself"
            )
        return value

    @field_validator("headers")
    @classmethod
    def _no_secret_headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if _SECRET_HEADER.search(name):
                raise ValueError(
                    f"header {name!r} looks like a credential; use token_env with "
                    f"token_header = {name!r} instead"
                )
        return value

    @model_validator(mode="after")
    def _one_kind_of_auth(self) -> HttpOptions:
        chosen: list[tuple[str, ...]] = []
        for group in self.auth_kinds:
            given = [name for name in group if getattr(self, name) is not None]
            if given and len(given) < len(group):
                raise ValueError(f"{' and '.join(group)} go together")
            if given:
                chosen.append(group)
        kinds = [" with ".join(group) for group in self.auth_kinds]
        listed = ", ".join(kinds[:-1]) + f", or {kinds[-1]}" if len(kinds) > 1 else kinds[0]
        if len(chosen) > 1:
            raise ValueError(f"set only one of {listed}")
        if not chosen and self.auth_required:
            raise ValueError(f"this API needs credentials: set {listed}")
        return self


# --------------------------------------------------------------------------- credentials


def load_secret_block(name: str) -> str:
    """The value of a Prefect ``Secret`` block. Prefect is imported here, on first use only,
    so the library itself never imports it."""
    from prefect.blocks.system import Secret

    load: Any = Secret.load  # sync even when called from inside a flow's event loop
    value = load(name, _sync=True).get()
    if not isinstance(value, str):
        raise TypeError(f"the block holds a {type(value).__name__}, expected a string")
    return value


@dataclass(frozen=True)
class Credentials:
    """What :meth:`HttpSource.load_credentials` returns: headers or an httpx auth to send,
    the secret values to scrub from every message, and their origin for a 401's hint."""

    headers: dict[str, str] = field(default_factory=dict)
    auth: httpx.Auth | None = None
    secrets: tuple[str, ...] = ()
    origin: str = ""
    """Where the secrets come from, for a 401's hint (``ZENDESK_TOKEN``)."""


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """A ``Retry-After`` header as seconds to wait: delta-seconds or an HTTP-date; ``None``
    when absent or unreadable, 0 for a date in the past."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


# --------------------------------------------------------------------------- the source


class HttpSource(Source):
    """Base of API sources.

    A subclass sets ``kind``, ``path``, ``records_key`` (a dotted path to the list of
    records in each page) and ``paginator``, and overrides :meth:`params` to turn ``since``
    into the API's filter; :meth:`extract` then reads every page. Sources that read several
    endpoints override :meth:`extract` and call :meth:`fetch`, :meth:`records` or
    :meth:`request` themselves.
    """

    Options: ClassVar[type[SourceOptions]] = HttpOptions
    options: HttpOptions
    path: ClassVar[str] = ""
    records_key: ClassVar[str] = ""
    paginator: ClassVar[Paginator | None] = None
    """``None``: the endpoint answers in one page."""

    def __init__(self, config: SourceConfig, *, resolve_path: Any = None) -> None:
        super().__init__(config, resolve_path=resolve_path)
        self._client: httpx.Client | None = None
        self._credentials: Credentials | None = None
        self._last_request: float | None = None
        self._random = random.Random()
        self.retried: Counter[str] = Counter()
        """Retries made so far, by cause (``HTTP 429``, ``ConnectError``)."""
        self.last_response: httpx.Response | None = None
        """The latest successful response, for what an API says in headers (the server's
        ``Date``, a rate-limit budget)."""

    # ---------------------------------------------------------------- the declarative path

    def params(self, since: datetime | None) -> dict[str, Any]:
        """Query parameters of the first request; override to filter by ``since``."""
        return {}

    def extract(self, since: datetime | None = None) -> Extract:
        if not self.path or not self.records_key:
            raise TypeError(
                f"{type(self).__qualname__} must set `path` and `records_key`, or override "
                f"extract()"
            )
        try:
            return self.fetch(self.path, self.params(since), self.records_key)
        finally:
            self.close()

    def fetch(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        records_key: str | None = None,
        *,
        paginator: Paginator | None = None,
        method: str = "GET",
    ) -> Extract:
        """Every page of ``path`` (see :meth:`records`) as an :class:`Extract`: the frame
        (see :func:`frame_from_pages`; the columns the config maps are there even when
        nothing was read), the endpoint as its input, and a warning if requests had to be
        retried."""
        before = self.retried.copy()
        pages = list(self.records(path, params, records_key, paginator=paginator, method=method))
        label = f"{method} {_path_only(path)}"
        frame = frame_from_pages(pages, label, self.config.source_columns())
        log.info(
            "source %r: %s: %d records in %d pages",
            self.name,
            label,
            sum(len(p) for p in pages),
            len(pages),
        )
        return Extract(
            frame=frame, inputs=[self.endpoint(path)], warnings=self.retry_warnings(before)
        )

    def endpoint(self, path: str) -> InputFile:
        """``path`` on the API as an input of the run (the manifest's lineage)."""
        return InputFile(f"{self.options.base_url}{_path_only(path)}")

    def retry_warnings(self, before: Counter[str]) -> list[str]:
        """A warning for the retries made since ``before`` (a copy of :attr:`retried`
        taken when the extract began), or none: an extract that needed retries says so in
        the run's manifest."""
        retried = self.retried - before
        if not retried:
            return []
        causes = ", ".join(f"{cause} ×{n}" for cause, n in sorted(retried.items()))
        return [f"source {self.name!r}: requests were retried ({causes})"]

    # ---------------------------------------------------------------- pages

    def records(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        records_key: str | None = None,
        *,
        paginator: Paginator | None = None,
        method: str = "GET",
    ) -> Iterator[list[dict[str, Any]]]:
        """The records of each page of ``path``, page by page, following the paginator.

        With ``method="POST"`` (a search endpoint paged in its body, like Jira's
        ``search/jql``), ``params`` and the paginator's parameters are the JSON body
        instead of the query string; retries then repeat the POST, so use it only for
        reads.

        Stops with a :class:`SourceError` when the server sends back a position already
        requested or the same records twice in a row (instead of looping forever), and when
        more than ``options.max_pages`` pages would be needed.
        """
        key = records_key or self.records_key
        if not key:
            raise ValueError("records() needs a records_key")
        if method not in ("GET", "POST"):
            raise ValueError(f"records() pages GET or POST requests, not {method}")
        paging = paginator if paginator is not None else self.paginator
        size = self.options.page_size
        label = f"{method} {_path_only(path)}"
        current = (
            paging.first(path, params or {}, size)
            if paging
            else PageRequest(path, dict(params or {}))
        )
        seen: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}
        previous: str | None = None
        number = 1
        while True:
            where = f"page {number} of {label}"
            seen[_request_key(current)] = number
            in_body = method == "POST"
            body = self._request(
                method,
                current.path,
                {} if in_body else current.params,
                where=where,
                json_body=dict(current.params) if in_body else None,
                from_origin=current.from_origin,
            )
            headers = self.last_response.headers if self.last_response is not None else {}
            rows = self.page_records(body, key, where)
            digest = hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()
            if rows and digest == previous:
                raise self._error(
                    f"{where} has the same {len(rows)} records as page {number - 1} "
                    f"({current.position}): the server seems to ignore the paging "
                    f"parameters; stopping instead of looping forever"
                )
            previous = digest
            try:
                following = (
                    paging.next(current, body, rows, size, headers=headers) if paging else None
                )
            except PaginationError as exc:
                raise self._error(f"{where}: {exc}") from None
            log.debug("source %r: %s: %d records", self.name, where, len(rows))
            yield rows
            if following is None:
                return
            if number >= self.options.max_pages:
                raise self._error(
                    f"{label}: stopped at options.max_pages = {self.options.max_pages} and "
                    f"the server has more ({following.position}); raise max_pages if the "
                    f"data really is that large"
                )
            repeat = seen.get(_request_key(following))
            if repeat is not None:
                raise self._error(
                    f"page {number + 1} of {label}: the server sent back "
                    f"{following.position}, already used for page {repeat}; stopping "
                    f"instead of looping forever"
                )
            current = following
            number += 1

    def page_records(self, body: dict[str, Any], key: str, where: str) -> list[dict[str, Any]]:
        """The records under ``key`` (a dotted path) of one page, checked to be a list of
        objects; override to read an API that spreads records over several keys."""
        rows = dig(body, key)
        if rows is _MISSING:
            found = ", ".join(repr(k) for k in list(body)[:10]) or "none"
            raise self._error(
                f"{where}: expected a list of records under {key!r}; the response has keys {found}"
            )
        if not isinstance(rows, list):
            raise self._error(
                f"{where}: expected {key!r} to be a list of records, got {type(rows).__name__}"
            )
        for index, row in enumerate(rows, start=1):
            if not isinstance(row, dict):
                raise self._error(
                    f"{where}: record {index} under {key!r} is a {type(row).__name__}, "
                    f"not an object"
                )
        return rows

    # ---------------------------------------------------------------- one request

    def request(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        method: str = "GET",
        json_body: Any = None,
        where: str | None = None,
    ) -> dict[str, Any]:
        """One request, retried as the options say; its JSON object body.

        ``where`` names the request in error messages (``page 3 of the export``; default
        ``{method} {path}``). Retries are made for POST too: use it only for idempotent
        calls (search, export).
        """
        where = where or f"{method} {_path_only(path)}"
        return self._request(method, path, params or {}, where=where, json_body=json_body)

    def get_if_exists(
        self, path: str, params: Mapping[str, Any] | None = None, *, where: str | None = None
    ) -> dict[str, Any] | None:
        """A GET of one resource that may not exist: its JSON object body, or ``None`` on
        404 (a request with no satisfaction feedback), where :meth:`request` would stop the
        extract with "check options.base_url". Every other status is handled as usual."""
        where = where or f"GET {_path_only(path)}"
        url = self._url(path, False, where)
        response = self._send("GET", url, params or {}, None, where, absent_ok=True)
        return None if response.status_code == 404 else self._json(response, where)

    def download(self, path: str, params: Mapping[str, Any] | None = None) -> bytes:
        """The raw body of a GET (a zipped export, a CSV), retried like every request."""
        where = f"GET {_path_only(path)}"
        return self._send("GET", self._url(path, False, where), params or {}, None, where).content

    def error(self, message: str) -> SourceError:
        """A :class:`SourceError` naming this source, with every secret scrubbed: what a
        connector raises for a problem the base cannot know about (a failed export job)."""
        return self._error(message)

    def _request(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any],
        *,
        where: str,
        json_body: Any = None,
        from_origin: bool = False,
    ) -> dict[str, Any]:
        url = self._url(path, from_origin, where)
        return self._json(self._send(method, url, params, json_body, where), where)

    def _json(self, response: httpx.Response, where: str) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError as exc:
            kind = response.headers.get("content-type", "no Content-Type")
            detail = (
                f"{exc.msg} at line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else exc
            )
            raise self._error(
                f"{where}: the response is not valid JSON ({detail}; {kind}); it starts "
                f"with {response.text[:80]!r}"
            ) from None
        if not isinstance(body, dict):
            raise self._error(f"{where}: expected a JSON object, got a {type(body).__name__}")
        return body

    def _url(self, path: str, from_origin: bool, where: str) -> str:
        base = self.options.base_url
        if path.startswith(("http://", "https://")):
            if _origin(path) != _origin(base):
                raise self._error(
                    f"{where}: refusing to follow a next-page URL to {_origin(path)}, which "
                    f"is not options.base_url's host: credentials go to {_origin(base)} only"
                )
            return path
        if from_origin:
            return _origin(base) + path
        return f"{base}/{path.lstrip('/')}"

    def _send(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any],
        json_body: Any,
        where: str,
        *,
        absent_ok: bool = False,
    ) -> httpx.Response:
        options = self.options
        credentials = self._auth()
        client = self._http()
        waited = 0.0
        for attempt in range(1, options.max_attempts + 1):
            self._throttle()
            retry_after: float | None = None
            try:
                response = client.request(
                    method,
                    url,
                    params=dict(params) or None,
                    json=json_body,
                    headers=credentials.headers,
                    auth=credentials.auth or httpx.USE_CLIENT_DEFAULT,
                )
            except httpx.TransportError as exc:
                cause = type(exc).__name__
                problem = f"cannot reach {_origin(url)} ({cause}: {exc})"
            else:
                if response.status_code < 300:
                    self.last_response = response
                    return response
                if response.status_code == 404 and absent_ok:
                    return response
                if response.status_code not in RETRY_STATUSES:
                    raise self._status_error(response, where)
                cause = f"HTTP {response.status_code}"
                problem = self._status_text(response)
                if response.status_code in (429, 503):
                    retry_after = retry_after_seconds(response.headers.get("retry-after"))
            if attempt == options.max_attempts:
                raise self._error(f"{where}: {problem}, after {attempt} attempts")
            remaining = options.max_total_wait - waited
            if remaining <= 0:
                raise self._error(
                    f"{where}: {problem}, after {attempt} attempts and {waited:.3g} s of "
                    f"waiting (options.max_total_wait = {options.max_total_wait:g} s)"
                )
            if retry_after is not None:
                if retry_after > remaining:
                    raise self._error(
                        f"{where}: {problem}; the server asks to wait {retry_after:g} s "
                        f"(Retry-After), more than the {remaining:.3g} s left of "
                        f"options.max_total_wait = {options.max_total_wait:g} s; try later"
                    )
                delay = retry_after + self._random.uniform(0, min(1.0, options.backoff_base))
            else:
                delay = self._backoff(attempt)
            delay = min(delay, remaining)
            self.retried[cause] += 1
            log.warning(
                "%s",
                self._redact(
                    f"source {self.name!r}: {where}: {problem}; retry {attempt} of "
                    f"{options.max_attempts - 1} in {delay:.2f} s"
                ),
            )
            time.sleep(delay)
            waited += delay
        raise AssertionError("unreachable")  # pragma: no cover

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter: half the doubled delay fixed, half random."""
        ceiling = min(self.options.backoff_max, self.options.backoff_base * 2.0 ** (attempt - 1))
        return ceiling / 2 + self._random.uniform(0, ceiling / 2)

    def _throttle(self) -> None:
        limit = self.options.max_requests_per_minute
        now = time.monotonic()
        if limit and self._last_request is not None:
            wait = self._last_request + 60.0 / limit - now
            if wait > 0:
                time.sleep(wait)
                now += wait
        self._last_request = now

    # ---------------------------------------------------------------- errors

    def _error(self, message: str) -> SourceError:
        return SourceError(self._redact(f"source {self.name!r} ({self.kind}): {message}"))

    def _status_text(self, response: httpx.Response) -> str:
        # the standard phrase, not the server's (HTTP/2 sends none, some servers shout)
        reason = httpx.codes.get_reason_phrase(response.status_code)
        text = f"HTTP {response.status_code} {reason}".rstrip()
        detail = _server_message(response)
        return f"{text} ({detail})" if detail else text

    def _status_error(self, response: httpx.Response, where: str) -> SourceError:
        status = response.status_code
        origin = (self._credentials or Credentials()).origin
        if status == 401:
            hint = (
                f"check the credentials in {origin}"
                if origin
                else "the API needs credentials: set options.token_env, or username_env "
                "and password_env"
            )
        elif status == 403:
            hint = (
                f"the credentials in {origin or 'use'} are not allowed to read this "
                f"(check the account's roles or the token's scopes)"
            )
        elif status == 404:
            hint = f"check options.base_url ({self.options.base_url}) and the path"
        elif status < 400:
            target = _path_only(response.headers.get("location", "?"))
            hint = (
                f"redirected to {target}; redirects are not followed (credentials could "
                f"leave the host): set options.base_url to the final address"
            )
        elif status >= 500:
            hint = "a server error that retrying does not fix"
        else:
            hint = "the request was refused"
        return self._error(f"{where}: {self._status_text(response)}: {hint}")

    def _redact(self, text: str) -> str:
        secrets = self._credentials.secrets if self._credentials else ()
        # also URL-encoded: a server may echo a secret from a query string or a URL
        forms = {f for s in secrets if s for f in (s, quote(s, safe=""), quote(s), quote_plus(s))}
        for secret in sorted(forms, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text

    # ---------------------------------------------------------------- client, credentials

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(
                timeout=httpx.Timeout(self.options.timeout, connect=self.options.connect_timeout),
                follow_redirects=False,
                headers={"Accept": "application/json", **self.options.headers},
            )
        return self._client

    def close(self) -> None:
        """Close the connection pool (a later request opens a new one)."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def _auth(self) -> Credentials:
        if self._credentials is None:
            self._credentials = self.load_credentials()
        return self._credentials

    def env(self, option: str, variable: str) -> str:
        """The value of the environment variable an option names (a ConfigError naming
        both when it is unset); for connectors with their own kind of credentials."""
        value = os.environ.get(variable, "")
        if not value:
            raise ConfigError(
                f"source {self.name!r} ({self.kind}): options.{option} names the environment "
                f"variable {variable}, which is not set"
            )
        return value

    def load_credentials(self) -> Credentials:
        """Read the credentials once, at the first request. Override for an API with its own
        scheme (Zendesk's ``{email}/token``); list every secret in ``secrets`` so messages
        never show it."""
        options = self.options
        if options.username_env and options.password_env:
            username = self.env("username_env", options.username_env)
            password = self.env("password_env", options.password_env)
            encoded = base64.b64encode(f"{username}:{password}".encode()).decode()
            return Credentials(
                auth=httpx.BasicAuth(username, password),
                secrets=(password, encoded),
                origin=f"{options.username_env} and {options.password_env}",
            )
        if options.token_env:
            token = self.env("token_env", options.token_env)
            origin = options.token_env
        elif options.token_secret_block:
            origin = f"the Prefect Secret block {options.token_secret_block!r}"
            try:
                token = load_secret_block(options.token_secret_block)
            except Exception as exc:
                raise ConfigError(
                    f"source {self.name!r} ({self.kind}): cannot load {origin}: "
                    f"{type(exc).__name__}: {exc}"
                ) from None
        else:
            return Credentials()
        value = f"{options.token_prefix} {token}" if options.token_prefix else token
        return Credentials(
            headers={options.token_header: value}, secrets=(token, value), origin=origin
        )


def _path_only(url: str) -> str:
    """The path of a URL or path, without query string: what messages and lineage show."""
    return urlsplit(url).path or "/"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _request_key(request: PageRequest) -> tuple[str, tuple[tuple[str, str], ...]]:
    return request.path, tuple(sorted((k, str(v)) for k, v in request.params.items()))


def _server_message(response: httpx.Response) -> str | None:
    """The error text of a JSON error body (Zendesk, ServiceNow, Jira and Qualtrics
    shapes), at most 300 characters; ``None`` when the body is not JSON."""
    try:
        body = response.json()
    except ValueError:
        return None
    messages = list(dict.fromkeys(_messages(body, 0)))
    text = "; ".join(m for m in messages if m)
    return text[:297] + "..." if len(text) > 300 else text or None


def _messages(value: Any, depth: int) -> list[str]:
    if isinstance(value, str):
        return [value.strip()]
    if depth > 4:
        return []
    if isinstance(value, list):
        return [m for item in value for m in _messages(item, depth + 1)]
    if not isinstance(value, Mapping):
        return []
    known = [m for key in _MESSAGE_KEYS if key in value for m in _messages(value[key], depth + 1)]
    if known or depth == 0:
        return known
    # a map of field → message (Jira's "errors")
    return [f"{k}: {v}" for k, v in value.items() if isinstance(v, str)]
