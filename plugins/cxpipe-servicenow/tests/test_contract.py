"""The three sources against cxpipe's contract kit (``cxpipe.testing``), each configured
as in example.cxpipe.toml, on a fake instance of the class's own (5 records a page, so
paging and the catch-up pass are exercised)."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cxpipe_servicenow import ServiceNowIncidents, ServiceNowRequests, ServiceNowSurveyResults
from cxpipe_servicenow.testing import FakeInstance, load_sample
from pytest_httpserver import HTTPServer
from servicenow_support import FAST, PASSWORD, TOKEN, USERNAME

from cxpipe.sources.base import Source
from cxpipe.testing import SourceContract, assert_plugin_loads, get_source_test_class

EXAMPLE = Path(__file__).resolve().parents[1] / "example.cxpipe.toml"
PLACEHOLDER = "http://servicenow.invalid"
SINCE = datetime(2024, 2, 1, tzinfo=UTC)


def example(kind: str, base_url: str = PLACEHOLDER) -> dict[str, Any]:
    """The example's ``[[sources]]`` table of ``kind``, pointed at ``base_url``."""
    table: dict[str, Any] = next(
        s
        for s in tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))["sources"]
        if s["kind"] == kind
    )
    table["options"] = {**table["options"], "base_url": base_url, "page_size": 5, **FAST}
    return table


@pytest.fixture(scope="class")
def instance_url() -> Iterator[str]:
    """A sample instance on a server of the class's own, with the example's credentials."""
    server = HTTPServer()
    server.start()
    load_sample(FakeInstance(username=USERNAME, password=PASSWORD, token=TOKEN)).install(server)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SERVICENOW_USERNAME", USERNAME)
        env.setenv("SERVICENOW_PASSWORD", PASSWORD)
        yield server.url_for("/")
    server.clear()
    server.stop()


def on_the_fake_instance(source_cls: type[Source]) -> type[SourceContract]:
    """The kit's test class for ``source_cls``, configured as in the example and reading
    the class's fake instance."""
    kind = source_cls.kind
    return get_source_test_class(
        source_cls, config=lambda instance_url: example(kind, instance_url), since=SINCE
    )


TestIncidentsContract = on_the_fake_instance(ServiceNowIncidents)
TestRequestsContract = on_the_fake_instance(ServiceNowRequests)
TestSurveyResultsContract = on_the_fake_instance(ServiceNowSurveyResults)


def test_plugin_loads() -> None:
    registered = assert_plugin_loads("servicenow")
    assert sorted(r.name for r in registered) == [
        "servicenow.incidents",
        "servicenow.requests",
        "servicenow.survey_results",
    ]
