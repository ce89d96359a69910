"""The committed data dictionary is exactly what the code renders."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from cxpipe.cli import app
from cxpipe.dictionary import render_dictionary
from cxpipe.plugins import build_registry, get_plugin_manager

COMMITTED = Path(__file__).resolve().parents[1] / "docs" / "data-dictionary.md"


def test_committed_dictionary_matches_the_code() -> None:
    rendered = render_dictionary(build_registry(get_plugin_manager()))
    assert COMMITTED.read_text(encoding="utf-8") == rendered, (
        "docs/data-dictionary.md is stale: run `.venv/bin/cxpipe dictionary "
        "-o docs/data-dictionary.md` and commit it"
    )


def test_dictionary_documents_every_metric_and_output_column() -> None:
    registry = build_registry(get_plugin_manager())
    text = render_dictionary(registry)
    for info, _plugin in registry.catalog():
        assert f"| `{info.name}` |" in text
    for column in ("numerator", "quarantine_reason", "recommended_action", "flagged"):
        assert f"`{column}`" in text


def test_cli_writes_the_dictionary(tmp_path: Path) -> None:
    target = tmp_path / "dictionary.md"
    result = CliRunner().invoke(app, ["dictionary", "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_text(encoding="utf-8").startswith("# Data dictionary")
