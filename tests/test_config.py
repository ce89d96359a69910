"""cxpipe.toml: typos and wrong values are errors that say where and what instead."""

from __future__ import annotations

from pathlib import Path

import pytest

from cxpipe.config import load_config
from cxpipe.errors import ConfigError

VALID = """
[run]
period_grain = "quarter"
output = "out"

[[sources]]
name = "tickets"
kind = "file"
entity = "tickets"
options = { path = "t.csv" }
columns = { ticket_id = "number", priority = { column = "prio", map = { "P1" = "critical" } } }
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cxpipe.toml"
    path.write_text(text)
    return path


def test_valid_config_resolves_paths_against_its_folder(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, VALID))
    assert config.run.period_grain == "quarter"
    assert config.output_root == str(tmp_path.resolve() / "out")
    assert config.sources[0].column_spec("priority").map == {"P1": "critical"}  # type: ignore[union-attr]
    assert len(config.config_hash) == 16
    assert config.metrics.sla_targets["critical"].resolve_hours == 4


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            ("period_grain", "perid_grain"),
            r"run\.perid_grain: unknown key 'perid_grain' \(did you mean 'period_grain'\?\)",
        ),
        (('"quarter"', '"fortnight"'), r"run\.period_grain: Input should be 'week', 'month'"),
        (
            ('entity = "tickets"', 'entity = "ticket"'),
            r"unknown entity 'ticket' \(did you mean 'tickets'\?\)",
        ),
        (
            ("ticket_id =", "ticket_idd ="),
            r"'ticket_idd' is not a column of tickets \(did you mean 'ticket_id'\?\)",
        ),
        (("kind =", "knd ="), r"sources\.0\.knd: unknown key 'knd' \(did you mean 'kind'\?\)"),
        (
            ('kind = "file"', 'kind = "file"\ntimezone = "Europe/Pariss"'),
            r"unknown time zone 'Europe/Pariss' \(did you mean 'Europe/Paris'\?\)",
        ),
    ],
)
def test_mistakes_are_named_with_a_suggestion(
    tmp_path: Path, edit: tuple[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(_write(tmp_path, VALID.replace(*edit)))


def test_column_spec_needs_exactly_one_origin(tmp_path: Path) -> None:
    text = VALID.replace('ticket_id = "number"', 'ticket_id = { column = "n", value = "x" }')
    with pytest.raises(ConfigError, match="exactly one of `column`"):
        load_config(_write(tmp_path, text))


def test_not_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(_write(tmp_path, "[run\n"))
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "absent.toml")


def test_duplicate_source_names(tmp_path: Path) -> None:
    text = VALID + VALID[VALID.index("[[sources]]") :]
    with pytest.raises(ConfigError, match="two sources are named 'tickets'"):
        load_config(_write(tmp_path, text))
