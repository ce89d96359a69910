"""Test-class factories: a plugin's whole contract test suite in three lines.

Modelled on the Meltano Singer SDK's ``get_tap_test_class``::

    from cxpipe.testing import get_metric_test_class, get_source_test_class

    TestMySource = get_source_test_class(MySource, config={"entity": "tickets", ...})
    TestMyMetric = get_metric_test_class(my_metric)

Each class has one test per rule of :mod:`cxpipe.testing.rules` (``test_<rule>``), so a
failure names the rule broken. The source or metric is run once per class (class-scoped
fixtures), however many rules read the result.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import polars as pl
import pytest

from cxpipe.config import SourceConfig
from cxpipe.metrics.base import GRAINS, Grain, MetricSpec
from cxpipe.schemas import get_entity
from cxpipe.sources.base import Source
from cxpipe.testing.fixtures import canonical_inputs
from cxpipe.testing.rules.metrics import METRIC_RULES, MetricCase, MetricRule
from cxpipe.testing.rules.sources import SOURCE_RULES, SourceCase, SourceRule

ConfigData = Mapping[str, Any]
ConfigFactory = Callable[..., ConfigData]
"""Returns the ``[[sources]]`` table. Its parameters are pytest fixture names, resolved like
a test's (class-, module- or session-scoped ones: the class reads its source once);
``cxpipe_source_dir`` is a fresh folder of the class's own, to write fixture files in,
and relative paths in the options then resolve against it. A function of one parameter
that names no fixture is given that folder."""


def _check_skip(skip: Mapping[str, str] | None, rules: Mapping[str, object]) -> dict[str, str]:
    unknown = set(skip or {}) - set(rules)
    if unknown:
        raise ValueError(f"unknown rule(s) to skip: {sorted(unknown)}; rules: {', '.join(rules)}")
    return dict(skip or {})


@dataclass(frozen=True)
class SourceSettings:
    """What :func:`get_source_test_class` was given."""

    source_cls: type[Source]
    config: ConfigData | ConfigFactory
    since: datetime | None = None
    since_tolerance: timedelta = timedelta(0)
    base_dir: Path | None = None
    timeout: float = 30.0
    skip: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MetricSettings:
    """What :func:`get_metric_test_class` was given."""

    spec: MetricSpec
    inputs: Mapping[str, pl.DataFrame] | None = None
    grains: tuple[Grain, ...] = GRAINS
    settings: Mapping[str, Any] = field(default_factory=dict)
    window: tuple[date, date] | None = None
    skip: Mapping[str, str] = field(default_factory=dict)


def _source_test(name: str, rule: SourceRule) -> Callable[..., None]:
    def test(self: SourceContract, cxpipe_source_case: SourceCase) -> None:
        if name in self.cxpipe.skip:
            pytest.skip(self.cxpipe.skip[name])
        rule(cxpipe_source_case)

    test.__name__ = test.__qualname__ = f"test_{name}"
    test.__doc__ = rule.__doc__
    return test


def _metric_test(name: str, rule: MetricRule) -> Callable[..., None]:
    def test(self: MetricContract, cxpipe_metric_case: MetricCase) -> None:
        if name in self.cxpipe.skip:
            pytest.skip(self.cxpipe.skip[name])
        rule(cxpipe_metric_case)

    test.__name__ = test.__qualname__ = f"test_{name}"
    test.__doc__ = rule.__doc__
    return test


class SourceContract:
    """Base of the classes :func:`get_source_test_class` returns (not collected itself).

    A config that needs other fixtures (a local HTTP server's URL) is a function of them
    (see :data:`ConfigFactory`); overriding the class-scoped ``cxpipe_source_config``
    fixture in a subclass works too.
    """

    cxpipe: ClassVar[SourceSettings]

    @pytest.fixture(scope="class")
    @classmethod
    def cxpipe_source_dir(cls, tmp_path_factory: pytest.TempPathFactory) -> Path:
        """A folder of the class's own, for fixture files a config factory writes."""
        return tmp_path_factory.mktemp("cxpipe-source")

    @pytest.fixture(scope="class")
    @classmethod
    def cxpipe_source_config(
        cls, cxpipe_source_dir: Path, request: pytest.FixtureRequest
    ) -> ConfigData:
        """The ``[[sources]]`` table (as a dict) the source is tested with."""
        config = cls.cxpipe.config
        if not callable(config):
            return config
        names = list(inspect.signature(config).parameters)
        values: list[Any] = []
        for name in names:
            try:
                values.append(request.getfixturevalue(name))
            except pytest.FixtureLookupError:
                if len(names) != 1:
                    raise
                values.append(cxpipe_source_dir)  # the documented "function of a folder"
        return config(*values)

    @pytest.fixture(scope="class")
    @classmethod
    def cxpipe_source_case(
        cls, cxpipe_source_config: ConfigData, cxpipe_source_dir: Path
    ) -> SourceCase:
        """The source under test with its config; extracts are read once per class."""
        settings = cls.cxpipe
        base_dir = settings.base_dir
        if base_dir is None and callable(settings.config):
            base_dir = cxpipe_source_dir
        return SourceCase(
            settings.source_cls,
            source_config(settings.source_cls, cxpipe_source_config),
            since=settings.since,
            since_tolerance=settings.since_tolerance,
            base_dir=base_dir,
            timeout=settings.timeout,
        )


class MetricContract:
    """Base of the classes :func:`get_metric_test_class` returns (not collected itself).

    Override the class-scoped ``cxpipe_metric_inputs`` fixture in a subclass to build the
    inputs from other fixtures.
    """

    cxpipe: ClassVar[MetricSettings]

    @pytest.fixture(scope="class")
    @classmethod
    def cxpipe_metric_inputs(cls) -> Mapping[str, pl.DataFrame]:
        """The canonical frames the metric is tested on (by entity name)."""
        settings = cls.cxpipe
        if settings.inputs is not None:
            return settings.inputs
        wanted = (*settings.spec.inputs, *settings.spec.optional_inputs)
        return {name: frame for name, frame in canonical_inputs().items() if name in wanted}

    @pytest.fixture(scope="class")
    @classmethod
    def cxpipe_metric_case(cls, cxpipe_metric_inputs: Mapping[str, pl.DataFrame]) -> MetricCase:
        """The metric with its inputs; results are computed once per grain per class."""
        settings = cls.cxpipe
        return MetricCase(
            settings.spec,
            cxpipe_metric_inputs,
            grains=settings.grains,
            settings=settings.settings,
            window=settings.window,
        )


for _name, _rule in SOURCE_RULES.items():
    setattr(SourceContract, f"test_{_name}", _source_test(_name, _rule))
for _metric_name, _metric_rule in METRIC_RULES.items():
    setattr(MetricContract, f"test_{_metric_name}", _metric_test(_metric_name, _metric_rule))


def source_config(source_cls: type[Source], data: ConfigData) -> SourceConfig:
    """A :class:`SourceConfig` from a ``[[sources]]`` table; ``name`` and ``kind`` default
    to the source's kind."""
    kind = getattr(source_cls, "kind", None)
    if "kind" in data and data["kind"] != kind:
        raise ValueError(f"config kind {data['kind']!r} is not {source_cls.__name__}'s {kind!r}")
    return SourceConfig.model_validate(
        {"name": f"contract-{kind}", "kind": kind or "unknown", **data}
    )


def get_source_test_class(
    source_cls: type[Source],
    *,
    config: ConfigData | ConfigFactory,
    since: datetime | None = None,
    since_tolerance: timedelta = timedelta(0),
    base_dir: str | Path | None = None,
    timeout: float = 30.0,
    skip: Mapping[str, str] | None = None,
) -> type[SourceContract]:
    """A pytest class checking ``source_cls`` against every rule of
    :data:`~cxpipe.testing.rules.SOURCE_RULES`.

    ``config`` is the source's ``[[sources]]`` table as a dict (``entity``, ``options``,
    ``columns``…; ``name`` and ``kind`` are filled in), or a function of fixtures that
    returns it (see :data:`ConfigFactory`). ``since`` (a UTC watermark) turns on the
    incremental rule; ``since_tolerance`` is how far before ``since`` an incremental read
    may deliberately start (an API filtering by the minute, a safety overlap: the runner's
    key merge drops the re-read rows). Relative paths in the options resolve against
    ``base_dir``. ``timeout`` bounds one extract in seconds. ``skip`` maps rule names to
    the reason a rule does not apply.
    """
    if since_tolerance < timedelta(0):
        raise ValueError("since_tolerance must not be negative")
    skips = _check_skip(skip, SOURCE_RULES)
    if not callable(config):
        parsed = source_config(source_cls, config)  # a bad table fails at import
        if get_entity(parsed.entity).watermark is None:
            skips.setdefault("since_filters", f"{parsed.entity} are not read incrementally")
    if since is None:
        skips.setdefault("since_filters", "no `since` given to check an incremental read with")
    elif since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    given = SourceSettings(
        source_cls,
        config,
        since=since,
        since_tolerance=since_tolerance,
        base_dir=None if base_dir is None else Path(base_dir),
        timeout=timeout,
        skip=skips,
    )
    return type(f"Test{source_cls.__name__}Contract", (SourceContract,), {"cxpipe": given})


def get_metric_test_class(
    spec: MetricSpec,
    *,
    inputs: Mapping[str, pl.DataFrame] | None = None,
    grains: tuple[Grain, ...] = GRAINS,
    settings: Mapping[str, Any] | None = None,
    window: tuple[date, date] | None = None,
    skip: Mapping[str, str] | None = None,
) -> type[MetricContract]:
    """A pytest class checking a metric (what ``@cxpipe.metric`` returns) against every rule
    of :data:`~cxpipe.testing.rules.METRIC_RULES`.

    ``inputs`` maps entity names to frames; by default the kit's canonical demo frames
    (:func:`cxpipe.testing.fixtures.canonical_inputs`). ``settings`` is the config's
    ``[metrics]`` table; ``window`` the run's data window (derived from the inputs when
    unset). ``skip`` maps rule names to the reason a rule does not apply.
    """
    if not isinstance(spec, MetricSpec):
        raise TypeError(
            f"get_metric_test_class() takes what @cxpipe.metric returns, not {spec!r}; "
            f"decorate the function with @cxpipe.metric(...)"
        )
    missing = [name for name in spec.inputs if inputs is not None and name not in inputs]
    if missing:
        raise ValueError(f"metric {spec.name!r} reads {', '.join(missing)}; add them to `inputs`")
    if not grains:
        raise ValueError("grains must name at least one of " + ", ".join(GRAINS))
    given = MetricSettings(
        spec,
        inputs,
        grains=tuple(grains),
        settings=dict(settings or {}),
        window=window,
        skip=_check_skip(skip, METRIC_RULES),
    )
    name = "".join(part.capitalize() for part in spec.name.replace(".", "_").split("_"))
    return type(f"Test{name}Contract", (MetricContract,), {"cxpipe": given})


__all__ = [
    "MetricContract",
    "MetricSettings",
    "SourceContract",
    "SourceSettings",
    "get_metric_test_class",
    "get_source_test_class",
    "source_config",
]
