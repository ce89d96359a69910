"""Checking that an installed plugin distribution loads, as ``cxpipe`` will load it."""

from __future__ import annotations

from importlib import metadata

from cxpipe.errors import PluginError
from cxpipe.hookspecs import HOOK_NAMES
from cxpipe.plugins import ENTRY_POINT_GROUP, build_registry, get_plugin_manager
from cxpipe.registry import Registration

_REGISTER_HOOKS = tuple(name for name in HOOK_NAMES if name.startswith("cxpipe_register_"))


def _normalise(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _entry_point(name: str) -> metadata.EntryPoint:
    found = metadata.entry_points(group=ENTRY_POINT_GROUP)
    matches = [
        ep
        for ep in found
        if ep.name == name or (ep.dist is not None and _normalise(ep.dist.name) == _normalise(name))
    ]
    if not matches:
        known = ", ".join(sorted(ep.name for ep in found)) or "none"
        raise AssertionError(
            f"no entry point {name!r} in the {ENTRY_POINT_GROUP!r} group (installed: {known}); "
            f"declare it under [project.entry-points.{ENTRY_POINT_GROUP}] in pyproject.toml and "
            f"reinstall the distribution (pip install -e .)"
        )
    if len(matches) > 1:
        raise AssertionError(f"{name!r} matches several entry points: {matches}")
    return matches[0]


def assert_plugin_loads(name: str) -> list[Registration]:
    """Assert the plugin ``name`` (its entry-point name, or its distribution's name) loads.

    The entry point resolves in the ``cxpipe`` group and imports; a plugin manager with
    cxpipe's built-ins and this plugin passes ``check_pending()`` (no misspelt hook); every
    registration hook it implements registers something, with no name clashing with the
    built-ins'. Returns what the plugin registered.
    """
    entry_point = _entry_point(name)
    try:
        plugin = entry_point.load()
    except Exception as exc:
        raise AssertionError(f"entry point {entry_point.value!r} does not import: {exc!r}") from exc
    extra = [] if entry_point.name == "builtin" else [(entry_point.name, plugin)]
    try:
        pm = get_plugin_manager(entry_points=False, extra_plugins=extra)
    except PluginError as exc:
        raise AssertionError(str(exc)) from exc
    hooks = [
        caller.name for caller in pm.get_hookcallers(plugin) or [] if caller.name in HOOK_NAMES
    ]
    assert hooks, (
        f"plugin {entry_point.name!r} ({entry_point.value}) implements no cxpipe hook; mark its "
        f"functions with @cxpipe.hookimpl and name them after the hooks"
    )
    try:
        registry = build_registry(pm)
    except PluginError as exc:
        raise AssertionError(str(exc)) from exc
    registered = [r for r in registry.registrations if r.plugin == entry_point.name]
    silent = [
        hook
        for hook in hooks
        if hook in _REGISTER_HOOKS and not any(hook.endswith(f"_{r.kind}s") for r in registered)
    ]
    assert not silent, f"plugin {entry_point.name!r}: {', '.join(silent)} registered nothing"
    return registered


__all__ = ["assert_plugin_loads"]
