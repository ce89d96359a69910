"""The plugin template (plugins/_template) is itself tested, as shipped and once renamed.

Its own tests run in an inner pytest session with the template importable and its entry
point visible to ``importlib.metadata``, which is what ``pip install -e plugins/_template``
gives, without a build.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import tomllib
from pathlib import Path
from types import ModuleType

import polars as pl
import pytest

from cxpipe.testing import METRIC_RULES, SOURCE_RULES
from cxpipe.testing.pytest_plugin import RunPipeline

pytest_plugins = ("pytester",)

TEMPLATE = Path(__file__).resolve().parents[2] / "plugins" / "_template"


def install_in_place(project: Path, site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``project`` importable with its entry points registered, as an editable install
    does: its ``src`` on ``sys.path`` and a ``.dist-info`` built from its pyproject.toml."""
    meta = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    info = site / f"{meta['name'].replace('-', '_')}-{meta['version']}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {meta['name']}\nVersion: {meta['version']}\n"
    )
    (info / "entry_points.txt").write_text(
        "".join(
            f"[{group}]\n" + "".join(f"{name} = {value}\n" for name, value in points.items())
            for group, points in meta["entry-points"].items()
        )
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.syspath_prepend(str(project / "src"))


def run_tests(pytester: pytest.Pytester, project: Path) -> None:
    result = pytester.runpytest_inprocess(str(project / "tests"), "-p", "no:cacheprovider")
    result.assert_outcomes(passed=len(SOURCE_RULES) + len(METRIC_RULES) + 1)


def test_the_template_passes_its_own_contract_tests(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_in_place(TEMPLATE, tmp_path / "site", monkeypatch)
    run_tests(pytester, TEMPLATE)


def test_renamed_as_its_readme_says_it_still_passes(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # README.md: copy, rename the package and the test module, then replace the word
    # template (both cases) everywhere.
    copy = tmp_path / "cxpipe-acme"
    shutil.copytree(
        TEMPLATE, copy, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", ".*_cache")
    )
    (copy / "src" / "cxpipe_template").rename(copy / "src" / "cxpipe_acme")
    (copy / "tests" / "test_template.py").rename(copy / "tests" / "test_acme.py")
    for path in copy.rglob("*"):
        if path.is_file() and path.suffix in {".py", ".toml", ".md", ".json"}:
            text = path.read_text(encoding="utf-8")
            path.write_text(re.sub("template", "acme", text).replace("Template", "Acme"))
    assert "template" not in (copy / "pyproject.toml").read_text().lower()
    install_in_place(copy, tmp_path / "site", monkeypatch)
    run_tests(pytester, copy)


def load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_template_runs_in_a_pipeline(
    run_pipeline: RunPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(TEMPLATE / "src"))
    plugin = importlib.import_module("cxpipe_template")
    tests = load(TEMPLATE / "tests" / "test_template.py", "template_tests")
    config = {"sources": [{"name": "helpdesk", "kind": "template.tickets", **tests.CONFIG}]}
    result = run_pipeline(config, plugins={"template": plugin}, base_dir=tests.FIXTURES)
    (accounting,) = result.manifest["sources"]
    assert (accounting["rows_read"], accounting["rows_kept"]) == (6, 6)
    share = result.metric_values.filter(
        pl.col("metric") == "template.portal_share_pct", pl.col("client_id").is_null()
    )
    # January: 1 of 2 tickets came through the portal; February 1 of 2; March 1 of 1.
    assert share.sort("period_start")["value"].to_list()[:3] == [50.0, 50.0, 100.0]
