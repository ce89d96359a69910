"""The call-back list: every detractor response, when it is due a follow-up, and whether it
got one in time.

A detractor is a client response with NPS ≤ 6 or CSAT ≤ 2 (METRICS.md,
``detractor_followup_rate_pct``). It is due a follow-up ``followup_window_business_days``
after it was submitted, measured on the run's clock (business days when ``[business_time]``
is configured, else elapsed 24-hour days). Statuses need the ``followups`` entity; without
it the list still says who to call and by when.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import polars as pl
import pyarrow as pa

from cxpipe.analysis import AnalysisContext, table
from cxpipe.schemas import UTC_TIMESTAMP

STATUSES: Final = ("on_time", "late", "overdue", "open")
"""``on_time``: first follow-up at or before ``due_by``. ``late``: first follow-up after it.
``overdue``: no follow-up and ``due_by`` before ``status_as_of``. ``open``: no follow-up and
still inside the window at ``status_as_of``."""

DEFAULT_WINDOW_DAYS: Final = 2.0

_DETAIL_COLUMNS: Final = (
    "response_id",
    "client_id",
    "respondent_id",
    "respondent_level",
    "survey_kind",
    "ticket_id",
    "project_id",
    "submitted_at",
    "nps_score",
    "csat",
    "comment",
)

_WATERMARKS: Final = {
    "survey_responses": "submitted_at",
    "followups": "followed_up_at",
    "tickets": "updated_at",
    "survey_invitations": "sent_at",
}
"""The columns whose latest value says how far the run's data reaches (``status_as_of``)."""


def is_detractor() -> pl.Expr:
    """NPS ≤ 6 or CSAT ≤ 2; a response with neither score is not a detractor."""
    return (pl.col("nps_score") <= 6).fill_null(False) | (pl.col("csat") <= 2).fill_null(False)


def detractors(survey_responses: pl.LazyFrame) -> pl.LazyFrame:
    """Client detractor responses (IT's self-assessments are never called back)."""
    return survey_responses.filter((pl.col("respondent_side") == "client") & is_detractor())


def data_as_of(frames: Mapping[str, pl.LazyFrame]) -> pl.LazyFrame:
    """One row, ``status_as_of``: the latest instant the run's data holds.

    Statuses are judged as of the data, not the wall clock, so re-running an old extract
    gives the same list, and a deadline that falls after the extract was taken stays open.
    """
    stamps = [
        frames[name].select(pl.col(column).max().cast(pl.Datetime("us", "UTC")).alias("_cx_t"))
        for name, column in _WATERMARKS.items()
        if name in frames
    ]
    return pl.concat(stamps, how="vertical").select(pl.col("_cx_t").max().alias("status_as_of"))


def first_followups(followups: pl.LazyFrame) -> pl.LazyFrame:
    """Per response: first and last follow-up, how many, and the latest recorded outcome."""
    return followups.group_by("response_id").agg(
        followed_up_at=pl.col("followed_up_at").min(),
        last_followed_up_at=pl.col("followed_up_at").max(),
        followup_count=pl.len().cast(pl.Int32),
        outcome=pl.col("outcome").sort_by("followed_up_at").drop_nulls().last(),
    )


def followup_status() -> pl.Expr:
    """The status of a row with ``due_by``, ``followed_up_at`` and ``status_as_of``."""
    followed = pl.col("followed_up_at")
    return (
        pl.when(followed.is_not_null() & (followed <= pl.col("due_by")))
        .then(pl.lit("on_time"))
        .when(followed.is_not_null())
        .then(pl.lit("late"))
        .when(pl.col("due_by") < pl.col("status_as_of"))
        .then(pl.lit("overdue"))
        .otherwise(pl.lit("open"))
    )


