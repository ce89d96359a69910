"""Shared fixtures for the end-to-end tests: one small demo data folder per session.

The demo generator is seeded, so every test reading ``demo_dir`` sees the same 5 000
tickets (and the projects, surveys and clients generated with them). The shipped demo
config sits next to the data as ``cxpipe.toml``, as ``cxpipe demo`` would leave it.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cxpipe.demo.config import demo_config_text
from cxpipe.demo.generator import write_demo_files

DEMO_TICKETS = 5_000
"""Tickets in the shared demo folder: enough for every headline metric in every month."""

DemoConfigData = Callable[..., dict[str, Any]]
"""``demo_config_data(*source_names, plugins_dir=None)``: the demo config as a fresh dict."""


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seeded demo data (``tickets=5_000``) with the demo config as ``cxpipe.toml``."""
    folder = tmp_path_factory.mktemp("demo-data")
    write_demo_files(folder, seed=7, tickets=DEMO_TICKETS)
    (folder / "cxpipe.toml").write_text(demo_config_text(), encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def demo_config_data() -> DemoConfigData:
    """A builder of the demo config as a plain dict, for :func:`cxpipe.config.parse_config`.

    Name sources to keep only those (a faster run when a test is about one entity); give
    ``plugins_dir`` to load a folder of local plugin files. Every call returns a new dict,
    so a test may edit it freely.
    """

    def build(*sources: str, plugins_dir: Path | None = None) -> dict[str, Any]:
        data = tomllib.loads(demo_config_text())
        if sources:
            unknown = set(sources) - {source["name"] for source in data["sources"]}
            assert not unknown, f"the demo config has no source(s) {sorted(unknown)}"
            data["sources"] = [s for s in data["sources"] if s["name"] in sources]
        if plugins_dir is not None:
            data["run"]["plugins_dir"] = str(plugins_dir)
        return data

    return build
