"""Run by a clean venv's Python as ``python -I _probe.py PACKAGE...``; prints JSON.

Imports every module of the packages named, which catches a dependency missing at module
level, then finds (without importing) every module their code imports anywhere: a driver
loaded inside a function on first connect is missed by importing alone. Modules named
``testing`` are left out: they need their distribution's ``test`` extra.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import json
import pkgutil
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

OPTIONAL = {"ImportError", "ModuleNotFoundError"}


def walk(package: ModuleType) -> Iterator[ModuleType]:
    """The package and all its modules, each imported."""
    yield package
    for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
        if info.name.rpartition(".")[2] == "testing":
            continue
        module = importlib.import_module(info.name)
        if info.ispkg:
            yield from walk(module)
        else:
            yield module


class Imports(ast.NodeVisitor):
    """Absolute imports anywhere in a module, ``importlib.import_module("…")`` calls too;
    not under ``if TYPE_CHECKING:`` (never run) nor in a ``try`` that catches ImportError
    (optional by design)."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
        for child in node.orelse if name == "TYPE_CHECKING" else [test, *node.body, *node.orelse]:
            self.visit(child)

    def visit_Try(self, node: ast.Try) -> None:
        caught = {ast.unparse(handler.type) for handler in node.handlers if handler.type}
        optional = any(name.split(".")[-1] in OPTIONAL for name in caught)
        for child in [*([] if optional else node.body), *node.handlers, *node.orelse]:
            self.visit(child)
        for child in node.finalbody:
            self.visit(child)

    def visit_Import(self, node: ast.Import) -> None:
        self.names.update(alias.name for alias in node.names)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level == 0 and node.module:
            self.names.add(node.module)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if name == "import_module" and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                self.names.add(first.value)
        self.generic_visit(node)


def main(packages: list[str]) -> None:
    found: dict[str, str] = {}
    missing: dict[str, list[str]] = {}
    for name in packages:
        for module in walk(importlib.import_module(name)):
            if module.__name__ == name:
                found[name] = str(module.__file__)
            source = Path(str(module.__file__)).read_text(encoding="utf-8")
            imports = Imports()
            imports.visit(ast.parse(source))
            absent = sorted(
                imported
                for imported in imports.names
                if importlib.util.find_spec(imported.partition(".")[0]) is None
            )
            if absent:
                missing[module.__name__] = absent
    print(json.dumps({"found": found, "missing": missing}))


if __name__ == "__main__":
    main(sys.argv[1:])
