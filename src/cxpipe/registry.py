"""The registry plugins fill: sources by kind, metrics by name, sinks by format.

It remembers which plugin registered what, so ``cxpipe plugins`` can say so and a name
registered twice fails with both plugins named instead of one silently winning.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cxpipe.analysis import ActionRule, SignalSpec, TableSpec
from cxpipe.errors import PluginError
from cxpipe.metrics.base import MetricInfo, MetricSpec

if TYPE_CHECKING:
    from cxpipe.sinks.base import Sink
    from cxpipe.sources.base import Source


@dataclass
class Registration:
    kind: str  # "source" | "metric" | "sink" | "table" | "signal" | "action_rule"
    name: str
    plugin: str


@dataclass
class Registry:
    sources: dict[str, type[Source]] = field(default_factory=dict)
    metrics: dict[str, MetricSpec] = field(default_factory=dict)
    sinks: dict[str, type[Sink]] = field(default_factory=dict)
    tables: dict[str, TableSpec] = field(default_factory=dict)
    signals: dict[str, SignalSpec] = field(default_factory=dict)
    action_rules: dict[str, ActionRule] = field(default_factory=dict)
    registrations: list[Registration] = field(default_factory=list)
    _plugin: str = "<direct>"

    @contextmanager
    def registering_for(self, plugin: str) -> Iterator[None]:
        """Attribute what is registered inside the block to ``plugin``."""
        previous, self._plugin = self._plugin, plugin
        try:
            yield
        finally:
            self._plugin = previous

    def _owner(self, kind: str, name: str) -> str | None:
        return next(
            (r.plugin for r in self.registrations if r.kind == kind and r.name == name), None
        )

    def _record(self, kind: str, name: str) -> None:
        owner = self._owner(kind, name)
        if owner is not None:
            raise PluginError(
                f"{kind} {name!r} is registered twice: by plugin {owner!r} and by "
                f"plugin {self._plugin!r}. Rename one, or block a plugin with "
                f"CXPIPE_DISABLED_PLUGINS."
            )
        self.registrations.append(Registration(kind, name, self._plugin))

    def add_source(self, source: type[Source]) -> None:
        kind = getattr(source, "kind", None)
        if not isinstance(kind, str) or not kind:
            raise PluginError(
                f"plugin {self._plugin!r}: source class {source.__qualname__} has no `kind`"
            )
        self._record("source", kind)
        self.sources[kind] = source

    def add_metric(self, spec: MetricSpec) -> None:
        if not isinstance(spec, MetricSpec):
            raise PluginError(
                f"plugin {self._plugin!r}: add_metric() takes what @cxpipe.metric returns, "
                f"not {type(spec).__name__}"
            )
        for name in spec.metric_names:
            other = next((s for s in self.metrics.values() if name in s.metric_names), None)
            if other is not None:
                owner = self._owner("metric", other.name)
                raise PluginError(
                    f"metric {name!r} is emitted by both {other.name!r} (plugin {owner!r}) "
                    f"and {spec.name!r} (plugin {self._plugin!r})"
                )
        self._record("metric", spec.name)
        self.metrics[spec.name] = spec

    def add_sink(self, sink: type[Sink]) -> None:
        fmt = getattr(sink, "format", None)
        if not isinstance(fmt, str) or not fmt:
            raise PluginError(
                f"plugin {self._plugin!r}: sink class {sink.__qualname__} has no `format`"
            )
        self._record("sink", fmt)
        self.sinks[fmt] = sink

    def add_table(self, spec: TableSpec) -> None:
        if not isinstance(spec, TableSpec):
            raise PluginError(f"plugin {self._plugin!r}: add_table() takes what @table returns")
        self._record("table", spec.name)
        self.tables[spec.name] = spec

    def add_signal(self, spec: SignalSpec) -> None:
        if not isinstance(spec, SignalSpec):
            raise PluginError(f"plugin {self._plugin!r}: add_signal() takes what @signal returns")
        self._record("signal", spec.name)
        self.signals[spec.name] = spec

    def add_action_rule(self, rule: ActionRule) -> None:
        if not isinstance(rule, ActionRule):
            raise PluginError(
                f"plugin {self._plugin!r}: add_action_rule() takes what @action_rule returns"
            )
        self._record("action_rule", rule.name)
        self.action_rules[rule.name] = rule

    def owner(self, kind: str, name: str) -> str:
        """The plugin that registered ``name`` (``?`` if none did)."""
        return self._owner(kind, name) or "?"

    def catalog(self) -> list[tuple[MetricInfo, str]]:
        """Every emitted metric with the plugin that registered it, sorted by name."""
        rows = [
            (info, self._owner("metric", spec.name) or "?")
            for spec in self.metrics.values()
            for info in spec.emits
        ]
        return sorted(rows, key=lambda row: row[0].name)

    def source(self, kind: str) -> type[Source]:
        try:
            return self.sources[kind]
        except KeyError:
            known = ", ".join(sorted(self.sources)) or "none"
            raise PluginError(
                f"no source plugin provides kind {kind!r} (loaded kinds: {known}); "
                f"install the plugin or check `cxpipe plugins`"
            ) from None
