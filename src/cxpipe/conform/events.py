"""Folding an event log (one row per ticket event) into one row per ticket.

Many ITSM exports are audit trails: every state change or reassignment is a row, and
case-level fields repeat on each. By default every column takes the value of the ticket's
last event; the config names the columns that take the first, minimum or maximum value,
and timestamps derived from the events (first response = first time the ticket entered an
``Active`` state). Parse errors of any event stay with the ticket, so a bad event sends
its ticket to quarantine instead of vanishing.
"""

from __future__ import annotations

import polars as pl

from cxpipe.config import EventLogFold
from cxpipe.errors import ConformError


def fold_events(frame: pl.LazyFrame, fold: EventLogFold, *, source: str) -> pl.LazyFrame:
    names = frame.collect_schema().names()
    referenced = [
        fold.key,
        *fold.order_by,
        *fold.first,
        *fold.min,
        *fold.max,
        *(c for rule in fold.first_when.values() for c in (rule.at, rule.column)),
    ]
    missing = [c for c in referenced if c not in names]
    if missing:
        raise ConformError(
            f"source {source!r}: events refers to {', '.join(map(repr, missing))}, which is not "
            f"a canonical column or a `keep` column after mapping"
        )
    special = {
        fold.key,
        "_cx_errors",
        "_cx_file",
        "_cx_row",
        *fold.first,
        *fold.min,
        *fold.max,
        *fold.first_when,
    }
    order = [*fold.order_by, "_cx_row"]  # input order breaks ties, so the fold is deterministic
    aggs: list[pl.Expr] = [pl.col(c).sort_by(order).last() for c in names if c not in special]
    aggs += [pl.col(c).sort_by(order).first() for c in fold.first]
    aggs += [pl.col(c).min() for c in fold.min]
    aggs += [pl.col(c).max() for c in fold.max]
    aggs += [
        pl.col(rule.at).filter(pl.col(rule.column).is_in(rule.values)).min().alias(target)
        for target, rule in fold.first_when.items()
    ]
    aggs += [
        pl.col("_cx_errors")
        .list.explode(keep_nulls=False, empty_as_null=False)
        .alias("_cx_errors"),
        pl.col("_cx_file").sort_by(order).first(),
        pl.col("_cx_row").min(),
        pl.len().cast(pl.Int64).alias("_cx_events"),
    ]
    folded = frame.filter(pl.col(fold.key).is_not_null()).group_by(fold.key).agg(aggs)
    keyless = frame.filter(pl.col(fold.key).is_null()).with_columns(
        _cx_events=pl.lit(1, dtype=pl.Int64)
    )
    # Events without a key cannot be folded; they pass through as their own rows so that
    # validation quarantines them (a required key is null) instead of losing them.
    return pl.concat([folded, keyless], how="diagonal_relaxed").select(*names, "_cx_events")
