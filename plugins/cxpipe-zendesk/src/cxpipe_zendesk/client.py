"""What every Zendesk source shares: the options, API-token authentication, the paginator
of the incremental exports, and small helpers for text columns.

Everything else — retries honouring ``Retry-After``, paging guards, error messages, the
scrubbing of secrets — is :class:`cxpipe.sources.http.HttpSource`'s.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx
import polars as pl
from pydantic import field_validator

from cxpipe.sources.http import (
    EMPTY_HEADERS,
    Credentials,
    CursorPaginator,
    HttpOptions,
    HttpSource,
    PageRequest,
)

ZENDESK_TIME = "%Y-%m-%dT%H:%M:%S%#z"
"""How Zendesk writes times: ISO 8601 in UTC (``2020-07-20T06:21:26Z``)."""

_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
_ENV_HINT = (
    "must name an environment variable in capitals (like ZENDESK_API_TOKEN), not hold the "
    "secret itself"
)


class ZendeskOptions(HttpOptions):
    """``[sources.options]`` of every ``zendesk.*`` source.

    Credentials are named, never given. Either an API token — ``email_env`` and
    ``api_token_env``, sent as HTTP Basic ``{email}/token:{api_token}`` as Zendesk
    documents — or an OAuth access token in ``token_env`` (``Authorization: Bearer …``).
    """

    email_env: str | None = None
    """Variable holding the agent's e-mail address, for API-token authentication."""
    api_token_env: str | None = None
    """Variable holding the API token (Admin Center → Apps and integrations → Zendesk API)."""

    auth_kinds: ClassVar[tuple[tuple[str, ...], ...]] = (
        ("email_env", "api_token_env"),
        *HttpOptions.auth_kinds,
    )
    auth_required: ClassVar[bool] = True
    """Zendesk has no anonymous access."""
    start_date: datetime | None = None
    """Where the first read starts (a full read without a committed watermark); the
    beginning of the account when unset."""

    @field_validator("email_env", "api_token_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        # Never echo the value: a field meant to name a variable may hold the secret.
        if value is not None and not _ENV_NAME.fullmatch(value):
            raise ValueError(_ENV_HINT)
        return value

    @field_validator("start_date")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class ZendeskSource(HttpSource):
    """Base of the Zendesk sources: API-token (``email/token``) authentication on top of
    the credentials :class:`HttpSource` already knows (OAuth bearer token, Basic)."""

    Options = ZendeskOptions
    options: ZendeskOptions

    def load_credentials(self) -> Credentials:
        options = self.options
        if options.email_env is None or options.api_token_env is None:
            return super().load_credentials()
        email = self.env("email_env", options.email_env)
        token = self.env("api_token_env", options.api_token_env)
        username = f"{email}/token"
        encoded = base64.b64encode(f"{username}:{token}".encode()).decode()
        return Credentials(
            auth=httpx.BasicAuth(username, token),
            secrets=(token, encoded),
            origin=f"{options.email_env} and {options.api_token_env}",
        )

    def first_time(self, since: datetime | None) -> datetime | None:
        """Where this read starts: the committed watermark, else ``options.start_date``."""
        if since is not None:
            return since if since.tzinfo else since.replace(tzinfo=UTC)
        return self.options.start_date


@dataclass(frozen=True)
class IncrementalExportPaginator(CursorPaginator):
    """Zendesk's cursor-based incremental export: the first request says ``start_time``,
    every later one sends ``cursor={after_cursor}`` instead, until ``end_of_stream``.

    Unlike ``CursorPaginator(keep_params=False)`` it sends the other parameters
    (``include``, ``exclude_deleted``, ``per_page``) with every cursor, as other Zendesk
    clients do: harmless if the cursor already implies them, needed if it does not. Only
    ``drop`` is left out once there is a cursor (Zendesk refuses it next to one).
    """

    drop: tuple[str, ...] = ("start_time",)

    def next(
        self,
        current: PageRequest,
        body: Mapping[str, Any],
        records: list[dict[str, Any]],
        page_size: int,
        *,
        headers: Mapping[str, str] = EMPTY_HEADERS,
    ) -> PageRequest | None:
        following = super().next(current, body, records, page_size, headers=headers)
        if following is None:
            return None
        params = {k: v for k, v in following.params.items() if k not in self.drop}
        return PageRequest(following.path, params, following.position)


def incremental_export_paginator() -> IncrementalExportPaginator:
    return IncrementalExportPaginator(
        "after_cursor", done_path="end_of_stream", size_param="per_page", keep_params=True
    )


def epoch(moment: datetime) -> int:
    """A UTC datetime as Zendesk's ``start_time``: whole seconds, rounded down so the
    moment itself is included."""
    return int(moment.timestamp() // 1)


def with_columns(frame: pl.LazyFrame, names: tuple[str, ...]) -> pl.LazyFrame:
    """``frame`` with every column of ``names`` present (null text where the API sent
    none), so a config's mapping holds even for a page without that field or an empty
    incremental read."""
    have = frame.collect_schema().names()
    missing = [name for name in names if name not in have]
    if not missing:
        return frame
    return frame.with_columns(pl.lit(None, dtype=pl.String).alias(name) for name in missing)


def parse_time(column: str) -> pl.Expr:
    """A text column of Zendesk times as UTC datetimes (null where unreadable; conform
    reports unreadable values of the mapped columns itself)."""
    return pl.col(column).str.to_datetime(ZENDESK_TIME, strict=False, time_zone="UTC")


def time_text(expr: pl.Expr) -> pl.Expr:
    """A UTC datetime as Zendesk writes times, so derived columns read like the API's."""
    return expr.dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def not_older_than(frame: pl.LazyFrame, column: str, since: datetime | None) -> pl.LazyFrame:
    """Rows whose ``column`` is at or after ``since`` (all rows when ``since`` is None);
    rows whose time cannot be read are kept, for conform to report."""
    if since is None:
        return frame
    at = parse_time(column)
    return frame.filter(at.is_null() | (at >= pl.lit(since, dtype=pl.Datetime("us", "UTC"))))


__all__ = [
    "ZENDESK_TIME",
    "IncrementalExportPaginator",
    "ZendeskOptions",
    "ZendeskSource",
    "epoch",
    "incremental_export_paginator",
    "not_older_than",
    "parse_time",
    "time_text",
    "with_columns",
]
