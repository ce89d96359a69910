"""The demo's config: the shipped ``cxpipe.toml`` read against the generated data folder."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

from cxpipe.config import CxpipeConfig, parse_config

DEMO_CONFIG = "cxpipe.toml"


def demo_config_text() -> str:
    return resources.files("cxpipe.demo").joinpath(DEMO_CONFIG).read_text(encoding="utf-8")


def demo_config(data_dir: Path, output: str | None = None) -> CxpipeConfig:
    """The demo config with its relative paths resolved against ``data_dir``."""
    data = tomllib.loads(demo_config_text())
    if output is not None:
        data.setdefault("run", {})["output"] = str(Path(output).resolve())
    return parse_config(data, base_dir=data_dir, origin=f"cxpipe/demo/{DEMO_CONFIG}")
