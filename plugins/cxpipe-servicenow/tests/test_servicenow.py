"""The ServiceNow sources against a local server implementing the documented Table API.

No mock of httpx: :class:`cxpipe_servicenow.testing.FakeInstance` answers on localhost
with ``sysparm_*`` parameters, ``X-Total-Count``/``Link`` headers and error bodies as
ServiceNow documents them. It is not a live instance (see README, "How it is verified").
"""

from __future__ import annotations

import time
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from cxpipe_servicenow import (
    ServiceNowIncidents,
    ServiceNowRequests,
    ServiceNowSurveyResults,
    TableApiPaginator,
    query_time,
)
from cxpipe_servicenow.testing import (
    COMMENT_QUESTION,
    CSAT_QUESTION,
    SAMPLE_INCIDENTS,
    SAMPLE_REQUESTS,
    SAMPLE_SURVEYS,
    Canned,
    FakeInstance,
    error_body,
)
from servicenow_support import PASSWORD, TOKEN, MakeSource

from cxpipe.config import SourceConfig
from cxpipe.conform import conform
from cxpipe.errors import ConfigError, SourceError
from cxpipe.schemas import SURVEY_RESPONSES, TICKETS
from cxpipe.sources.http import PageRequest

EXAMPLE = Path(__file__).resolve().parents[1] / "example.cxpipe.toml"


def example_source(kind: str) -> dict[str, Any]:
    """The example config's ``[[sources]]`` table of ``kind``."""
    sources = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))["sources"]
    found: dict[str, Any] = next(s for s in sources if s["kind"] == kind)
    return found


def conformed(source: Any, since: datetime | None = None) -> pl.DataFrame:
    """The source's rows, read and mapped with the example config's columns for its kind
    (and the source's own options)."""
    table = example_source(source.kind)
    config = SourceConfig.model_validate({**table, "options": source.config.options})
    entity = SURVEY_RESPONSES if config.entity == "survey_responses" else TICKETS
    return conform(type(source)(config).extract(since).frame, config, entity).collect()


def table_requests(instance: FakeInstance, table: str) -> list[dict[str, str]]:
    return [r for r in instance.requests if r["_path"] == f"/api/now/table/{table}"]


# --------------------------------------------------------------------------- paging


def test_offset_paging_reads_every_page_with_the_documented_parameters(
    make_source: MakeSource, instance: FakeInstance
) -> None:
    rows = make_source(ServiceNowIncidents, catch_up=False).extract().frame.collect()
    assert rows.height == SAMPLE_INCIDENTS
    assert rows["number.value"].n_unique() == SAMPLE_INCIDENTS
    sent = table_requests(instance, "incident")
    assert [(r["sysparm_offset"], r["sysparm_limit"]) for r in sent] == [
        ("0", "5"),
        ("5", "5"),
        ("10", "5"),
    ]
    first = sent[0]
    assert first["sysparm_query"] == "ORDERBYsys_id"
    assert first["sysparm_display_value"] == "all"
    assert first["sysparm_exclude_reference_link"] == "true"
    assert first["sysparm_fields"].split(",")[:3] == ["sys_id", "number", "sys_class_name"]
    assert rows["_cx_file"].unique().sort().to_list() == [
        f"GET /api/now/table/incident page {n}" for n in (1, 2, 3)
    ]


def test_pages_cut_short_by_acls_do_not_end_the_read(
    make_source: MakeSource, instance: FakeInstance
) -> None:
    # sysparm_limit applies before ACLs: hide 3 records of page 1 and all 5 of page 2.
    order = sorted(str(r["sys_id"]) for r in instance.tables["incident"])
    instance.hidden |= {*order[:3], *order[5:10]}
    rows = make_source(ServiceNowIncidents, catch_up=False).extract().frame.collect()
    assert sorted(rows["sys_id.value"]) == [*order[3:5], *order[10:]]
    assert [r["sysparm_offset"] for r in table_requests(instance, "incident")] == ["0", "5", "10"]


def test_the_paginator_ends_on_the_link_header_or_a_short_page_without_a_count() -> None:
    paginator = TableApiPaginator()
    first = paginator.first("/api/now/table/incident", {"sysparm_query": "ORDERBYsys_id"}, 2)
    assert first.params == {
        "sysparm_query": "ORDERBYsys_id",
        "sysparm_limit": 2,
        "sysparm_offset": 0,
    }
    two = [{"a": 1}, {"a": 2}]
    link = {"link": '<https://x/api/now/table/incident?sysparm_offset=2>;rel="next"'}
    following = paginator.next(first, {}, two, 2, headers=link)
    assert isinstance(following, PageRequest)
    assert following.params["sysparm_offset"] == 2
    first_only = {"link": '<https://x/api/now/table/incident?sysparm_offset=0>;rel="first"'}
    assert paginator.next(first, {}, two, 2, headers=first_only) is None
    # neither header: a short page is the last
    assert paginator.next(first, {}, two[:1], 2) is None
    assert paginator.next(first, {}, two, 2) is not None
    count = {"x-total-count": "4"}  # the count wins, even over an empty page
    assert paginator.next(first, {}, [], 2, headers=count) is not None
    assert paginator.next(following, {}, two, 2, headers=count) is None


