"""Plugins load only from installed distributions (entry-point group ``cxpipe``) and the
configured ``run.plugins_dir``, and ``cxpipe plugins`` shows exactly what a run loaded.

A module on ``sys.path`` that defines hookimpls is not a plugin until it is registered
(entry point) or placed in the configured folder; ``CXPIPE_DISABLED_PLUGINS`` keeps a
plugin out; the run manifest's ``plugins`` equals the ``cxpipe plugins -c`` listing.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cxpipe import cli as cxpipe_cli
from cxpipe.cli import app
from cxpipe.config import load_config
from cxpipe.demo.generator import write_demo_files
from cxpipe.plugins import build_registry, describe_plugins, get_plugin_manager
from cxpipe.run import run_pipeline

PLUGIN = """
from pathlib import Path

from cxpipe import hookimpl
from cxpipe.sources.files import FileSource

Path(__file__).with_suffix(".imported").touch()


class {cls}(FileSource):
    kind = "{kind}"


@hookimpl
def cxpipe_register_sources(registry):
    registry.add_source({cls})
"""


def write_plugin(folder: Path, name: str, kind: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.py"
    path.write_text(PLUGIN.format(cls=name.title().replace("_", ""), kind=kind), "utf-8")
    return path


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Demo data, a config with a plugins folder holding ``team_source``, and a look-alike
    module ``stray_source`` importable from ``sys.path`` but registered nowhere."""
    write_demo_files(tmp_path, tickets=50)
    write_plugin(tmp_path / "plugins", "team_source", "team_file")
    write_plugin(tmp_path / "site", "stray_source", "stray_file")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delitem(sys.modules, "stray_source", raising=False)
    config = tmp_path / "cxpipe.toml"
    config.write_text(
        '[run]\nplugins_dir = "plugins"\n[metrics]\nonly = ["ticket_volume"]\n'
        '[[sources]]\nname = "clients"\nkind = "team_file"\nentity = "clients"\n'
        'options = { path = "clients.csv" }\n',
        encoding="utf-8",
    )
    return config


def listed(output: str) -> list[tuple[str, str]]:
    """(plugin, from) rows of the ``cxpipe plugins`` table."""
    rows = []
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.split("│")]
        if len(cells) == 5 and cells[1]:
            rows.append((cells[1], cells[2]))
    return rows


def test_only_entry_points_and_the_plugins_folder_load(project: Path) -> None:
    pm = get_plugin_manager(plugins_dir=load_config(project).plugins_path)
    names = {plugin.name for plugin in describe_plugins(pm)}
    assert "team_source" in names
    assert "stray_source" not in names
    assert "stray_source" not in sys.modules
    assert not (project.parent / "site" / "stray_source.imported").exists()
    assert (project.parent / "plugins" / "team_source.imported").exists()
    registry = build_registry(pm)
    assert "team_file" in registry.sources
    assert "stray_file" not in registry.sources


def test_a_disabled_plugin_is_not_loaded(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXPIPE_DISABLED_PLUGINS", "team_source, servicenow")
    imported = project.parent / "plugins" / "team_source.imported"
    imported.unlink(missing_ok=True)
    pm = get_plugin_manager(plugins_dir=load_config(project).plugins_path)
    names = {plugin.name for plugin in describe_plugins(pm)}
    assert names.isdisjoint({"team_source", "servicenow"})
    assert not imported.exists()  # blocked before import, not unregistered after
    assert "servicenow.incidents" not in build_registry(pm).sources


def test_the_manifest_lists_exactly_what_cxpipe_plugins_prints(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_pipeline(load_config(project))
    # wide enough that no cell is cut (the console's width is fixed when it is created)
    monkeypatch.setattr(cxpipe_cli.out, "width", 1000)
    cli = CliRunner().invoke(app, ["plugins", "-c", str(project)])
    assert cli.exit_code == 0, cli.output
    in_manifest = [(p["name"], p["origin"]) for p in result.manifest["plugins"]]
    assert in_manifest == listed(cli.output)
    assert ("team_source", f"file {project.parent / 'plugins' / 'team_source.py'}") in in_manifest
    assert "stray_source" not in {name for name, _ in in_manifest}