DETRACTOR_FOLLOWUPS_SCHEMA: Final = pa.schema(
    [
        pa.field("response_id", pa.string(), nullable=False),
        pa.field("client_id", pa.string(), nullable=False),
        pa.field("respondent_id", pa.string()),
        pa.field("respondent_level", pa.string()),
        pa.field("survey_kind", pa.string(), nullable=False),
        pa.field("ticket_id", pa.string()),
        pa.field("project_id", pa.string()),
        pa.field("submitted_at", UTC_TIMESTAMP, nullable=False),
        pa.field("nps_score", pa.int8()),
        pa.field("csat", pa.int8()),
        pa.field("comment", pa.string()),
        pa.field("due_by", UTC_TIMESTAMP, nullable=False),
        pa.field("followed_up_at", UTC_TIMESTAMP),
        pa.field("last_followed_up_at", UTC_TIMESTAMP),
        pa.field("followup_count", pa.int32()),
        pa.field("outcome", pa.string()),
        pa.field("status", pa.string()),
        pa.field("status_as_of", UTC_TIMESTAMP),
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("computed_at", UTC_TIMESTAMP, nullable=False),
    ]
)

DETRACTOR_FOLLOWUPS_DOCS: Final = {
    "response_id": "The detractor response (NPS ≤ 6 or CSAT ≤ 2, given by a client).",
    "client_id": "The client who responded.",
    "respondent_id": "Who responded, when the survey says (the person to call back).",
    "respondent_level": "The respondent's horizon: company, business_user, technology_org, "
    "technology_team or key_individual.",
    "survey_kind": "transactional, relationship or post_project.",
    "ticket_id": "The ticket the response is about, if any.",
    "project_id": "The project the response is about, if any.",
    "submitted_at": "When the response was submitted (UTC).",
    "nps_score": "Likelihood to recommend, 0–10 (≤ 6 makes a detractor).",
    "csat": "Satisfaction, 1–5 (≤ 2 makes a detractor).",
    "comment": "What the respondent wrote.",
    "due_by": "submitted_at + followup_window_business_days (default 2): business days on a "
    "business calendar, else 24-hour days.",
    "followed_up_at": "The first follow-up (UTC); null when none is recorded or the run has "
    "no followups source.",
    "last_followed_up_at": "The latest follow-up (UTC).",
    "followup_count": "How many follow-ups are recorded; 0 when none, null without a "
    "followups source.",
    "outcome": "The outcome of the latest follow-up that recorded one.",
    "status": "on_time (first follow-up ≤ due_by), late (first follow-up > due_by), overdue "
    "(none and due_by < status_as_of) or open (none, not yet due); null without a "
    "followups source.",
    "status_as_of": "The instant statuses are judged at: the latest submitted_at, "
    "followed_up_at, ticket updated_at or invitation sent_at in the run's data.",
    "run_id": "The run that wrote the row.",
    "computed_at": "When the run computed the table (UTC).",
}


@table(
    name="detractor_followups",
    title="Detractor call-back list",
    description=(
        "One row per client detractor response (NPS ≤ 6 or CSAT ≤ 2) with whom to call, by "
        "when, and — where follow-up records exist — when they were called and the status."
    ),
    schema=DETRACTOR_FOLLOWUPS_SCHEMA,
    inputs=("survey_responses",),
    column_docs=DETRACTOR_FOLLOWUPS_DOCS,
)
def detractor_followups(ctx: AnalysisContext) -> pl.LazyFrame:
    """The call-back list, soonest deadline first."""
    days = float(ctx.metric.setting("followup_window_business_days", DEFAULT_WINDOW_DAYS))
    listed = detractors(ctx.frames["survey_responses"]).select(_DETAIL_COLUMNS)
    listed = ctx.metric.clock.with_deadline_days(listed, "submitted_at", days, "due_by")
    followups = ctx.frames.get("followups")
    if followups is not None:
        listed = (
            listed.join(first_followups(followups), on="response_id", how="left")
            .join(data_as_of(ctx.frames), how="cross")
            .with_columns(
                followup_count=pl.col("followup_count").fill_null(0),
                status=followup_status(),
            )
        )
    return listed.sort("due_by", "response_id")
