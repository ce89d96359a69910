"""HTML built from parts that are escaped unless they are already markup.

The scorecard shows text that clients typed (survey comments) and names that come from
source systems, so nothing is pasted into the page raw: :func:`el` escapes every child and
attribute value that is not a :class:`Markup`, and only :func:`el` and :func:`raw` make
:class:`Markup`. A forgotten escape therefore shows up as visible ``&lt;`` in the page,
never as a live element.
"""

from __future__ import annotations

import html
from collections.abc import Iterable

VOID = frozenset({"meta", "br", "hr", "img", "input", "link"})
"""Elements without a closing tag."""


class Markup(str):
    """Text that is already HTML. Made only by :func:`el`, :func:`raw` and :func:`escape`."""

    __slots__ = ()


AttrValue = str | int | float | bool | None
Node = Markup | str | int | float | Iterable["Node"] | None


def escape(value: object) -> Markup:
    """``value`` as HTML text: markup stays as it is, anything else is escaped (quotes too)."""
    if isinstance(value, Markup):
        return value
    return Markup(html.escape(str(value), quote=True))


def raw(text: str) -> Markup:
    """Trusted HTML written in this package (the stylesheet, the script), never data."""
    return Markup(text)


def _children(node: Node) -> Iterable[Markup]:
    if node is None or node is False:
        return
    if isinstance(node, str | int | float):
        yield escape(node)
        return
    for child in node:
        yield from _children(child)


def _attribute(name: str, value: AttrValue) -> str:
    """``class_`` → ``class``, ``data_scope`` → ``data-scope``; ``True`` → bare attribute."""
    key = name.rstrip("_").replace("_", "-")
    if value is True:
        return f" {key}"
    return f' {key}="{escape(value)}"'


def el(tag: str, *children: Node, **attrs: AttrValue) -> Markup:
    """One element: ``el("td", text, class_="num")``. ``None``/``False`` attributes are left
    out and ``None`` children are skipped, so optional parts need no branches."""
    opening = tag + "".join(
        _attribute(name, value) for name, value in attrs.items() if value not in (None, False)
    )
    if tag in VOID:
        return Markup(f"<{opening}>")
    return Markup(f"<{opening}>{''.join(_children(children))}</{tag}>")


def join(*nodes: Node) -> Markup:
    """Several nodes side by side, with no element around them."""
    return Markup("".join(_children(nodes)))
