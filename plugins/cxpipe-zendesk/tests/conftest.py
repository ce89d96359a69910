"""A local Zendesk per test (:class:`cxpipe_zendesk.testing.FakeZendesk` on
pytest-httpserver) and sources configured as ``example.cxpipe.toml`` configures them."""

from __future__ import annotations

from typing import Any

import pytest
from cxpipe_zendesk.testing import ENV, FakeZendesk
from pytest_httpserver import HTTPServer
from zendesk_helpers import FAST, MakeConfig, example_table

from cxpipe.config import SourceConfig


@pytest.fixture
def zendesk(httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> FakeZendesk:
    """A local Zendesk, and the credentials the example config names in the environment."""
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    return FakeZendesk(httpserver)


@pytest.fixture
def make_config(zendesk: FakeZendesk) -> MakeConfig:
    """``make_config(kind, **options)``: the example's table for ``kind`` pointed at the
    local Zendesk, with fast retries and the given options on top."""

    def build(kind: str, **options: Any) -> SourceConfig:
        table = example_table(kind)
        table["options"].update(base_url=zendesk.base_url, **FAST)
        table["options"].update(options)
        table["options"] = {k: v for k, v in table["options"].items() if v is not ...}
        return SourceConfig.model_validate(table)

    return build
