"""cxpipe's pytest plugin, loaded through the ``pytest11`` entry point wherever cxpipe is
installed: fixtures a plugin author's tests use without importing anything.

- ``cxpipe_pm``: a plugin manager of the test's own;
- ``make_tickets``, ``make_survey_responses``, ``make_projects``: canonical frames with
  overrides (:mod:`cxpipe.testing.fixtures`);
- ``run_pipeline``: a whole run of a config dict into the test's ``tmp_path``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pytest

if TYPE_CHECKING:  # imported where used: pytest loads this module in every session
    import pluggy

    from cxpipe.run import RunResult
    from cxpipe.testing.fixtures import FrameFactory


@pytest.fixture
def cxpipe_pm() -> pluggy.PluginManager:
    """A plugin manager of its own (built-ins and installed plugins loaded) for one test:
    register the plugin under test with ``cxpipe_pm.register(module)``; nothing leaks into
    other tests."""
    from cxpipe.plugins import get_plugin_manager

    return get_plugin_manager()


@pytest.fixture
def make_tickets() -> FrameFactory:
    """``make_tickets(n=100, *, seed=7, **overrides)``: ``n`` canonical tickets."""
    from cxpipe.testing import fixtures

    return fixtures.make_tickets


@pytest.fixture
def make_survey_responses() -> FrameFactory:
    """``make_survey_responses(n=100, *, seed=7, **overrides)``: canonical survey responses."""
    from cxpipe.testing import fixtures

    return fixtures.make_survey_responses


@pytest.fixture
def make_projects() -> FrameFactory:
    """``make_projects(n=100, *, seed=7, **overrides)``: canonical projects."""
    from cxpipe.testing import fixtures

    return fixtures.make_projects


class RunPipeline(Protocol):
    """The ``run_pipeline`` fixture's signature."""

    def __call__(
        self,
        config: Mapping[str, Any],
        *,
        plugins: Iterable[object] | Mapping[str, object] = (),
        base_dir: Path | None = None,
        output: Path | None = None,
    ) -> RunResult: ...


@pytest.fixture
def run_pipeline(tmp_path: Path) -> RunPipeline:
    """``run_pipeline(config, *, plugins=(), base_dir=None, output=None)`` runs a config
    (the ``cxpipe.toml`` tables as a dict) through :func:`cxpipe.run.run_pipeline` and
    returns its :class:`~cxpipe.run.RunResult`.

    Relative paths resolve against ``base_dir`` (default ``tmp_path``); outputs go to
    ``output`` (default ``tmp_path / "output"``). ``plugins`` are modules or objects with
    hook implementations, registered for this run only, as if installed (a mapping gives
    their names).
    """
    from cxpipe import run as run_module
    from cxpipe.config import parse_config

    def run(
        config: Mapping[str, Any],
        *,
        plugins: Iterable[object] | Mapping[str, object] = (),
        base_dir: Path | None = None,
        output: Path | None = None,
    ) -> RunResult:
        named = (
            list(plugins.items())
            if isinstance(plugins, Mapping)
            else [(getattr(p, "__name__", f"plugin{i}"), p) for i, p in enumerate(plugins)]
        )

        parsed = parse_config(dict(config), base_dir=base_dir or tmp_path, origin="run_pipeline")
        return run_module.run_pipeline(
            parsed, output=str(output or tmp_path / "output"), extra_plugins=named
        )

    return run
