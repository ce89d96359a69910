"""``zendesk.satisfaction``: Zendesk's CSAT ratings as survey responses.

Endpoints::

    GET /api/v2/satisfaction_ratings?start_time=…&page[size]=100  (links.next while meta.has_more)
    GET /api/v2/tickets/show_many.json?ids=1,2,…                   (the rated tickets)

A rating record exists from the moment a survey is offered: its ``score`` is ``offered``
(or ``unoffered``) until the customer answers ``good`` or ``bad``. Only answers are
responses, so offered and unoffered ratings are skipped and counted in a warning.

Zendesk's legacy CSAT is binary. The example config maps ``good`` → 5 and ``bad`` → 1 on
the canonical 1–5 ``csat``: ``csat_pct`` (share of 4–5) is then exactly Zendesk's
satisfaction score (good ÷ answered), while ``csat_mean`` only ever lies between 1 and 5 as
that share's affine image (1 + 4 × share) — coarse, not a finer measure.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any, ClassVar

import polars as pl
from pydantic import Field

from cxpipe.sources.base import Extract, InputFile
from cxpipe.sources.http import NextUrlPaginator
from cxpipe_zendesk.client import (
    ZendeskOptions,
    ZendeskSource,
    epoch,
    not_older_than,
    with_columns,
)

RATING_FIELDS: tuple[str, ...] = (
    "id",
    "url",
    "score",
    "comment",
    "reason",
    "ticket_id",
    "requester_id",
    "assignee_id",
    "group_id",
    "created_at",
    "updated_at",
    "ticket.organization_id",
)
"""Fields every extract has (null where the API sent none); ``ticket.organization_id``
is the rated ticket's organization, looked up with ``show_many``."""

ANSWERS = ("good", "bad")
"""Scores that are a customer's answer; ``offered`` and ``unoffered`` are not."""

SHOW_MANY = "/api/v2/tickets/show_many.json"
SHOW_MANY_LIMIT = 100
"""Ids per ``show_many`` request (Zendesk's maximum)."""


class ZendeskSatisfactionOptions(ZendeskOptions):
    """``[sources.options]`` of ``kind = "zendesk.satisfaction"``."""

    page_size: int = Field(100, ge=1, le=100)
    """Ratings per page (``page[size]``); the endpoint allows up to 100."""
    answer_window_days: float = Field(14.0, ge=0)
    """Zendesk's ``start_time`` selects ratings by creation, which is when the survey was
    offered; an answer comes later. An incremental read therefore asks from this many days
    before the watermark and keeps the ratings updated since the watermark, so an answer
    given up to that long after the offer is not missed."""
    ticket_organizations: bool = True
    """Look up each rated ticket's organization (``show_many``, 100 tickets a request) into
    ``ticket.organization_id``, the example config's ``client_id``."""


class ZendeskSatisfaction(ZendeskSource):
    """Zendesk satisfaction ratings that are answers (``good``/``bad``), incremental by
    ``updated_at``."""

    kind = "zendesk.satisfaction"
    Options = ZendeskSatisfactionOptions
    options: ZendeskSatisfactionOptions
    path: ClassVar[str] = "/api/v2/satisfaction_ratings"
    records_key: ClassVar[str] = "satisfaction_ratings"
    paginator = NextUrlPaginator("links.next", has_more_path="meta.has_more")

    def params(self, since: datetime | None) -> dict[str, Any]:
        params: dict[str, Any] = {"page[size]": self.options.page_size}
        start = self.first_time(since)
        if since is not None and start is not None:
            start -= timedelta(days=self.options.answer_window_days)
        if start is not None:
            params["start_time"] = max(epoch(start), 0)
        return params

    def extract(self, since: datetime | None = None) -> Extract:
        try:
            fetched = self.fetch(self.path, self.params(since), self.records_key)
            ratings = with_columns(fetched.frame, RATING_FIELDS).collect()
            skipped = Counter(
                "no score" if score is None else score
                for score in ratings["score"]
                if score not in ANSWERS
            )
            answers = ratings.filter(pl.col("score").is_in(ANSWERS))
            answers = not_older_than(
                answers.lazy(), "updated_at", self.first_time(since) if since else None
            ).collect()
            inputs = list(fetched.inputs)
            warnings = list(fetched.warnings)
            if skipped:
                counts = ", ".join(f"{n} {score}" for score, n in sorted(skipped.items()))
                warnings.append(
                    f"source {self.name!r}: skipped {sum(skipped.values())} satisfaction "
                    f"ratings that are not answers ({counts}): a survey offered but not "
                    f"answered is not a response"
                )
            if self.options.ticket_organizations and answers.height:
                answers, missing = self._with_organizations(answers)
                inputs.append(InputFile(f"{self.options.base_url}{SHOW_MANY}"))
                if missing:
                    warnings.append(
                        f"source {self.name!r}: {missing} rated tickets were not found "
                        f"(deleted?), so their ratings have no ticket.organization_id"
                    )
        finally:
            self.close()
        return Extract(frame=answers.lazy(), inputs=inputs, warnings=warnings)

    def _with_organizations(self, answers: pl.DataFrame) -> tuple[pl.DataFrame, int]:
        """``answers`` with ``ticket.organization_id`` filled from ``show_many``, and how
        many rated tickets were not found."""
        ids = [i for i in answers["ticket_id"].unique(maintain_order=True) if i is not None]
        found: dict[str, str | None] = {}
        for start in range(0, len(ids), SHOW_MANY_LIMIT):
            chunk = ids[start : start + SHOW_MANY_LIMIT]
            body = self.request(SHOW_MANY, {"ids": ",".join(chunk)})
            for ticket in self.page_records(body, "tickets", f"GET {SHOW_MANY}"):
                organization = ticket.get("organization_id")
                found[str(ticket.get("id"))] = None if organization is None else str(organization)
        lookup = pl.DataFrame(
            {"ticket_id": list(found), "_organization": list(found.values())},
            schema={"ticket_id": pl.String, "_organization": pl.String},
        )
        joined = (
            answers.join(lookup, on="ticket_id", how="left", maintain_order="left")
            .with_columns(pl.col("_organization").alias("ticket.organization_id"))
            .drop("_organization")
        )
        return joined, len([i for i in ids if i not in found])
