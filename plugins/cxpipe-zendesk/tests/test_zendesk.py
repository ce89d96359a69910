"""The Zendesk sources against a local server speaking Zendesk's documented protocol.

No mock of httpx: :class:`FakeZendesk` answers on localhost with payloads shaped like the
API reference's examples — the cursor-based incremental ticket export with its
``metric_set`` sideload, satisfaction ratings with cursor pagination, ``show_many`` — and
queued faults (429 with ``Retry-After``, 500, 401, malformed pages).
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import polars as pl
import pytest
from cxpipe_zendesk import (
    ZendeskSatisfaction,
    ZendeskTickets,
)
from cxpipe_zendesk.testing import (
    API_TOKEN,
    ENV,
    OAUTH_TOKEN,
    RATINGS_PATH,
    SHOW_MANY_PATH,
    TICKETS_PATH,
    FakeZendesk,
    load_fixture,
)
from pytest_httpserver import HTTPServer
from zendesk_helpers import FAST, MAX_ATTEMPTS, MakeConfig, example_table

from cxpipe.config import SourceConfig
from cxpipe.conform import conform
from cxpipe.errors import ConfigError, SourceError
from cxpipe.schemas import SURVEY_RESPONSES, TICKETS
from cxpipe.testing import assert_plugin_loads, get_source_test_class

TICKET_COUNT = len(load_fixture("tickets"))
ANSWERED = [r for r in load_fixture("satisfaction_ratings") if r["score"] in ("good", "bad")]


def tickets_of(config: SourceConfig, since: datetime | None = None) -> pl.DataFrame:
    return ZendeskTickets(config).extract(since).frame.collect()


def by_id(frame: pl.DataFrame, ticket_id: int) -> dict[str, Any]:
    return frame.filter(pl.col("id") == str(ticket_id)).row(0, named=True)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


# --------------------------------------------------------------------------- paging


def test_incremental_export_pages_by_cursor_to_end_of_stream(
    zendesk: FakeZendesk, make_config: MakeConfig
) -> None:
    frame = tickets_of(make_config("zendesk.tickets", page_size=5))

    assert frame.height == TICKET_COUNT
    assert frame["id"].is_unique().all()
    queries = zendesk.queries(TICKETS_PATH)
    assert len(queries) == 5  # 24 tickets, 5 a page: the fifth says end_of_stream
    first, *rest = queries
    start = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp())  # the example's start_date
    assert first == {
        "start_time": str(start),
        "include": "metric_sets",
        "exclude_deleted": "true",
        "per_page": "5",
    }
    for query in rest:  # the cursor replaces start_time; the sideload is asked for again
        assert "start_time" not in query
        assert query["cursor"]
        assert query["include"] == "metric_sets"
        assert query["per_page"] == "5"
    assert len({q["cursor"] for q in rest}) == 4
    pages = frame["_cx_file"].unique(maintain_order=True).to_list()
    assert pages == [f"GET {TICKETS_PATH} page {n}" for n in range(1, 6)]
    assert frame.group_by("_cx_file").agg(pl.col("_cx_row").max())["_cx_row"].max() == 5


def test_default_page_size_is_the_exports_maximum(
    zendesk: FakeZendesk, make_config: MakeConfig
) -> None:
    tickets_of(make_config("zendesk.tickets"))
    (query,) = zendesk.queries(TICKETS_PATH)
    assert query["per_page"] == "1000"


def test_satisfaction_pages_follow_links_next_while_has_more(
    zendesk: FakeZendesk, make_config: MakeConfig
) -> None:
    extract = ZendeskSatisfaction(make_config("zendesk.satisfaction", page_size=5)).extract()
    frame = extract.frame.collect()

    queries = zendesk.queries(RATINGS_PATH)
    assert len(queries) == 4  # 16 ratings, 5 a page
    assert all(q["page[size]"] == "5" for q in queries)
    assert [("page[after]" in q) for q in queries] == [False, True, True, True]
    assert sorted(frame["id"].to_list()) == sorted(str(r["id"]) for r in ANSWERED)
    assert set(frame["score"]) == {"good", "bad"}
    (warning,) = extract.warnings
    assert "skipped 3 satisfaction ratings that are not answers (2 offered, 1 unoffered)" in (
        warning
    )
    # the rated tickets' organizations, in one show_many request
    (lookup,) = zendesk.queries(SHOW_MANY_PATH)
    assert len(lookup["ids"].split(",")) == len({r["ticket_id"] for r in ANSWERED})
    first = frame.filter(pl.col("ticket_id") == "35436").row(0, named=True)
    assert first["ticket.organization_id"] == "360001"
    assert [i.path.rsplit("/api", 1)[1] for i in extract.inputs] == [
        "/v2/satisfaction_ratings",
        "/v2/tickets/show_many.json",
    ]


# --------------------------------------------------------------------------- incremental


def test_second_run_asks_from_the_watermark_and_gets_only_what_changed(
    zendesk: FakeZendesk, make_config: MakeConfig
) -> None:
    config = make_config("zendesk.tickets")
    first = conform(ZendeskTickets(config).extract().frame, config, TICKETS).collect()
    watermark = first["updated_at"].max()
    assert isinstance(watermark, datetime)
    at_watermark = set(first.filter(pl.col("updated_at") == watermark)["ticket_id"])

    zendesk.update_ticket(
        35440,
        at=datetime(2024, 3, 20, 9, 30, tzinfo=UTC),
        status="solved",
        metric_set={"solved_at": "2024-03-20T09:30:00Z", "reopens": 0},
    )
    second = conform(ZendeskTickets(config).extract(watermark).frame, config, TICKETS).collect()

    assert zendesk.queries(TICKETS_PATH)[-1]["start_time"] == str(int(watermark.timestamp()))
    # the changed ticket, and the one(s) at the watermark itself (start_time is inclusive;
    # the snapshot merge keeps one copy of each)
    assert set(second["ticket_id"]) == {"35440"} | at_watermark
    changed = second.filter(pl.col("ticket_id") == "35440").row(0, named=True)
    assert changed["status"] == "solved"
    assert changed["resolved_at"] == datetime(2024, 3, 20, 9, 30, tzinfo=UTC)
    assert (second["updated_at"] >= watermark).all()


def test_rows_the_export_repeats_from_before_the_watermark_are_dropped(
    zendesk: FakeZendesk, make_config: MakeConfig
) -> None:
    # Zendesk selects by generated_timestamp, which system updates move without touching
    # updated_at: such a ticket is not a change and must not come back.
    since = datetime(2024, 3, 1, tzinfo=UTC)
    ticket = next(t for t in zendesk.tickets if t["id"] == 35436)
    ticket["generated_timestamp"] = int(datetime(2024, 3, 5, tzinfo=UTC).timestamp())
    frame = tickets_of(make_config("zendesk.tickets"), since)
    assert "35436" not in frame["id"].to_list()
    assert all(at(u) >= since for u in frame["updated_at"])
    assert frame.height > 0


def test_start_time_is_never_less_than_a_minute_old(
    zendesk: FakeZendesk, make_config: MakeConfig
) -> None:
    tickets_of(make_config("zendesk.tickets"), datetime.now(UTC))
    start_time = int(zendesk.queries(TICKETS_PATH)[0]["start_time"])
    assert start_time <= time.time() - 60


def test_satisfaction_reads_back_an_answer_window_and_keeps_what_changed(
    zendesk: FakeZendesk, make_config: MakeConfig
) -> None:
    since = datetime(2024, 2, 20, tzinfo=UTC)
    frame = (
        ZendeskSatisfaction(make_config("zendesk.satisfaction", answer_window_days=10))
        .extract(since)
        .frame.collect()
    )
    (query,) = zendesk.queries(RATINGS_PATH)
    assert query["start_time"] == str(int(datetime(2024, 2, 10, tzinfo=UTC).timestamp()))
    assert frame.height > 0
    assert all(at(u) >= since for u in frame["updated_at"])
    expected = {str(r["id"]) for r in ANSWERED if at(r["updated_at"]) >= since}
    assert set(frame["id"]) == expected


# --------------------------------------------------------------------------- retries


def test_429_waits_what_retry_after_says_then_succeeds(
    zendesk: FakeZendesk, make_config: MakeConfig
) -> None:
    zendesk.fail_next(
        TICKETS_PATH,
        429,
        {"error": "APIRateLimitExceeded", "description": "Rate limit for incremental exports"},
        headers={"Retry-After": "1"},
        after=1,  # the second page
    )
    started = time.monotonic()
    extract = ZendeskTickets(make_config("zendesk.tickets", page_size=10)).extract()
    waited = time.monotonic() - started

    assert extract.frame.collect().height == TICKET_COUNT
    assert waited >= 1.0
    assert extract.warnings == ["source 'zendesk': requests were retried (HTTP 429 ×1)"]
    assert len(zendesk.queries(TICKETS_PATH)) == 4  # 3 pages + the refused one


def test_500_is_retried_then_succeeds(zendesk: FakeZendesk, make_config: MakeConfig) -> None:
    zendesk.fail_next(TICKETS_PATH, 500, {"error": "InternalError"})
    extract = ZendeskTickets(make_config("zendesk.tickets")).extract()
    assert extract.frame.collect().height == TICKET_COUNT
    assert extract.warnings == ["source 'zendesk': requests were retried (HTTP 500 ×1)"]


def test_persistent_503_fails_after_the_attempts(
    zendesk: FakeZendesk, make_config: MakeConfig
) -> None:
    for _ in range(MAX_ATTEMPTS):
        zendesk.fail_next(RATINGS_PATH, 503, "Service Unavailable", content_type="text/plain")
    with pytest.raises(SourceError, match=r"HTTP 503 Service Unavailable, after 3 attempts"):
        ZendeskSatisfaction(make_config("zendesk.satisfaction")).extract()


# --------------------------------------------------------------------------- errors


@pytest.fixture
def captured(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.DEBUG):
        yield caplog


def test_401_names_the_variables_and_never_the_token(
    zendesk: FakeZendesk,
    make_config: MakeConfig,
    monkeypatch: pytest.MonkeyPatch,
    captured: pytest.LogCaptureFixture,
) -> None:
    wrong = "zd-WRONG-planted-Qx81"
    monkeypatch.setenv("ZENDESK_API_TOKEN", wrong)
    with pytest.raises(SourceError) as caught:
        ZendeskTickets(make_config("zendesk.tickets")).extract()
    message = str(caught.value)
    assert message == (
        f"source 'zendesk' (zendesk.tickets): page 1 of GET {TICKETS_PATH}: HTTP 401 "
        f"Unauthorized (Couldn't authenticate you): check the credentials in ZENDESK_EMAIL "
        f"and ZENDESK_API_TOKEN"
    )
    encoded = base64.b64encode(f"{ENV['ZENDESK_EMAIL']}/token:{wrong}".encode()).decode()
    for text in (message, repr(caught.value), captured.text):
        assert wrong not in text
        assert encoded not in text
    # and the token did reach the server, as HTTP Basic {email}/token:{token}
    (request, _response) = zendesk.server.log[-1]
    assert request.headers["Authorization"] == f"Basic {encoded}"


def test_oauth_access_token_is_sent_as_bearer(
    zendesk: FakeZendesk, make_config: MakeConfig
) -> None:
    config = make_config(
        "zendesk.tickets", email_env=..., api_token_env=..., token_env="ZENDESK_OAUTH"
    )
    assert tickets_of(config).height == TICKET_COUNT
    (request, _response) = zendesk.server.log[-1]
    assert request.headers["Authorization"] == f"Bearer {OAUTH_TOKEN}"


def test_malformed_page_names_the_page(zendesk: FakeZendesk, make_config: MakeConfig) -> None:
    zendesk.fail_next(
        TICKETS_PATH,
        200,
        "<html><body>Zendesk is down for maintenance</body></html>",
        content_type="text/html",
        after=1,
    )
    with pytest.raises(SourceError) as caught:
        ZendeskTickets(make_config("zendesk.tickets", page_size=10)).extract()
    message = str(caught.value)
    assert f"page 2 of GET {TICKETS_PATH}: the response is not valid JSON" in message
    assert "text/html" in message
    assert API_TOKEN not in message


def test_page_without_end_of_stream_is_an_error_not_an_end(
    zendesk: FakeZendesk, make_config: MakeConfig
) -> None:
    zendesk.fail_next(TICKETS_PATH, 200, {"tickets": [], "after_cursor": "x"})
    with pytest.raises(SourceError, match=r"page 1 of .*expected key 'end_of_stream'"):
        ZendeskTickets(make_config("zendesk.tickets")).extract()


def test_page_without_tickets_names_the_keys_it_has(
    zendesk: FakeZendesk, make_config: MakeConfig
) -> None:
    zendesk.fail_next(TICKETS_PATH, 200, {"error": "RecordNotFound", "end_of_stream": True})
    with pytest.raises(
        SourceError, match=r"expected a list of records under 'tickets'; the response has keys"
    ):
        ZendeskTickets(make_config("zendesk.tickets")).extract()


def test_unset_variable_is_a_config_error_naming_it(
    zendesk: FakeZendesk, make_config: MakeConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ZENDESK_API_TOKEN")
    with pytest.raises(ConfigError, match=r"options.api_token_env names .* ZENDESK_API_TOKEN"):
        ZendeskTickets(make_config("zendesk.tickets")).extract()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"email_env": ..., "api_token_env": ...}, "this API needs credentials"),
        ({"api_token_env": ...}, "email_env and api_token_env go together"),
        ({"token_env": "ZENDESK_OAUTH"}, "set only one of email_env with api_token_env, token_env"),
        ({"api_token_env": "abc123-secret-value"}, "must name an environment variable"),
        ({"page_size": 5000}, "page_size"),
    ],
)
def test_bad_options_are_config_errors(
    make_config: MakeConfig, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        ZendeskTickets(make_config("zendesk.tickets", **options))
    assert "abc123-secret-value" not in str(caught.value)


# --------------------------------------------------------------------------- derived columns


def test_derived_columns_from_the_metric_set(zendesk: FakeZendesk, make_config: MakeConfig) -> None:
    frame = tickets_of(make_config("zendesk.tickets"))
    fixtures = {t["id"]: t for t in load_fixture("tickets")}

    closed = by_id(frame, 35436)  # closed, email, 47 calendar minutes to the first reply
    assert fixtures[35436]["metric_set"]["reply_time_in_minutes"]["calendar"] == 47
    assert closed["created_at"] == "2024-01-04T09:01:00Z"
    assert closed["first_reply_at"] == "2024-01-04T09:48:00Z"
    assert closed["closed_at"] == fixtures[35436]["metric_set"]["status_updated_at"]
    assert closed["reassignments"] == "0"  # group_stations 1

    messaging = by_id(frame, 35439)  # messaging: reply_time_in_seconds is the finer figure
    seconds = fixtures[35439]["metric_set"]["reply_time_in_seconds"]["calendar"]
    assert seconds % 60 != 0
    reply = at(messaging["first_reply_at"]) - at(messaging["created_at"])
    assert reply.total_seconds() == seconds

    assert by_id(frame, 35443)["first_reply_at"] is None  # new, no reply yet
    assert by_id(frame, 35442)["reassignments"] == "2"  # group_stations 3
    assert by_id(frame, 35438)["closed_at"] is None  # solved, not closed


def test_reassignments_from_assignee_stations(
    zendesk: FakeZendesk, make_config: MakeConfig
) -> None:
    frame = tickets_of(make_config("zendesk.tickets", reassignments_from="assignee"))
    fixture = next(t for t in load_fixture("tickets") if t["id"] == 35436)
    assert fixture["metric_set"]["assignee_stations"] == 2
    assert by_id(frame, 35436)["reassignments"] == "1"


def test_top_level_metric_sets_sideload_is_read_too(
    zendesk: FakeZendesk, make_config: MakeConfig
) -> None:
    nested = tickets_of(make_config("zendesk.tickets"))
    zendesk.metric_sets_top_level = True
    top_level = tickets_of(make_config("zendesk.tickets"))
    columns = ["id", "first_reply_at", "reassignments", "closed_at", "metric_set.reopens"]
    assert top_level.select(columns).equals(nested.select(columns))


def test_without_metric_sets_the_columns_stay_empty(
    zendesk: FakeZendesk, make_config: MakeConfig
) -> None:
    extract = ZendeskTickets(make_config("zendesk.tickets", include_metric_sets=False)).extract()
    frame = extract.frame.collect()
    assert "include" not in zendesk.queries(TICKETS_PATH)[0]
    assert frame["metric_set.reopens"].null_count() == frame.height
    assert frame["first_reply_at"].null_count() == frame.height
    assert extract.warnings == []


def test_tickets_missing_their_metric_set_are_reported(
    zendesk: FakeZendesk, make_config: MakeConfig
) -> None:
    for ticket in zendesk.tickets[:2]:
        ticket["metric_set"] = None
    extract = ZendeskTickets(make_config("zendesk.tickets")).extract()
    assert extract.warnings == [
        f"source 'zendesk': 2 of {TICKET_COUNT} tickets came without a metric set, so their "
        f"first reply, solve time, reopens and reassignments are unknown"
    ]


def test_priority_if_unset(zendesk: FakeZendesk, make_config: MakeConfig) -> None:
    zendesk.tickets[0]["priority"] = None
    config = make_config("zendesk.tickets")
    plain = conform(ZendeskTickets(config).extract().frame, config, TICKETS).collect()
    assert plain.filter(pl.col("ticket_id") == "35436")["priority"].to_list() == [None]

    config = make_config("zendesk.tickets", priority_if_unset="normal")
    filled = conform(ZendeskTickets(config).extract().frame, config, TICKETS).collect()
    assert filled.filter(pl.col("ticket_id") == "35436")["priority"].to_list() == ["medium"]


def test_empty_incremental_read_still_conforms(
    zendesk: FakeZendesk, make_config: MakeConfig
) -> None:
    config = make_config("zendesk.tickets")
    frame = ZendeskTickets(config).extract(datetime(2025, 1, 1, tzinfo=UTC)).frame
    conformed = conform(frame, config, TICKETS).collect()
    assert conformed.height == 0
    assert dict(conformed.select(TICKETS.columns).schema) == dict(TICKETS.polars_schema)


# --------------------------------------------------------------------------- the plugin


def test_plugin_loads() -> None:
    registered = assert_plugin_loads("zendesk")
    assert {(r.kind, r.name) for r in registered} == {
        ("source", "zendesk.tickets"),
        ("source", "zendesk.satisfaction"),
    }


# --------------------------------------------------------------------------- contract kit


@pytest.fixture(scope="class")
def contract_zendesk() -> Iterator[FakeZendesk]:
    """A local Zendesk for a whole contract class (the kit reads each extract once)."""
    server = HTTPServer()
    server.start()
    with pytest.MonkeyPatch.context() as patch:
        for name, value in ENV.items():
            patch.setenv(name, value)
        yield FakeZendesk(server)
    server.clear()
    server.stop()


def contract_table(kind: str, base_url: str) -> dict[str, Any]:
    table = example_table(kind)
    table["options"].update(base_url=base_url, page_size=7, **FAST)
    return {k: v for k, v in table.items() if k not in ("name", "kind")}


TestZendeskTicketsContract = get_source_test_class(
    ZendeskTickets,
    config=lambda contract_zendesk: contract_table("zendesk.tickets", contract_zendesk.base_url),
    since=datetime(2024, 2, 15, tzinfo=UTC),
)
TestZendeskSatisfactionContract = get_source_test_class(
    ZendeskSatisfaction,
    config=lambda contract_zendesk: contract_table(
        "zendesk.satisfaction", contract_zendesk.base_url
    ),
    since=datetime(2024, 2, 15, tzinfo=UTC),
)


def test_example_config_conforms_every_source_without_row_errors(
    zendesk: FakeZendesk, make_config: MakeConfig
) -> None:
    for kind, cls, entity in (
        ("zendesk.tickets", ZendeskTickets, TICKETS),
        ("zendesk.satisfaction", ZendeskSatisfaction, SURVEY_RESPONSES),
    ):
        config = make_config(kind)
        conformed = conform(cls(config).extract().frame, config, entity).collect()
        assert conformed.height > 0
        assert conformed.filter(pl.col("_cx_errors").list.len() > 0).height == 0, kind
        for name, dtype in entity.polars_schema.items():
            assert conformed.schema[name] == dtype, (kind, name)
