"""``zendesk.tickets``: tickets changed since the last run, with their metric sets.

One endpoint, Zendesk's cursor-based incremental ticket export::

    GET /api/v2/incremental/tickets/cursor.json?start_time=…&include=metric_sets&per_page=1000
    GET /api/v2/incremental/tickets/cursor.json?cursor={after_cursor}&include=…  (to end_of_stream)

Each ticket comes as the API writes it, flattened to text columns (``via.channel``,
``metric_set.reopens``…), plus three columns the API has no field for:

- ``first_reply_at``: ``created_at`` + the metric set's ``reply_time_in_minutes.calendar``
  (``reply_time_in_seconds.calendar`` where Zendesk gives it), for tickets with a public
  agent reply;
- ``reassignments``: ``group_stations − 1`` (or ``assignee_stations − 1``), never below 0;
- ``closed_at``: the metric set's ``status_updated_at`` for a ``closed`` ticket (closed is
  final, so its last status change is the closing).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal

import polars as pl
from pydantic import Field

from cxpipe.sources.base import Extract
from cxpipe_zendesk.client import (
    ZendeskOptions,
    ZendeskSource,
    epoch,
    incremental_export_paginator,
    not_older_than,
    parse_time,
    time_text,
    with_columns,
)

TICKET_FIELDS: tuple[str, ...] = (
    "id",
    "url",
    "created_at",
    "updated_at",
    "generated_timestamp",
    "status",
    "priority",
    "type",
    "subject",
    "organization_id",
    "requester_id",
    "group_id",
    "assignee_id",
    "via.channel",
    "metric_set.solved_at",
    "metric_set.status_updated_at",
    "metric_set.reopens",
    "metric_set.replies",
    "metric_set.group_stations",
    "metric_set.assignee_stations",
    "metric_set.reply_time_in_minutes.calendar",
    "metric_set.reply_time_in_minutes.business",
    "metric_set.full_resolution_time_in_minutes.calendar",
    "metric_set.full_resolution_time_in_minutes.business",
)
"""Fields every extract has (null where the API sent none), so the example config's
mapping holds on any page. Other fields of the API come through too."""

DERIVED_COLUMNS: tuple[str, ...] = ("first_reply_at", "reassignments", "closed_at")

TOO_RECENT = timedelta(seconds=61)
"""Zendesk refuses a ``start_time`` less than a minute old; a read that would ask for one
starts a minute earlier (what it re-reads is filtered out by ``updated_at``)."""


class ZendeskTicketsOptions(ZendeskOptions):
    """``[sources.options]`` of ``kind = "zendesk.tickets"``."""

    page_size: int = Field(1000, ge=1, le=1000)
    """Tickets per page (``per_page``); the export allows up to 1000."""
    max_requests_per_minute: float | None = Field(10.0, gt=0)
    """The incremental export allows 10 requests a minute (30 with the High Volume API
    add-on); requests are spaced to stay under it rather than bounce off 429s."""
    include_metric_sets: bool = True
    """Sideload each ticket's metric set (``include=metric_sets``): first reply time,
    solve time, reopens, replies, stations. Without it those columns stay empty."""
    exclude_deleted: bool = True
    """Leave deleted tickets out of the export (``exclude_deleted=true``)."""
    reassignments_from: Literal["group", "assignee"] = "group"
    """``group``: ``reassignments = group_stations − 1`` (the team changed), the ITSM
    meaning and the one that matches ``assignment_group``; ``assignee``: ``assignee_stations
    − 1`` (any hand-over between agents)."""
    priority_if_unset: Literal["urgent", "high", "normal", "low"] | None = None
    """Zendesk lets a ticket have no priority; the canonical ``priority`` is required, so
    such tickets are quarantined unless this names the priority they count as."""


class ZendeskTickets(ZendeskSource):
    """Zendesk Support tickets, incremental by ``updated_at`` (see the module docstring)."""

    kind = "zendesk.tickets"
    Options = ZendeskTicketsOptions
    options: ZendeskTicketsOptions
    path: ClassVar[str] = "/api/v2/incremental/tickets/cursor.json"
    records_key: ClassVar[str] = "tickets"
    paginator = incremental_export_paginator()

    def params(self, since: datetime | None) -> dict[str, Any]:
        """``start_time`` (the watermark, else ``start_date``, else 0) and the sideload."""
        start = self.first_time(since)
        if start is None:
            start_time = 0
        else:
            start_time = min(epoch(start), epoch(datetime.now(UTC) - TOO_RECENT))
        params: dict[str, Any] = {"start_time": max(start_time, 0)}
        if self.options.include_metric_sets:
            params["include"] = "metric_sets"
        if self.options.exclude_deleted:
            params["exclude_deleted"] = "true"
        return params

    def page_records(self, body: dict[str, Any], key: str, where: str) -> list[dict[str, Any]]:
        # The export nests each ticket's set under `metric_set`; should a server send the
        # sideload as a top-level `metric_sets` array (as /tickets/show_many does), put
        # each set on its ticket so the columns are the same either way.
        rows = super().page_records(body, key, where)
        sets = body.get("metric_sets")
        if isinstance(sets, list):
            by_ticket = {s.get("ticket_id"): s for s in sets if isinstance(s, dict)}
            for row in rows:
                if row.get("metric_set") is None and row.get("id") in by_ticket:
                    row["metric_set"] = by_ticket[row["id"]]
        return rows

    def extract(self, since: datetime | None = None) -> Extract:
        try:
            fetched = self.fetch(self.path, self.params(since), self.records_key)
        finally:
            self.close()
        since = self.first_time(since) if since is not None else None
        frame = not_older_than(with_columns(fetched.frame, TICKET_FIELDS), "updated_at", since)
        if self.options.priority_if_unset is not None:
            frame = frame.with_columns(pl.col("priority").fill_null(self.options.priority_if_unset))
        rows = frame.with_columns(self._derived(frame.collect_schema().names())).collect()
        warnings = [*fetched.warnings, *self._warnings(rows)]
        return Extract(frame=rows.lazy(), inputs=fetched.inputs, warnings=warnings)

    def _derived(self, have: list[str]) -> list[pl.Expr]:
        def number(column: str) -> pl.Expr:
            return pl.col(column).cast(pl.Int64, strict=False)

        minutes = number("metric_set.reply_time_in_minutes.calendar")
        seconds = (
            number("metric_set.reply_time_in_seconds.calendar")
            if "metric_set.reply_time_in_seconds.calendar" in have
            else pl.lit(None, dtype=pl.Int64)
        )
        wait = pl.coalesce(seconds, minutes * 60)
        replies = number("metric_set.replies")
        replied = replies.is_null() | (replies > 0)
        first_reply = pl.when(replied & wait.is_not_null()).then(
            parse_time("created_at") + pl.duration(seconds=wait)
        )
        stations = number(f"metric_set.{self.options.reassignments_from}_stations")
        closed = pl.when(pl.col("status") == "closed").then(pl.col("metric_set.status_updated_at"))
        return [
            time_text(first_reply).alias("first_reply_at"),
            pl.max_horizontal(stations - 1, pl.lit(0)).cast(pl.String).alias("reassignments"),
            closed.alias("closed_at"),
        ]

    def _warnings(self, rows: pl.DataFrame) -> list[str]:
        if not self.options.include_metric_sets or rows.height == 0:
            return []
        without = rows.filter(
            pl.col("metric_set.reopens").is_null() & (pl.col("status") != "deleted")
        ).height
        if not without:
            return []
        return [
            f"source {self.name!r}: {without} of {rows.height} tickets came without a metric "
            f"set, so their first reply, solve time, reopens and reassignments are unknown"
        ]
