"""cxpipe-template: one source and one metric, the smallest complete cxpipe plugin.

The source reads a helpdesk API that pages with a cursor; here the API is stood in for by
recorded responses in a JSON file (``tests/fixtures/tickets.json``), so it runs
anywhere. Replace :meth:`TemplateTickets.fetch_page` with the real HTTP call.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
from cxpipe import MetricContext, Polarity, hookimpl, metric
from cxpipe.errors import SourceError
from cxpipe.metrics.aggregate import ratio
from cxpipe.registry import Registry
from cxpipe.sources.base import Extract, InputFile, Source, SourceOptions
from pydantic import Field

FIELDS = (
    "id",
    "organization",
    "type",
    "priority",
    "status",
    "created_at",
    "first_reply_at",
    "solved_at",
    "updated_at",
    "reopens",
    "group",
    "via",
)
"""The fields of a ticket record the source keeps, read as text: the config's
``[sources.columns]`` maps them onto the canonical ``tickets`` and conform parses them."""


class TemplateOptions(SourceOptions):
    """The ``[sources.options]`` table of a ``kind = "template.tickets"`` source."""

    path: str
    """The recorded API responses; a real connector takes a base URL and a token here."""
    max_pages: int = Field(default=10_000, gt=0)
    """Fail rather than loop for ever if the API keeps returning a next cursor."""


class TemplateTickets(Source):
    """Tickets from the template helpdesk API (cursor pagination, incremental by
    ``updated_at``)."""

    kind = "template.tickets"
    Options = TemplateOptions
    options: TemplateOptions

    def fetch_page(self, cursor: str, since: datetime | None) -> dict[str, Any]:
        """One API response: ``{"tickets": [...], "next_cursor": str | None}``.

        Stands in for ``GET /tickets?cursor=...&updated_since=...``: the API filters by
        ``since``, so an incremental run reads only what changed.
        """
        page: dict[str, Any] = json.loads(Path(self.resolve(self.options.path)).read_text())[
            cursor or "first"
        ]
        if since is not None:
            page["tickets"] = [
                t for t in page["tickets"] if datetime.fromisoformat(t["updated_at"]) >= since
            ]
        return page

    def pages(self, since: datetime | None) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        """``(cursor, records)`` for every page, following ``next_cursor`` to the end."""
        cursor = ""
        for _ in range(self.options.max_pages):
            page = self.fetch_page(cursor, since)
            yield cursor or "first", page["tickets"]
            cursor = page.get("next_cursor") or ""
            if not cursor:
                return
        raise SourceError(f"source {self.name!r}: more than {self.options.max_pages} pages")

    def extract(self, since: datetime | None = None) -> Extract:
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        rows = [
            {f: None if record.get(f) is None else str(record[f]) for f in FIELDS}
            for _cursor, records in self.pages(since)
            for record in records
        ]
        frame = pl.LazyFrame(rows, schema=dict.fromkeys(FIELDS, pl.String))
        # Lineage for quarantine: where the rows came from (a URL, for a real API) and their
        # 1-based position in that page stream.
        return Extract(
            frame=frame.with_row_index("_cx_row", offset=1).with_columns(
                _cx_file=pl.lit(self.options.path, dtype=pl.String),
                _cx_row=pl.col("_cx_row").cast(pl.Int64),
            ),
            inputs=[InputFile(self.resolve(self.options.path))],
        )


@metric(
    name="template.portal_share_pct",
    title="Tickets raised in the self-service portal",
    description="Share of the tickets opened in the period that came in through the portal.",
    unit="%",
    polarity=Polarity.HIGHER_IS_BETTER,
    inputs=("tickets",),
)
def portal_share(ctx: MetricContext, tickets: pl.LazyFrame) -> pl.LazyFrame:
    return ratio(
        tickets.filter(pl.col("channel").is_not_null()),
        metric="template.portal_share_pct",
        at="opened_at",
        grain=ctx.grain,
        hit=pl.col("channel") == "portal",
    )


@hookimpl
def cxpipe_register_sources(registry: Registry) -> None:
    registry.add_source(TemplateTickets)


@hookimpl
def cxpipe_register_metrics(registry: Registry) -> None:
    registry.add_metric(portal_share)
