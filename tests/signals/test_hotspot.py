"""``hotspot``: impact of each ticket attribute value on satisfaction, by hand."""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl
import pytest

from cxpipe.signals.hotspot import hotspot
from tests.metrics.fixtures import responses, tickets, ts
from tests.signals import compute, context, one, values

JAN = date(2026, 1, 1)
FEB = date(2026, 2, 1)


def ticket(i: int, group: str | None, channel: str | None, client: str = "A") -> dict[str, Any]:
    return {
        "ticket_id": f"t{i}",
        "client_id": client,
        "opened_at": ts("2026-01-02 09:00"),
        "assignment_group": group,
        "channel": channel,
    }


def answer(i: int, csat: int | None, nps: int | None, **more: Any) -> dict[str, Any]:
    return {
        "ticket_id": f"t{i}",
        "submitted_at": ts("2026-01-20 10:00"),
        "csat": csat,
        "nps_score": nps,
        **more,
    }


TICKETS = tickets(
    ticket(0, "Network", "phone"),
    ticket(1, "Network", None),
    ticket(2, "Desk", "phone"),
    ticket(3, "Desk", "email"),
    ticket(4, "Desk", "email"),
    ticket(5, "Desk", "portal", client="B"),
    # the same ticket id in two source systems for client A: ambiguous, left out
    {**ticket(6, "Network", "chat"), "source_system": "one"},
    {**ticket(6, "Network", "chat"), "source_system": "two"},
)
RESPONSES = responses(
    answer(0, 1, 0, timeliness=1),  # csat 0, nps −100, rating 0
    answer(1, 2, 10),  # csat 0, nps +100
    answer(2, 5, 8, timeliness=5),  # csat 100, nps 0, rating 100
    answer(3, 4, 9),  # csat 100, nps +100
    answer(4, 3, 6),  # csat 0, nps −100
    {**answer(5, 5, None), "client_id": "B", "submitted_at": ts("2026-02-03 10:00")},
    answer(6, 1, 0),  # ambiguous ticket: not counted
    {**answer(0, 1, 0), "respondent_side": "it"},  # IT's own view: not counted
    {**answer(0, 1, 0), "ticket_id": None},  # no ticket: not counted
    {**answer(9, 1, 0)},  # a ticket not in the data: not counted
    {**answer(5, 1, 0)},  # t5 belongs to client B, this response to A: not counted
)


@pytest.fixture(scope="module")
def out() -> pl.DataFrame:
    frames = {"tickets": TICKETS, "survey_responses": RESPONSES}
    return compute(hotspot, context(values([]), frames=frames))


def test_january_csat_by_assignment_group(out: pl.DataFrame) -> None:
    # overall: 2 of 5 satisfied = 40; Network 0 of 2 → 2 × (0 − 40) = −80;
    # Desk 2 of 3 → 3 × (66.7 − 40) = +80
    net = one(out, metric="csat_pct", period_start=JAN, segment="assignment_group=Network")
    assert (net["value"], net["reference"], net["change"]) == (0, 40, -40)
    assert net["score"] == pytest.approx(-80)
    assert (net["direction"], net["flagged"]) == ("negative", True)
    assert net["detail"] == "rank 1 of 2; 2 responses"
    assert net["client_id"] is None
    assert (net["period_grain"], net["period_end"]) == ("month", date(2026, 1, 31))
    desk = one(out, metric="csat_pct", period_start=JAN, segment="assignment_group=Desk")
    assert desk["value"] == pytest.approx(200 / 3)
    assert desk["score"] == pytest.approx(80)
    assert (desk["direction"], desk["flagged"]) == ("positive", False)


def test_unset_attribute_values_are_a_value_of_their_own(out: pl.DataFrame) -> None:
    jan = out.filter(
        (pl.col("metric") == "csat_pct")
        & (pl.col("period_start") == JAN)
        & pl.col("segment").str.starts_with("channel=")
    )
    impacts = dict(zip(jan["segment"], jan["score"], strict=True))
    # phone [0, 100] → 2 × 10; unset [0] → 1 × −40; email [100, 0] → 2 × 10
    assert impacts == pytest.approx(
        {"channel=phone": 20.0, "channel=(unset)": -40.0, "channel=email": 20.0}
    )
    assert jan.filter("flagged")["segment"].to_list() == ["channel=(unset)"]


def test_nps_and_rating_scores_per_response(out: pl.DataFrame) -> None:
    # nps: Network [−100, +100] → 0, Desk [0, +100, −100] → 0, overall 0: no hotspot
    nps = out.filter((pl.col("metric") == "nps") & (pl.col("period_start") == JAN))
    group = nps.filter(pl.col("segment").str.starts_with("assignment_group="))
    assert group["score"].to_list() == [0.0, 0.0]
    assert set(group["direction"]) == {"neutral"}
    assert not group["flagged"].any()
    # rating: only t0 (timeliness 1 → 0) and t2 (5 → 100) have one; overall 50
    net = one(
        out,
        metric="client_experience_rating",
        period_start=JAN,
        segment="assignment_group=Network",
    )
    assert (net["value"], net["reference"], net["score"]) == (0, 50, -50)


def test_impacts_of_an_attribute_sum_to_zero(out: pl.DataFrame) -> None:
    totals = (
        out.with_columns(attribute=pl.col("segment").str.split("=").list.first())
        .group_by("metric", "period_start", "client_id", "attribute")
        .agg(pl.col("score").sum())
    )
    assert totals["score"].abs().max() == pytest.approx(0.0, abs=1e-9)
    assert set(totals["attribute"]) == {
        "assignment_group",
        "category",
        "channel",
        "priority",
        "request_type",
    }


def test_whole_window_rows_for_all_clients_and_each_client(out: pl.DataFrame) -> None:
    # all clients, both months: Network [0, 0], Desk [100, 100, 0, 100] → overall 50
    net = one(
        out,
        metric="csat_pct",
        period_start=None,
        client_id=None,
        segment="assignment_group=Network",
    )
    assert (net["reference"], net["score"]) == (50, -100)
    assert net["period_end"] is None
    # client A alone over the window: the January figures
    a = one(
        out, metric="csat_pct", period_start=None, client_id="A", segment="assignment_group=Desk"
    )
    assert a["score"] == pytest.approx(80)
    b = one(
        out, metric="csat_pct", period_start=None, client_id="B", segment="assignment_group=Desk"
    )
    assert (b["value"], b["score"], b["flagged"]) == (100, 0, False)
    feb = one(out, metric="csat_pct", period_start=FEB, segment="assignment_group=Desk")
    assert feb["detail"] == "rank 1 of 1; 1 responses"
    assert out.filter(pl.col("period_start").is_not_null())["client_id"].null_count() == (
        out.filter(pl.col("period_start").is_not_null()).height
    )


def test_no_linked_responses_give_an_empty_result() -> None:
    frames = {"tickets": TICKETS.clear(), "survey_responses": RESPONSES.clear()}
    assert compute(hotspot, context(values([]), frames=frames)).height == 0