# --------------------------------------------------------------------------- incremental


def test_incremental_read_sends_since_in_sysparm_query_and_gets_only_changed_rows(
    make_source: MakeSource, instance: FakeInstance
) -> None:
    since = datetime(2024, 2, 12, 9, 0, 30, 999_000, tzinfo=UTC)
    rows = make_source(ServiceNowIncidents, page_size=100).extract(since).frame.collect()
    assert instance.queries("incident") == ["sys_updated_on>=2024-02-12 09:00:30^ORDERBYsys_id"]
    changed = sorted(
        str(r["number"])
        for r in instance.tables["incident"]
        if str(r["sys_updated_on"]) >= "2024-02-12 09:00:30"
    )
    assert 0 < len(changed) < SAMPLE_INCIDENTS
    assert sorted(rows["number.value"]) == changed
    canonical = conformed(make_source(ServiceNowIncidents, sla=True), since)
    assert (canonical["updated_at"] >= since.replace(microsecond=0)).all()


def test_query_option_and_query_timezone_shape_the_encoded_query(
    make_source: MakeSource, instance: FakeInstance
) -> None:
    since = datetime(2024, 7, 1, 10, 0, tzinfo=UTC)
    source = make_source(
        ServiceNowIncidents, query="priority=1", query_timezone="Europe/Paris", page_size=100
    )
    source.extract(since)
    assert instance.queries("incident") == [
        "priority=1^sys_updated_on>=2024-07-01 12:00:00^ORDERBYsys_id"
    ]
    assert query_time(datetime(2024, 1, 5, 8, 30, 59, 999_999)) == "2024-01-05 08:30:59"


def test_records_changed_during_a_multi_page_read_are_caught_up(
    make_source: MakeSource, instance: FakeInstance
) -> None:
    since = datetime(2024, 2, 1, tzinfo=UTC)
    incidents = instance.tables["incident"]
    changed = sorted(str(r["sys_id"]) for r in incidents if str(r["sys_updated_on"]) >= "2024-02")
    before = [r for r in incidents if str(r["sys_updated_on"]) < "2024-02"]
    old = min(before, key=lambda r: str(r["sys_id"]))
    assert str(old["sys_id"]) < changed[4]  # it joins the result set before page 2's offset

    def meanwhile(fake: FakeInstance, page: int) -> None:
        if page == 1:  # after the first page: an old incident changes, a new one is opened
            fake.update("incident", str(old["sys_id"]), state="7")
            fake.add("incident", **{**fake.tables["incident"][-1], "sys_id": "0" * 32})
            fake.update("incident", "0" * 32, number="INC0099999")

    instance.on_page = meanwhile
    rows = make_source(ServiceNowIncidents).extract(since).frame.collect()
    *main, catch_up = instance.queries("incident")
    assert len(main) >= 2
    assert set(main) == {"sys_updated_on>=2024-02-01 00:00:00^ORDERBYsys_id"}
    assert catch_up.startswith("sys_updated_on>=20")
    assert catch_up.endswith("^ORDERBYsys_id")
    assert catch_up > main[0]  # since the read began, not since the watermark
    numbers = rows["number.value"].to_list()
    assert len(numbers) == len(set(numbers))  # records read twice appear once
    assert {str(old["number"]), "INC0099999"} <= set(numbers)
    caught = rows.filter(pl.col("number.value") == str(old["number"]))
    assert caught["state.value"].to_list() == ["7"]
    assert caught["_cx_file"].item().endswith("(catch-up) page 1")


def test_an_empty_incremental_read_still_conforms(make_source: MakeSource) -> None:
    since = datetime(2030, 1, 1, tzinfo=UTC)
    for cls in (ServiceNowIncidents, ServiceNowRequests):
        assert conformed(make_source(cls, sla=cls is ServiceNowIncidents), since).height == 0
    surveys = make_source(
        ServiceNowSurveyResults, questions={"csat": CSAT_QUESTION, "comment": COMMENT_QUESTION}
    )
    assert conformed(surveys, since).height == 0


