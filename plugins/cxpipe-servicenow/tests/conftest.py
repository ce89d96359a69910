"""A fake ServiceNow instance (the sample data set) on pytest-httpserver's local server,
and the credentials its sources read from the environment."""

from __future__ import annotations

from typing import Any

import pytest
from cxpipe_servicenow import ServiceNowTable
from cxpipe_servicenow.testing import FakeInstance, load_sample
from pytest_httpserver import HTTPServer
from servicenow_support import FAST, PASSWORD, TOKEN, USERNAME, MakeSource

from cxpipe.config import SourceConfig


@pytest.fixture
def instance(httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> FakeInstance:
    """The sample instance, answering on localhost; Basic and bearer credentials in
    ``$SN_USER``/``$SN_PASSWORD`` and ``$SN_TOKEN``."""
    monkeypatch.setenv("SN_USER", USERNAME)
    monkeypatch.setenv("SN_PASSWORD", PASSWORD)
    monkeypatch.setenv("SN_TOKEN", TOKEN)
    fake = FakeInstance(username=USERNAME, password=PASSWORD, token=TOKEN)
    return load_sample(fake).install(httpserver)


@pytest.fixture
def make_source(httpserver: HTTPServer, instance: FakeInstance) -> MakeSource:
    """``make_source(SourceClass, **options)``: a source on the fake instance, Basic auth,
    fast retries, 5 records a page."""

    def make(cls: type[ServiceNowTable], **options: Any) -> ServiceNowTable:
        settings = {
            "base_url": httpserver.url_for("/"),
            "username_env": "SN_USER",
            "password_env": "SN_PASSWORD",
            "page_size": 5,
            **FAST,
            **options,
        }
        settings = {k: v for k, v in settings.items() if v is not None}
        entity = "survey_responses" if "survey" in cls.kind else "tickets"
        config = SourceConfig.model_validate(
            {"name": "sn", "kind": cls.kind, "entity": entity, "options": settings}
        )
        return cls(config)

    return make
