"""The ``cxpipe`` command as a user meets it: run, demo, plugins, and the installed script."""

from __future__ import annotations

import functools
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cxpipe import cli
from cxpipe.cli import app
from cxpipe.demo import generator
from cxpipe.demo.config import demo_config_text
from cxpipe.plugins import build_registry, get_plugin_manager
from cxpipe.report import HEADLINES

runner = CliRunner()


def accounting_line(source: dict[str, object]) -> re.Pattern[str]:
    """A row of the accounting table, whatever box characters the console draws."""
    cells = (source[k] for k in ("name", "entity", "rows_read", "rows_kept", "rows_quarantined"))
    return re.compile(r"\W+".join(re.escape(str(cell)) for cell in cells) + r"\b")


@pytest.mark.slow
def test_run_exits_0_and_prints_the_headlines_and_the_row_accounting(
    demo_dir: Path, tmp_path: Path
) -> None:
    output = tmp_path / "out"

    result = runner.invoke(app, ["run", "-c", str(demo_dir / "cxpipe.toml"), "-o", str(output)])

    assert result.exit_code == 0, result.output
    assert "Headline metrics" in result.output
    for metric in HEADLINES:
        assert metric in result.output, metric
    (manifest_path,) = (output / "_runs").glob("*.json")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    assert "Row accounting" in result.output
    for source in manifest["sources"]:
        assert accounting_line(source).search(result.output), source["name"]
    assert manifest["run_id"] in result.output
    assert list((output / "metric_values").glob("period=*/part-0.parquet"))
    # the run renders its scorecard after the commit, with the config's targets recorded
    page = output / "scorecards" / f"{manifest['run_id']}.html"
    printed = "".join(result.output.split())  # the console wraps long paths anywhere
    assert f"Scorecard(openinabrowser):{page}" in printed
    assert manifest["action_plan"]["targets"]["reopen_rate_pct"] == 5.0
    page.unlink()
    again = runner.invoke(app, ["scorecard", str(output)])
    assert again.exit_code == 0, again.output
    assert page.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    elsewhere = tmp_path / "card.html"
    assert runner.invoke(app, ["scorecard", str(output), "-o", str(elsewhere)]).exit_code == 0
    assert elsewhere.read_text(encoding="utf-8") == page.read_text(encoding="utf-8")


def test_scorecard_of_a_root_without_a_run_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["scorecard", str(tmp_path)])
    assert result.exit_code == 2
    assert "no run manifest" in result.output


@pytest.mark.parametrize(
    ("correct", "misspelt", "named"),
    [
        pytest.param("period_grain", "period_grian", "period_grian", id="unknown_run_key"),
        pytest.param('entity = "tickets"', 'entity = "tickts"', "tickts", id="unknown_entity"),
    ],
)
def test_a_config_typo_exits_2_with_a_clear_message_and_no_traceback(
    tmp_path: Path, correct: str, misspelt: str, named: str
) -> None:
    config = tmp_path / "cxpipe.toml"
    config.write_text(demo_config_text().replace(correct, misspelt, 1), encoding="utf-8")

    result = runner.invoke(app, ["run", "-c", str(config), "-o", str(tmp_path / "out")])

    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert lines[0].startswith("error:"), lines
    naming = [line for line in lines if named in line]
    assert len(naming) == 1, lines
    assert "did you mean" in naming[0], naming
    assert not (tmp_path / "out").exists()


def test_a_missing_config_file_exits_2_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.toml"

    result = runner.invoke(app, ["run", "-c", str(missing)])

    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert str(missing) in result.output.replace("\n", "")


def test_plugins_lists_builtin_with_everything_it_registers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # wide enough that no name wraps (the console's width is fixed when it is created)
    monkeypatch.setattr(cli.out, "width", 200)
    result = runner.invoke(app, ["plugins"])

    assert result.exit_code == 0, result.output
    assert "builtin" in result.output
    registry = build_registry(get_plugin_manager())
    registered = [r for r in registry.registrations if r.plugin == "builtin"]
    assert {r.kind for r in registered} >= {"source", "metric", "sink"}
    for registration in registered:
        assert f"{registration.kind} {registration.name}" in result.output, registration


def test_plugins_with_a_config_also_lists_its_local_plugins(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "team_hooks.py").write_text(
        "from cxpipe import hookimpl\n\n@hookimpl\ndef cxpipe_before_run(run):\n    pass\n",
        encoding="utf-8",
    )
    config = tmp_path / "cxpipe.toml"
    config.write_text(
        demo_config_text().replace("[run]\n", '[run]\nplugins_dir = "plugins"\n', 1),
        encoding="utf-8",
    )

    result = runner.invoke(app, ["plugins", "-c", str(config)])

    assert result.exit_code == 0, result.output
    assert "team_hooks" in result.output
    assert "(hooks only)" in result.output


@pytest.mark.slow
def test_demo_writes_the_data_and_runs_it_into_the_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = functools.partial(generator.write_demo_files, tickets=2_000)
    monkeypatch.setattr(generator, "write_demo_files", small)
    data, output = tmp_path / "data", tmp_path / "out"

    result = runner.invoke(app, ["demo", "--output", str(output), "--data", str(data)])

    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in data.iterdir()) == sorted(generator.FILE_NAMES.values())
    assert "Headline metrics" in result.output
    assert "Row accounting" in result.output
    assert len(list((output / "_runs").glob("*.json"))) == 1
    assert list((output / "metric_values").glob("period=*/part-0.parquet"))


def test_the_installed_console_script_prints_help() -> None:
    script = Path(sys.executable).parent / "cxpipe"

    completed = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, timeout=60, check=False
    )

    assert completed.returncode == 0, completed.stderr
    for command in ("run", "demo", "plugins"):
        assert re.search(rf"\b{command}\b", completed.stdout), command
    assert "Traceback" not in completed.stderr