# --------------------------------------------------------------------------- retries, errors


def test_429_with_retry_after_is_honoured_then_the_read_succeeds(
    make_source: MakeSource, instance: FakeInstance
) -> None:
    instance.canned.append(
        Canned(
            429,
            error_body("Rate limit exceeded", "Rate limit of 10 requests per hour exceeded"),
            {"Retry-After": "1", "X-RateLimit-Limit": "10"},
        )
    )
    started = time.monotonic()
    extract = make_source(ServiceNowIncidents, page_size=100).extract()
    assert time.monotonic() - started >= 1.0
    assert extract.frame.collect().height == SAMPLE_INCIDENTS
    assert extract.warnings == ["source 'sn': requests were retried (HTTP 429 ×1)"]


def test_500_then_success(make_source: MakeSource, instance: FakeInstance) -> None:
    instance.canned.append(Canned(500, error_body("Internal server error")))
    extract = make_source(ServiceNowIncidents, page_size=100).extract()
    assert extract.frame.collect().height == SAMPLE_INCIDENTS
    assert extract.warnings == ["source 'sn': requests were retried (HTTP 500 ×1)"]


def test_401_names_the_variables_never_the_secret(
    make_source: MakeSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "WRONG-pw-PLANTED-x1"
    monkeypatch.setenv("SN_PASSWORD", wrong)
    with pytest.raises(SourceError) as basic:
        make_source(ServiceNowIncidents).extract()
    message = str(basic.value)
    assert "HTTP 401 Unauthorized (User Not Authenticated; Required to provide" in message
    assert "check the credentials in SN_USER and SN_PASSWORD" in message
    assert wrong not in message
    assert PASSWORD not in message

    monkeypatch.setenv("SN_TOKEN", "tok-WRONG-PLANTED")
    source = make_source(
        ServiceNowIncidents, username_env=None, password_env=None, token_env="SN_TOKEN"
    )
    with pytest.raises(SourceError, match="check the credentials in SN_TOKEN") as bearer:
        source.extract()
    assert "tok-WRONG-PLANTED" not in str(bearer.value)
    assert TOKEN not in str(bearer.value)


def test_an_oauth_bearer_token_is_accepted(make_source: MakeSource) -> None:
    source = make_source(
        ServiceNowIncidents, username_env=None, password_env=None, token_env="SN_TOKEN"
    )
    assert source.extract().frame.collect().height == SAMPLE_INCIDENTS


def test_error_bodies_surface_their_message(
    make_source: MakeSource, instance: FakeInstance
) -> None:
    instance.forbidden.add("task_sla")
    with pytest.raises(SourceError) as forbidden:
        make_source(ServiceNowIncidents, sla=True).extract()
    assert (
        "GET /api/now/table/task_sla: HTTP 403 Forbidden (User Not Authorized; ACL restricts "
        "the table task_sla): the credentials in SN_USER and SN_PASSWORD are not allowed"
    ) in str(forbidden.value)

    instance.canned += [
        Canned(500, error_body("Transaction cancelled", "maximum execution time"))
    ] * 3
    with pytest.raises(SourceError) as failing:
        make_source(ServiceNowIncidents).extract()
    assert (
        "HTTP 500 Internal Server Error (Transaction cancelled; maximum execution time), "
        "after 3 attempts"
    ) in str(failing.value)


# --------------------------------------------------------------------------- values


def test_values_are_utc_and_display_values_follow_the_users_time_zone(
    make_source: MakeSource, instance: FakeInstance
) -> None:
    instance.user_timezone = "Europe/Paris"
    rows = make_source(ServiceNowIncidents).extract().frame.collect()
    first = rows.filter(pl.col("number.value") == "INC0010001").row(0, named=True)
    assert first["opened_at.value"] == "2024-01-01 08:15:00"  # UTC, as stored
    assert first["opened_at.display_value"] == "2024-01-01 09:15:00"  # Paris
    assert first["priority.value"] == "1"
    assert first["priority.display_value"] == "1 - Critical"
    assert first["assignment_group.display_value"] == "Service Desk"
    assert first["company.display_value"] == "Acme"
    canonical = conformed(make_source(ServiceNowIncidents, sla=True))
    ticket = canonical.filter(pl.col("ticket_id") == "INC0010001").row(0, named=True)
    assert ticket["opened_at"] == datetime(2024, 1, 1, 8, 15, tzinfo=UTC)
    assert ticket["priority"] == "critical"
    assert ticket["request_type"] == "support"


def test_display_value_false_and_true_give_single_columns(make_source: MakeSource) -> None:
    values = make_source(ServiceNowIncidents, display_value="false").extract().frame.collect()
    assert values.filter(pl.col("number") == "INC0010001")["priority"].item() == "1"
    labels = make_source(ServiceNowIncidents, display_value="true").extract().frame.collect()
    assert labels.filter(pl.col("number") == "INC0010001")["priority"].item() == "1 - Critical"


def test_empty_counters_read_as_zero(make_source: MakeSource, instance: FakeInstance) -> None:
    assert instance.find("incident", number="INC0010006")["reopen_count"] == ""
    canonical = conformed(make_source(ServiceNowIncidents, sla=True))
    assert canonical.filter(pl.col("_cx_errors").list.len() > 0).height == 0
    assert canonical.filter(pl.col("ticket_id") == "INC0010006")["reopen_count"].item() == 0


def test_sla_due_times_come_from_task_sla(make_source: MakeSource, instance: FakeInstance) -> None:
    canonical = conformed(make_source(ServiceNowIncidents, sla=True))
    ticket = canonical.filter(pl.col("ticket_id") == "INC0010001").row(0, named=True)
    assert ticket["respond_due_at"] == ticket["opened_at"] + timedelta(hours=1)
    assert ticket["resolve_due_at"] == ticket["opened_at"] + timedelta(hours=8)
    assert instance.queries("task_sla")[0] == "task.sys_class_name=incident^ORDERBYsys_id"


def test_requests_read_the_configured_table(
    make_source: MakeSource, instance: FakeInstance
) -> None:
    items = conformed(make_source(ServiceNowRequests))
    assert items.height == SAMPLE_REQUESTS
    assert set(items["request_type"]) == {"other"}
    assert items["ticket_id"].str.starts_with("RITM").all()
    assert set(items["category"]) == {"Standard laptop", "Software installation"}
    orders = make_source(ServiceNowRequests, table="sc_request").extract().frame.collect()
    assert orders["number.value"].str.starts_with("REQ").all()
    assert "cat_item" not in table_requests(instance, "sc_request")[0]["sysparm_fields"]


def test_survey_results_become_one_row_per_completed_instance(
    make_source: MakeSource, instance: FakeInstance
) -> None:
    questions = {"csat": CSAT_QUESTION, "comment": COMMENT_QUESTION}
    source = make_source(ServiceNowSurveyResults, questions=questions)
    rows = source.extract().frame.collect()
    assert instance.queries("asmt_metric_result")[0] == (
        f"metricIN{CSAT_QUESTION},{COMMENT_QUESTION}^instance.state=complete^ORDERBYsys_id"
    )
    assert rows.height == SAMPLE_SURVEYS
    assert rows["_cx_file"].str.starts_with("GET /api/now/table/asmt_metric_result page").all()
    canonical = conformed(make_source(ServiceNowSurveyResults, questions=questions))
    assert canonical.filter(pl.col("_cx_errors").list.len() > 0).height == 0
    assert sorted(canonical["csat"]) == [1, 2, 3, 4, 5]
    assert canonical["comment"].null_count() == 2  # answered by instances 1, 3 and 5
    first = canonical.filter(pl.col("response_id") == "AINST0010001").row(0, named=True)
    assert first["ticket_id"] == "INC0010001"
    assert first["client_id"] == "Acme"
    since = datetime(2024, 2, 1, tzinfo=UTC)
    recent = conformed(make_source(ServiceNowSurveyResults, questions=questions), since)
    assert 0 < recent.height < SAMPLE_SURVEYS
    assert (recent["submitted_at"] >= since).all()


# --------------------------------------------------------------------------- options


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"query": "active=true^ORDERBYnumber"}, "must not order"),
        ({"query": "active=true^NQpriority=1"}, "must not contain ^NQ"),
        ({"display_value": "maybe"}, "display_value"),
        ({"fields": ["Number"]}, "is not a ServiceNow field name"),
        ({"query_timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"page_size": 20_000}, "page_size"),
    ],
)
def test_bad_options_are_config_errors(
    make_source: MakeSource, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message.replace("^", r"\^")):
        make_source(ServiceNowIncidents, **options)


@pytest.mark.parametrize(
    ("questions", "message"),
    [
        ({}, "name at least one question"),
        ({"csat": "How satisfied are you?"}, "is not a sys_id"),
        ({"user": CSAT_QUESTION}, "cannot name a question's column"),
        ({"csat": CSAT_QUESTION, "also": CSAT_QUESTION}, "the same question"),
    ],
)
def test_bad_questions_are_config_errors(
    make_source: MakeSource, questions: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        make_source(ServiceNowSurveyResults, questions=questions)
