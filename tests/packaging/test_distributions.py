"""Each connector distribution builds as a wheel and works installed alone.

``make setup`` installs cxpipe and every plugin editable with ``--no-deps`` into one venv,
where a plugin that forgets a dependency, leaves a module out of its wheel or leans on
another connector still passes. Here cxpipe's wheel goes into one clean venv (its
dependencies resolved, pinned by requirements.lock); then each connector's wheel is
installed there with only what it declares, checked through ``cxpipe plugins``, an import
of its modules and a search for modules its code imports lazily (``_probe.py``), and
uninstalled again, with all it pulled in, before the next one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from cxpipe.plugins import build_registry, get_plugin_manager

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"
ENTRY_POINT_GROUP = "cxpipe"
CXPIPE_SOURCES = ("pyproject.toml", "README.md", "src")
"""What cxpipe's wheel is built from (the rest of the repository is not packaged)."""
NOT_SOURCES = shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__", ".*")
"""Build and cache leftovers of the work tree, never copied into a build."""


def _canonical(name: str) -> str:
    """A distribution name as installers compare them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Distribution:
    """A distribution as its pyproject.toml declares it."""

    name: str
    version: str
    source: Path
    plugins: Mapping[str, str]
    """Its entry points in the ``cxpipe`` group: plugin name to module."""

    @classmethod
    def read(cls, source: Path) -> Distribution:
        project = tomllib.loads((source / "pyproject.toml").read_text("utf-8"))["project"]
        group = project.get("entry-points", {}).get(ENTRY_POINT_GROUP, {})
        return cls(project["name"], project["version"], source, dict(group))

    @property
    def key(self) -> str:
        return _canonical(self.name)

    @property
    def packages(self) -> list[str]:
        """The top-level packages its entry points live in."""
        return sorted({value.split(":")[0].split(".")[0] for value in self.plugins.values()})


CXPIPE = Distribution.read(ROOT)
CONNECTORS = [
    Distribution.read(path.parent) for path in sorted(ROOT.glob("plugins/cxpipe-*/pyproject.toml"))
]
"""The connector distributions, found as the Makefile finds them."""

_LEAKS = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "CXPIPE_DISABLED_PLUGINS")
ENV = {name: value for name, value in os.environ.items() if name not in _LEAKS} | {
    "PYTHONNOUSERSITE": "1",
    # `cxpipe plugins` prints a rich table: wide enough not to wrap, box characters in UTF-8.
    "COLUMNS": "200",
    "NO_COLOR": "1",
    "PYTHONIOENCODING": "utf-8",
    "UV_PYTHON_DOWNLOADS": "never",
    "UV_NO_PROGRESS": "1",
}
"""The subprocesses' environment: nothing from this venv or the source tree leaks in."""

PROBE = Path(__file__).with_name("_probe.py")
"""Imports a package's modules and finds what they import, in the clean venv."""


def _run(*args: str | Path, cwd: Path) -> str:
    """Run a command and return its output; fail the test with all of it if it fails."""
    command = [str(arg) for arg in args]
    done = subprocess.run(
        command,
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(
            f"`{' '.join(command)}` exited {done.returncode}\n"
            f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}",
            pytrace=False,
        )
    return done.stdout


@dataclass
class Listed:
    """One plugin's row of ``cxpipe plugins``."""

    origin: str
    registers: list[str] = field(default_factory=list)


def parse_plugins_table(text: str) -> dict[str, Listed]:
    """The rows of ``cxpipe plugins``: a plugin's first line names it and where it came
    from, each line of the last column is one registration ``"<kind> <name>"``."""
    listed: dict[str, Listed] = {}
    current: Listed | None = None
    for line in text.splitlines():
        if not line.startswith("│"):
            continue
        plugin, origin, registers = (cell.strip() for cell in line.strip()[1:-1].split("│"))
        if plugin:
            current = listed[plugin] = Listed(origin)
        if current is not None and registers and registers != "(hooks only)":
            current.registers.append(registers)
    assert listed, f"no plugin table in the output of `cxpipe plugins`:\n{text}"
    return listed


@dataclass(frozen=True)
class Probed:
    """What ``_probe.py`` reports."""

    found: dict[str, Path]
    """Where each package was imported from."""
    missing: dict[str, list[str]]
    """Modules whose code imports modules that are not installed, with those modules."""


@dataclass(frozen=True)
class CleanVenv:
    """A virtual environment that holds only what was installed into it here."""

    path: Path
    uv: Path

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    def pip(self, command: str, *args: str | Path) -> str:
        return _run(self.uv, "pip", command, "--python", self.python, *args, cwd=self.path)

    def installed(self) -> dict[str, str]:
        """Installed distributions, canonical name to version."""
        rows = json.loads(self.pip("list", "--format", "json"))
        return {_canonical(row["name"]): row["version"] for row in rows}

    def plugins(self) -> dict[str, Listed]:
        return parse_plugins_table(_run(self.path / "bin" / "cxpipe", "plugins", cwd=self.path))

    def probe(self, packages: list[str]) -> Probed:
        """Import every module of ``packages`` here and look for what their code imports."""
        result = json.loads(_run(self.python, "-I", PROBE, *packages, cwd=self.path))
        return Probed(
            {name: Path(file) for name, file in result["found"].items()}, result["missing"]
        )


@pytest.fixture(scope="module")
def uv() -> Path:
    """uv from this venv (requirements.lock pins it), else from PATH."""
    for candidate in (Path(sysconfig.get_path("scripts")) / "uv", shutil.which("uv")):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    message = "uv is not installed: run `make setup` (requirements.lock pins it)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="module")
