"""docs/plugins.md is checked against the code: its generated sections are current and its
examples run, as the files they name, under pytest."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

from cxpipe.hookspecs import HOOK_NAMES
from cxpipe.testing import METRIC_RULES, SOURCE_RULES
from cxpipe.testing.docs import SECTIONS, main, section, update

pytest_plugins = ("pytester",)

DOC = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"
TEXT = DOC.read_text(encoding="utf-8")


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", TEXT, flags=re.DOTALL)


def named_files() -> dict[str, str]:
    """Python blocks whose first line is ``# <file>.py``, by file name."""
    found = {}
    for block in blocks("python"):
        first, _, _rest = block.partition("\n")
        if re.fullmatch(r"# \w+\.py", first):
            found[first[2:]] = block
    return found


@pytest.mark.parametrize("name", SECTIONS)
def test_generated_sections_are_current(name: str) -> None:
    assert section(TEXT, name) == SECTIONS[name](), (
        f"docs/plugins.md's {name} section is stale: run python -m cxpipe.testing.docs"
    )


def test_every_hook_and_rule_is_documented() -> None:
    reference = section(TEXT, "hook-reference")
    for hook in HOOK_NAMES:
        assert f"### `{hook}(" in reference
    for rule in (*SOURCE_RULES, *METRIC_RULES):
        assert f"| `{rule}` |" in TEXT


def test_update_rewrites_only_the_sections(tmp_path: Path) -> None:
    stale = TEXT.replace("| `valid_rows` |", "| `old_rule` |")
    assert update(stale) == TEXT
    page = tmp_path / "plugins.md"
    page.write_text(stale, encoding="utf-8")
    assert main(["--check", str(page)]) == 1
    assert main([str(page)]) == 0
    assert page.read_text(encoding="utf-8") == TEXT
    with pytest.raises(ValueError, match="BEGIN hook-reference"):
        update("no sections here")


def test_the_examples_pass_the_contract_kit(pytester: pytest.Pytester) -> None:
    files = named_files()
    assert set(files) == {"acme_source.py", "acme_metrics.py", "test_acme.py"}
    pytester.makepyfile(**{name.removesuffix(".py"): code for name, code in files.items()})
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=len(SOURCE_RULES) + len(METRIC_RULES) + 1)


def test_the_toml_mapping_is_the_tested_one() -> None:
    (toml,) = [b for b in blocks("toml") if 'kind = "acme.tickets"' in b]
    (source,) = tomllib.loads(toml)["sources"]
    tree = ast.parse(named_files()["test_acme.py"])
    config = next(
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "CONFIG"
    )
    assert source["entity"] == config["entity"]
    assert source["columns"] == config["columns"]
