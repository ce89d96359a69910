"""The docs are checked against the code, so they cannot drift from it."""

from __future__ import annotations

import inspect
import re
import types
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from pydantic import BaseModel

from cxpipe import config as config_module
from cxpipe import hookspecs
from cxpipe.config import SourceConfig
from cxpipe.conform import conform
from cxpipe.metrics.base import MetricContext, MetricSpec
from cxpipe.plugins import build_registry, get_plugin_manager
from cxpipe.schemas import TICKETS
from cxpipe.sources.files import FileOptions

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def _load_block(code: str, name: str) -> types.ModuleType:
    module = types.ModuleType(name)
    exec(compile(code, f"README.md:{name}", "exec"), module.__dict__)
    return module


@pytest.mark.parametrize("hook", hookspecs.HOOK_NAMES)
def test_every_hook_is_in_the_readme_with_its_signature(hook: str) -> None:
    params = ", ".join(inspect.signature(getattr(hookspecs, hook)).parameters)
    assert f"`{hook}({params})`" in README


def test_readme_metric_plugin_runs() -> None:
    blocks = [b for b in _python_blocks(README) if "@metric(" in b]
    assert len(blocks) == 1
    plugin = _load_block(blocks[0], "readme_metric_plugin")
    registry = build_registry(get_plugin_manager(extra_plugins=[("acme", plugin)]))
    spec = registry.metrics["acme.phone_share_pct"]
    assert isinstance(spec, MetricSpec)
    tickets = pl.LazyFrame(
        {
            "client_id": ["C1", "C1", "C2"],
            "channel": ["phone", "email", "phone"],
            "opened_at": [datetime(2026, 1, d, tzinfo=UTC) for d in (1, 2, 3)],
        }
    )
    rows = spec.compute(MetricContext(grain="month"), {"tickets": tickets}).collect()
    overall = rows.filter(pl.col("client_id").is_null()).row(0, named=True)
    assert overall["numerator"] == 2
    assert overall["denominator"] == 3


def test_readme_source_plugin_runs() -> None:
    blocks = [b for b in _python_blocks(README) if "class InlineSource" in b]
    assert len(blocks) == 1
    plugin = _load_block(blocks[0], "readme_source_plugin")
    registry = build_registry(get_plugin_manager(extra_plugins=[("inline", plugin)]))
    source_config = SourceConfig.model_validate(
        {
            "name": "handmade",
            "kind": "inline",
            "entity": "tickets",
            "options": {
                "rows": [
                    {"id": "T1", "opened": "2026-01-05T10:00:00Z", "prio": "P1"},
                ]
            },
            "columns": {
                "ticket_id": "id",
                "client_id": {"value": "acme"},
                "request_type": {"value": "support"},
                "priority": {"column": "prio", "map": {"P1": "critical"}},
                "status": {"value": "open"},
                "opened_at": "opened",
                "reopen_count": {"value": 0},
                "reassignment_count": {"value": 0},
            },
        }
    )
    source = registry.source("inline")(source_config)
    rows = conform(source.extract().frame, source_config, TICKETS).collect()
    assert rows["priority"].to_list() == ["critical"]
    assert rows["_cx_file"].to_list() == ["config:handmade"]


def _config_models() -> list[type[BaseModel]]:
    models = [
        obj
        for obj in vars(config_module).values()
        if isinstance(obj, type)
        and issubclass(obj, BaseModel)
        and obj.__module__ == config_module.__name__
        and not obj.__name__.startswith("_")
    ]
    return [*models, FileOptions]


@pytest.mark.parametrize("model", _config_models(), ids=lambda m: m.__name__)
def test_every_config_key_is_documented(model: type[BaseModel]) -> None:
    reference = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    hidden = {"base_dir", "config_hash"}  # set by the loader, not written by users
    for name, field in model.model_fields.items():
        if name in hidden or field.exclude:
            continue
        forms = (f"`{name}`", f"`[{name}]`", f"`[[{name}]]`")
        assert any(form in reference for form in forms), f"{model.__name__}.{name} is undocumented"


def test_every_registered_metric_is_documented() -> None:
    text = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    registry = build_registry(get_plugin_manager())
    for info, _plugin in registry.catalog():
        assert f"`{info.name}`" in text, info.name