def wheels(uv: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """cxpipe's wheel and each connector's, by canonical name, built from copies.

    Copies, because setuptools writes build/ and *.egg-info into the tree it builds: in the
    work tree a stale build/lib could slip deleted modules into a wheel, and other work goes
    on there. Built in parallel: a build mostly waits on its isolated build environment.
    """
    root = tmp_path_factory.mktemp("wheels")

    def build(dist: Distribution) -> Path:
        source, out = root / "src" / dist.key, root / "dist" / dist.key
        if dist is CXPIPE:
            source.mkdir(parents=True)
            for name in CXPIPE_SOURCES:
                if (ROOT / name).is_dir():
                    shutil.copytree(ROOT / name, source / name, ignore=NOT_SOURCES)
                else:
                    shutil.copy2(ROOT / name, source / name)
        else:
            shutil.copytree(dist.source, source, ignore=NOT_SOURCES)
        _run(uv, "build", "--wheel", "--python", sys.executable, "--out-dir", out, source, cwd=root)
        (wheel,) = out.glob("*.whl")
        return wheel

    dists = [CXPIPE, *CONNECTORS]
    with ThreadPoolExecutor(max_workers=4) as pool:
        return {dist.key: wheel for dist, wheel in zip(dists, pool.map(build, dists), strict=True)}


@pytest.fixture(scope="module")
def venv(uv: Path, wheels: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> CleanVenv:
    """One clean venv: cxpipe from its wheel with its dependencies, nothing else."""
    path = tmp_path_factory.mktemp("clean") / "venv"
    _run(uv, "venv", "--python", sys.executable, path, cwd=path.parent)
    venv = CleanVenv(path, uv)
    venv.pip("install", "--constraint", LOCK, wheels[CXPIPE.key])
    return venv


@pytest.fixture(scope="module")
def dev_registrations() -> dict[str, list[str]]:
    """What each plugin registers here, in the development venv where every connector is
    installed editable: from its wheel in a clean venv it must register the same."""
    registry = build_registry(get_plugin_manager())
    by_plugin: dict[str, list[str]] = {}
    for registration in registry.registrations:
        by_plugin.setdefault(registration.plugin, []).append(
            f"{registration.kind} {registration.name}"
        )
    return {plugin: sorted(registers) for plugin, registers in by_plugin.items()}


@dataclass(frozen=True)
class InstalledConnector:
    dist: Distribution
    baseline: dict[str, str]
    """The venv before: cxpipe and its dependencies."""
    added: dict[str, str]
    """Distributions its install added or changed, canonical name to version."""


@pytest.fixture(params=CONNECTORS, ids=[dist.name for dist in CONNECTORS])
def connector(
    request: pytest.FixtureRequest, venv: CleanVenv, wheels: dict[str, Path]
) -> Iterator[InstalledConnector]:
    """One connector installed into the clean venv with what it declares (versions from
    requirements.lock); uninstalled afterwards with all it pulled in, so that the next
    connector is checked alone and cannot lean on this one's dependencies."""
    dist: Distribution = request.param
    baseline = venv.installed()
    # cxpipe's wheel named again so that `cxpipe>=0.1` can only resolve to it.
    venv.pip("install", "--constraint", LOCK, wheels[CXPIPE.key], wheels[dist.key])
    after = venv.installed()
    added = {name: version for name, version in after.items() if baseline.get(name) != version}
    yield InstalledConnector(dist, baseline, added)
    venv.pip("uninstall", *(name for name in added if name not in baseline))
    assert venv.installed() == baseline, "the clean venv did not return to cxpipe alone"


def test_cxpipe_alone_lists_only_the_builtin_plugin(
    venv: CleanVenv, dev_registrations: dict[str, list[str]]
) -> None:
    installed = venv.installed()
    assert installed[CXPIPE.key] == CXPIPE.version
    assert not [name for name in installed if name.startswith("cxpipe-")]
    venv.pip("check")
    listed = venv.plugins()
    assert list(listed) == ["builtin"]
    assert listed["builtin"].origin == f"entry point of {CXPIPE.name} {CXPIPE.version}"
    assert sorted(listed["builtin"].registers) == dev_registrations["builtin"]


def test_connector_installs_and_works_alone(
    connector: InstalledConnector, venv: CleanVenv, dev_registrations: dict[str, list[str]]
) -> None:
    dist = connector.dist
    assert dist.plugins, f"{dist.name} declares no entry point in group {ENTRY_POINT_GROUP!r}"
    assert connector.added.get(dist.key) == dist.version, f"{dist.name} was not installed"
    changed = sorted(name for name in connector.added if name in connector.baseline)
    assert not changed, f"installing {dist.name} changed cxpipe's dependencies {changed}"
    others = sorted(name for name in connector.added if name.startswith("cxpipe"))
    assert others == [dist.key], f"installing {dist.name} pulled in other connectors"
    venv.pip("check")

    listed = venv.plugins()
    assert sorted(listed) == sorted({"builtin", *dist.plugins})
    for plugin in dist.plugins:
        assert listed[plugin].origin == f"entry point of {dist.name} {dist.version}"
        registers = sorted(listed[plugin].registers)
        assert [r for r in registers if r.startswith("source ")], f"{plugin} lists no source"
        assert registers == dev_registrations.get(plugin), "not what it registers in the work tree"

    probed = venv.probe(dist.packages)
    assert sorted(probed.found) == dist.packages
    for location in probed.found.values():
        assert location.resolve().is_relative_to(venv.path.resolve()), "not its wheel's copy"
    assert not probed.missing, f"imported but not installed with {dist.name}: {probed.missing}"
