"""The generated parts of docs/plugins.md: the hook reference and the contract rules.

Both are rendered from the code (the hookspec docstrings, the rule docstrings) between
marker comments, so the page cannot drift from what cxpipe calls and checks. Regenerate
with ``python -m cxpipe.testing.docs docs/plugins.md``; ``--check`` only reports drift.
"""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from cxpipe import hookspecs
from cxpipe.testing.rules import METRIC_RULES, SOURCE_RULES

_ROLE = re.compile(r":[a-z]+:`(~?)([^`]+)`")


def markdown(text: str) -> str:
    """reST inline markup of docstrings as Markdown: ``x`` and :class:`~a.B` become code."""

    def role(match: re.Match[str]) -> str:
        target = match.group(2)
        return f"`{target.rsplit('.', 1)[-1] if match.group(1) else target}`"

    return _ROLE.sub(role, text).replace("``", "`")


def _signature(function: Callable[..., object]) -> str:
    params = inspect.signature(function).parameters.values()
    shown = ", ".join(f"{p.name}: {p.annotation}" for p in params)
    return f"{function.__name__}({shown})"


def render_hook_reference() -> str:
    """Every hook of :mod:`cxpipe.hookspecs`: its signature, then its docstring."""
    parts = [markdown(inspect.cleandoc(hookspecs.__doc__ or ""))]
    for name in hookspecs.HOOK_NAMES:
        function = getattr(hookspecs, name)
        parts.append(f"### `{_signature(function)}`")
        parts.append(markdown(inspect.cleandoc(function.__doc__ or "")))
    return "\n\n".join(parts)


def _rule_table(rules: Mapping[str, Callable[..., None]]) -> str:
    rows = ["| rule (test) | what it checks |", "|---|---|"]
    for name, rule in rules.items():
        text = markdown(" ".join(inspect.cleandoc(rule.__doc__ or "").split()))
        rows.append(f"| `{name}` | {text.replace('|', '/')} |")
    return "\n".join(rows)


def render_source_rules() -> str:
    return _rule_table(SOURCE_RULES)


def render_metric_rules() -> str:
    return _rule_table(METRIC_RULES)


SECTIONS: Mapping[str, Callable[[], str]] = {
    "hook-reference": render_hook_reference,
    "source-rules": render_source_rules,
    "metric-rules": render_metric_rules,
}
"""Marker name → renderer. A section is ``<!-- BEGIN name -->`` … ``<!-- END name -->``."""


def _block(name: str) -> re.Pattern[str]:
    return re.compile(rf"(<!-- BEGIN {name}[^>]*-->\n)(.*?)(<!-- END {name} -->)", re.DOTALL)


def section(text: str, name: str) -> str:
    """The current content of generated section ``name`` in ``text``."""
    match = _block(name).search(text)
    if match is None:
        raise ValueError(f"no <!-- BEGIN {name} --> … <!-- END {name} --> section")
    return match.group(2).strip("\n")


def update(text: str) -> str:
    """``text`` with every generated section rendered afresh."""
    for name, render in SECTIONS.items():
        match = _block(name).search(text)
        if match is None:
            raise ValueError(f"no <!-- BEGIN {name} --> … <!-- END {name} --> section")
        fresh = f"{match.group(1)}\n{render()}\n\n{match.group(3)}"
        text = text[: match.start()] + fresh + text[match.end() :]
    return text


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    check = "--check" in args
    paths = [Path(a) for a in args if a != "--check"] or [Path("docs/plugins.md")]
    stale = []
    for path in paths:
        text = path.read_text(encoding="utf-8")
        fresh = update(text)
        if fresh != text:
            stale.append(str(path))
            if not check:
                path.write_text(fresh, encoding="utf-8")
    if check and stale:
        print(
            f"out of date: {', '.join(stale)}; run python -m cxpipe.testing.docs", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
