"""Finding and loading plugins into one pluggy ``PluginManager``.

Loading order (as in tox): hook specifications, then blocks from
``CXPIPE_DISABLED_PLUGINS`` (comma-separated plugin names), then installed distributions
through the ``cxpipe`` entry-point group (cxpipe's own ``builtin`` is one of them), then
``*.py`` files of the configured local plugins folder, then ``check_pending()`` so a
misspelt hook name fails loudly. Nothing loads at ``import cxpipe``.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pluggy

from cxpipe import hookspecs
from cxpipe.errors import PluginError
from cxpipe.registry import Registry

PROJECT_NAME = "cxpipe"
ENTRY_POINT_GROUP = "cxpipe"
DISABLED_ENV = "CXPIPE_DISABLED_PLUGINS"


@dataclass(frozen=True)
class LoadedPlugin:
    name: str
    origin: str  # "entry point <dist> <version>" | "file <path>" | "registered in code"


def _disabled_from_env() -> tuple[str, ...]:
    raw = os.environ.get(DISABLED_ENV, "")
    return tuple(name.strip() for name in raw.split(",") if name.strip())


def _load_local_plugin(path: Path) -> ModuleType:
    module_name = f"cxpipe_local_plugins.{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise PluginError(f"cannot load local plugin file {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(module_name, None)
        raise PluginError(f"local plugin {path} failed to import: {exc!r}") from exc
    return module


def get_plugin_manager(
    *,
    plugins_dir: Path | None = None,
    block: Iterable[str] = (),
    extra_plugins: Iterable[tuple[str, object]] = (),
    entry_points: bool = True,
) -> pluggy.PluginManager:
    """A fresh manager with every plugin loaded. Cheap enough to build once per run."""
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    for name in (*_disabled_from_env(), *block):
        pm.set_blocked(name)
    if entry_points:
        try:
            pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        except Exception as exc:
            raise PluginError(f"an installed cxpipe plugin failed to load: {exc!r}") from exc
    if not entry_points or (pm.get_plugin("builtin") is None and not pm.is_blocked("builtin")):
        # Running from a source tree that was never installed: load the built-ins directly.
        from cxpipe import builtin

        pm.register(builtin, name="builtin")
    for name, plugin in extra_plugins:
        if not pm.is_blocked(name):
            pm.register(plugin, name=name)
    if plugins_dir is not None:
        if not plugins_dir.is_dir():
            raise PluginError(f"plugins_dir {plugins_dir} does not exist or is not a folder")
        for path in sorted(plugins_dir.glob("*.py")):
            if path.name.startswith("_") or pm.is_blocked(path.stem):
                continue
            pm.register(_load_local_plugin(path), name=path.stem)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"plugin {exc.plugin!r} implements an unknown hook: {exc}") from exc
    return pm


def describe_plugins(pm: pluggy.PluginManager) -> list[LoadedPlugin]:
    """Where each loaded plugin came from, for ``cxpipe plugins``."""
    dists = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    described = []
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda item: item[0]):
        if plugin is None:  # blocked
            continue
        dist = dists.get(id(plugin))
        if dist is not None:
            origin = f"entry point of {dist.project_name} {dist.version}"
        elif (path := getattr(plugin, "__file__", None)) and name != "builtin":
            origin = f"file {path}"
        else:
            origin = "registered in code"
        described.append(LoadedPlugin(name, origin))
    return described


def build_registry(pm: pluggy.PluginManager) -> Registry:
    """Ask every plugin to register, one at a time, so each registration has an owner."""
    registry = Registry()
    for hook_name in (
        "cxpipe_register_sources",
        "cxpipe_register_metrics",
        "cxpipe_register_sinks",
        "cxpipe_register_tables",
        "cxpipe_register_signals",
        "cxpipe_register_action_rules",
    ):
        hook = getattr(pm.hook, hook_name)
        for impl in hook.get_hookimpls():
            with registry.registering_for(impl.plugin_name):
                try:
                    impl.function(registry=registry)
                except PluginError:
                    raise
                except Exception as exc:
                    raise PluginError(
                        f"plugin {impl.plugin_name!r} failed in {hook_name}: {exc!r}"
                    ) from exc
    return registry
