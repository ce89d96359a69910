"""A ``cxpipe.toml`` is data: parsing or running it never executes code from it.

The config is TOML (``tomllib``) validated by pydantic models: no YAML tags, no
templating, no ``eval``. Values that would run code in a less careful loader stay plain
strings (and a marker file that code would create never appears); the only config key
that loads code is ``run.plugins_dir``; a ``kind`` naming a module is an unknown kind,
not an import.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from cxpipe.config import load_config
from cxpipe.demo.generator import write_demo_files
from cxpipe.errors import CxpipeError
from cxpipe.run import run_pipeline

MARKER_MODULE = "cxpipe_security_marker"


def payloads(marker: Path) -> list[str]:
    """Strings that run code (creating ``marker``) in an eval, a YAML loader, a template
    engine or a shell."""
    return [
        f"__import__('os').system('touch {marker}')",
        f"!!python/object/apply:os.system ['touch {marker}']",
        f"{{{{ self.__init__.__globals__.__builtins__.open('{marker}', 'w') }}}}",
        f"$(touch {marker})`touch {marker}`${{HOME}}",
    ]


def test_code_in_values_stays_text_through_a_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    names = payloads(marker)
    write_demo_files(tmp_path, tickets=200)
    sources = "".join(
        f"""
[[sources]]
name = {json.dumps(name)}
kind = "file"
entity = "{entity}"
options = {{ path = "{path}" }}
"""
        for name, (entity, path) in zip(
            names[:2], [("clients", "clients.csv"), ("tickets", "tickets.csv.gz")], strict=True
        )
    )
    config = tmp_path / "cxpipe.toml"
    config.write_text(
        f'[run]\nperiod_grain = "month"\noutput = {json.dumps("out-" + names[2][:40])}\n'
        f'[metrics]\nonly = ["ticket_volume"]\n{sources}',
        encoding="utf-8",
    )
    result = run_pipeline(load_config(config))
    assert [s["name"] for s in result.manifest["sources"]] == names[:2]  # verbatim
    assert (tmp_path / ("out-" + names[2][:40])).is_dir()  # a folder name, not a template
    assert not marker.exists()


@pytest.mark.parametrize("index", range(4))
def test_code_in_any_value_is_never_run_when_loading(tmp_path: Path, index: int) -> None:
    marker = tmp_path / "pwned"
    value = json.dumps(payloads(marker)[index])
    config = tmp_path / "cxpipe.toml"
    config.write_text(
        f"[run]\noutput = {value}\nplugins_dir = {value}\n"
        f'[[sources]]\nname = {value}\nkind = {value}\nentity = "tickets"\n'
        f"options = {{ path = {value} }}\n",
        encoding="utf-8",
    )
    loaded = load_config(config)  # parsing accepts the strings as they are
    assert loaded.run.output == payloads(marker)[index]
    with pytest.raises(CxpipeError):  # the plugins folder does not exist: an error
        run_pipeline(loaded)
    assert not marker.exists()


@pytest.fixture
def marker_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An importable module on ``sys.path`` whose import creates a marker file and which
    defines a cxpipe plugin: what a config key must not be able to load."""
    marker = tmp_path / "imported"
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / f"{MARKER_MODULE}.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).touch()\n"
        "from cxpipe import hookimpl\n"
        "from cxpipe.sources.files import FileSource\n"
        "class Marked(FileSource):\n    kind = 'marked'\n"
        "@hookimpl\ndef cxpipe_register_sources(registry):\n"
        "    registry.add_source(Marked)\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.delitem(sys.modules, MARKER_MODULE, raising=False)
    return marker


@pytest.mark.parametrize(
    "kind",
    [MARKER_MODULE, f"{MARKER_MODULE}:Marked", f"{MARKER_MODULE}.Marked", "os.system"],
)
def test_a_kind_naming_a_module_is_an_error_not_an_import(
    tmp_path: Path, marker_module: Path, kind: str
) -> None:
    write_demo_files(tmp_path, tickets=50)
    config = tmp_path / "cxpipe.toml"
    config.write_text(
        f'[[sources]]\nname = "t"\nkind = "{kind}"\nentity = "clients"\n'
        'options = { path = "clients.csv" }\n',
        encoding="utf-8",
    )
    with pytest.raises(CxpipeError, match="kind"):
        run_pipeline(load_config(config))
    assert MARKER_MODULE not in sys.modules
    assert not marker_module.exists()


def test_unknown_keys_are_rejected_not_interpreted(tmp_path: Path) -> None:
    """``extra="forbid"``: a key such as ``plugins`` or ``import`` cannot sneak in."""
    for text in (
        f'plugins = ["{MARKER_MODULE}"]\n',
        f'[run]\nimport = "{MARKER_MODULE}"\n',
        f'[run]\nplugins = ["{MARKER_MODULE}"]\n',
    ):
        config = tmp_path / "cxpipe.toml"
        config.write_text(text, encoding="utf-8")
        with pytest.raises(CxpipeError):
            load_config(config)
    assert MARKER_MODULE not in sys.modules
