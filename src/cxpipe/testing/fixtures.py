"""Canonical frames for plugin tests: realistic rows with the exact canonical schema.

Rows come from cxpipe's seeded demo generator (:func:`cxpipe.demo.generator.generate`),
so they hold what real data holds: several clients over two years, missing scores, IT
self-assessments, unresolved tickets. Overrides replace whole columns, so a test only
names what its case is about::

    make_tickets(50, priority="critical", client_id=["A", "B"] * 25)
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any, Protocol

import polars as pl

from cxpipe.demo.generator import DemoData, generate
from cxpipe.schemas import PROJECTS, SURVEY_RESPONSES, TICKETS, Entity, get_entity

DEFAULT_SEED = 7
DEFAULT_ROWS = 100
DEMO_TICKETS = 300
"""Tickets in the demo data the other entities are drawn from (their counts do not depend
on it much: some 200 projects and 1 200 survey responses)."""

Override = Any
"""A constant, a sequence of ``n`` values, a :class:`polars.Series` or a polars expression
over the frame's other columns."""


class FrameFactory(Protocol):
    """``make_tickets``-style factories: ``(n=100, *, seed=7, **overrides) -> DataFrame``."""

    def __call__(self, n: int = ..., *, seed: int = ..., **overrides: Any) -> pl.DataFrame: ...


@lru_cache(maxsize=16)
def demo_data(seed: int = DEFAULT_SEED, tickets: int = DEMO_TICKETS) -> DemoData:
    """The seeded demo's six entities (remembered: the same arguments, the same frames)."""
    return generate(seed, tickets=tickets)


def canonical_inputs(
    seed: int = DEFAULT_SEED, tickets: int = DEMO_TICKETS
) -> dict[str, pl.DataFrame]:
    """Every canonical entity of one demo, by entity name: default metric inputs."""
    return demo_data(seed, tickets).frames()


def _id_column(entity: Entity) -> str:
    return next(c for c in reversed(entity.primary_key) if c.endswith("_id"))


def _rows(entity: Entity, n: int, seed: int) -> pl.DataFrame:
    if entity.name == TICKETS.name:
        return demo_data(seed, max(n, 1)).tickets.head(n)
    source = demo_data(seed).frames()[entity.name]
    if n <= source.height:
        picked = source.sample(n, seed=seed)
    else:  # more rows than the demo has: repeat it, with new ids
        key = _id_column(entity)
        copies = -(-n // source.height)
        picked = pl.concat(
            source.with_columns(pl.col(key) + (f"-{i}" if i else "")) for i in range(copies)
        ).head(n)
    return picked.sort(list(entity.primary_key))


def _scalar(value: Any, dtype: pl.DataType) -> Any:
    """ISO text for a temporal column becomes a date or a (UTC when naive) datetime."""
    if isinstance(value, str) and isinstance(dtype, pl.Datetime):
        parsed = datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if isinstance(value, str) and isinstance(dtype, pl.Date):
        return date.fromisoformat(value)
    return value


def _column(name: str, value: Override, n: int, dtype: pl.DataType) -> pl.Expr | pl.Series:
    if isinstance(value, pl.Expr):
        return value.cast(dtype).alias(name)
    if isinstance(value, pl.Series):
        value = value.to_list()
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        values = pl.Series(name, [_scalar(v, dtype) for v in value], dtype=dtype, strict=True)
        if values.len() != n:
            raise ValueError(f"override {name!r} has {values.len()} values for {n} rows")
        return values
    if isinstance(value, date | datetime | str | int | float | bool) or value is None:
        return pl.lit(_scalar(value, dtype)).cast(dtype).alias(name)
    raise TypeError(f"override {name!r}: cannot use a {type(value).__name__} as a column")


def make_frame(
    entity: str | Entity, n: int = DEFAULT_ROWS, *, seed: int = DEFAULT_SEED, **overrides: Override
) -> pl.DataFrame:
    """``n`` rows of ``entity`` with its exact canonical schema, columns replaced by
    ``overrides`` (expressions are evaluated after the other overrides, so they see them).
    The same arguments give the same frame."""
    if isinstance(entity, str):
        entity = get_entity(entity)
    if n < 0:
        raise ValueError(f"n must not be negative, got {n}")
    schema = entity.polars_schema
    for name in overrides:
        if name not in schema:
            close = difflib.get_close_matches(name, schema.names(), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise KeyError(f"{entity.name} has no column {name!r}{hint}")
    frame = _rows(entity, n, seed) if n else entity.empty()
    # Values first, then expressions, so an expression sees the overridden values.
    values = {k: v for k, v in overrides.items() if not isinstance(v, pl.Expr)}
    exprs = {k: v for k, v in overrides.items() if isinstance(v, pl.Expr)}
    for group in (values, exprs):
        if group:
            frame = frame.with_columns(
                _column(name, value, n, schema[name]) for name, value in group.items()
            )
    return frame.select(pl.col(name).cast(dtype) for name, dtype in schema.items())


def make_tickets(
    n: int = DEFAULT_ROWS, *, seed: int = DEFAULT_SEED, **overrides: Any
) -> pl.DataFrame:
    """``n`` canonical tickets (see :func:`make_frame`)."""
    return make_frame(TICKETS, n, seed=seed, **overrides)


def make_survey_responses(
    n: int = DEFAULT_ROWS, *, seed: int = DEFAULT_SEED, **overrides: Any
) -> pl.DataFrame:
    """``n`` canonical survey responses (see :func:`make_frame`)."""
    return make_frame(SURVEY_RESPONSES, n, seed=seed, **overrides)


def make_projects(
    n: int = DEFAULT_ROWS, *, seed: int = DEFAULT_SEED, **overrides: Any
) -> pl.DataFrame:
    """``n`` canonical projects (see :func:`make_frame`)."""
    return make_frame(PROJECTS, n, seed=seed, **overrides)


__all__ = [
    "FrameFactory",
    "canonical_inputs",
    "demo_data",
    "make_frame",
    "make_projects",
    "make_survey_responses",
    "make_tickets",
]
