"""Turning rows into metric values at the catalog's grain, lazily.

Every metric of METRICS.md is emitted per period and per client, plus an all-clients row
(``client_id`` null), optionally split by a segment column. The helpers here do that one
way for everybody, so a metric body only says *which* rows count and *what* to aggregate.
The all-clients row is aggregated from the rows themselves, never averaged from the
per-client values, so medians and ratios stay exact.

Values are the same bits however the engine splits the rows into batches, so a run
partitioned by client gives exactly what one process gives (docs/distributed.md). Two
habits keep it so: float sums go through :func:`exact_sum` (a plain float sum adds in
whatever order the engine's threads finish), and a division by a constant is written as a
multiplication by its reciprocal (polars divides a column by a number that way, except in
a one-row batch, where it divides exactly; see ``HOURS_PER_MICROSECOND``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import polars as pl

from cxpipe.metrics.base import HOURS_PER_MICROSECOND, Grain

_STEP: dict[str, str] = {"week": "1w", "month": "1mo", "quarter": "1q", "year": "1y"}

RESULT_SCHEMA: pl.Schema = pl.Schema(
    {
        "metric": pl.String,
        "period_grain": pl.String,
        "period_start": pl.Date,
        "period_end": pl.Date,
        "client_id": pl.String,
        "segment": pl.String,
        "value": pl.Float64,
        "numerator": pl.Float64,
        "denominator": pl.Float64,
        "sample_size": pl.Int64,
    }
)


def period_start(column: str | pl.Expr, grain: Grain) -> pl.Expr:
    """The first day of the period an instant or date falls in (weeks start on Monday)."""
    expr = pl.col(column) if isinstance(column, str) else column
    return expr.dt.truncate(_STEP[grain]).cast(pl.Date)


def period_end(start: pl.Expr, grain: Grain) -> pl.Expr:
    """The last day inside the period that begins at ``start`` (inclusive)."""
    return start.dt.offset_by(_STEP[grain]).dt.offset_by("-1d")


def period_range(first: str | pl.Expr, last: str | pl.Expr, grain: Grain) -> pl.Expr:
    """The start of every period from the one holding ``first`` to the one holding ``last``.

    A list per row (``explode`` it); for state metrics (retention, backlog) that must emit a
    row for every period of a span, including periods without any event in them.
    """
    return pl.date_ranges(period_start(first, grain), period_start(last, grain), _STEP[grain])


_FIXED_POINT: float = 2.0**64
"""Fixed-point scale of :func:`exact_sum`: 64 fractional bits in an Int128."""
_FIXED_LIMIT: float = 2.0**62
"""Largest Σ|x| :func:`exact_sum` adds in fixed point; the Int128 holds 2**63 × 2**64."""


def exact_sum(x: pl.Expr) -> pl.Expr:
    """Σ ``x`` as a float that does not depend on the order the values are added in.

    Float addition is not associative, and the engine adds partial sums in whatever order
    its threads finish, so ``x.sum()`` can differ in the last bit between two runs on the
    same rows. Here each value is scaled by 2**64 (exact: a power of two) and summed as an
    Int128, where addition is exact and associative, then converted back once. Bits of a
    value below 2**-64 are dropped (the same ones every time). Nulls are skipped like
    ``sum()``; with a NaN or an infinity, or when Σ|x| reaches 2**62, it falls back to the
    plain float sum (a non-finite result is the same in any order; such totals are not
    metric values).
    """
    value = x.cast(pl.Float64)
    fixed = (value * _FIXED_POINT).cast(pl.Int128, strict=False).sum().cast(pl.Float64)
    return (
        pl.when(value.abs().sum() < _FIXED_LIMIT)
        .then(fixed * (1 / _FIXED_POINT))
        .otherwise(value.sum())
    )


def exact_mean(x: pl.Expr) -> pl.Expr:
    """The mean of the non-null ``x`` by :func:`exact_sum`: the same bits whichever order the
    engine adds them in (a plain ``mean()`` over groups or windows is not). Null when there
    is no value, as ``mean()``."""
    return pl.when(x.count() > 0).then(exact_sum(x) / x.count())


def roll_up(frame: pl.LazyFrame, by: Sequence[str], sums: Sequence[str]) -> pl.LazyFrame:
    """``frame`` grouped by ``by`` with the additive ``sums`` columns added up: integer
    columns with ``sum()``, float ones with :func:`exact_sum`, so a total does not depend
    on which groups the engine adds first. Reads the schema (no data) to tell them apart."""
    schema = frame.collect_schema()
    totals = [
        exact_sum(pl.col(name)).alias(name) if schema[name].is_float() else pl.col(name).sum()
        for name in sums
    ]
    return frame.group_by(*by).agg(totals)


def empty_result() -> pl.LazyFrame:
    return pl.LazyFrame(schema=RESULT_SCHEMA)


def _keyed(
    frame: pl.LazyFrame, at: str | pl.Expr, grain: Grain, segment_by: str | None
) -> pl.LazyFrame:
    """Eligible rows with their period (``_period_start``) and raw segment value
    (``_segment_value``); rows in no period, or without a segment value, are left out."""
    keyed = frame.with_columns(_period_start=period_start(at, grain)).filter(
        pl.col("_period_start").is_not_null()
    )
    if segment_by is None:
        return keyed.with_columns(_segment_value=pl.lit(None, dtype=pl.String))
    return keyed.filter(pl.col(segment_by).is_not_null()).with_columns(
        _segment_value=pl.col(segment_by).cast(pl.String)
    )


def _label(segment_by: str | None) -> pl.Expr:
    """The ``column=value`` segment label, built on grouped rows (not once per input row)."""
    if segment_by is None:
        return pl.lit(None, dtype=pl.String).alias("_segment")
    return pl.format("{}={}", pl.lit(segment_by), pl.col("_segment_value")).alias("_segment")


def summarise(
    frame: pl.LazyFrame,
    *,
    metric: str,
    at: str | pl.Expr,
    grain: Grain,
    value: pl.Expr,
    sample_size: pl.Expr | None = None,
    numerator: pl.Expr | None = None,
    denominator: pl.Expr | None = None,
    segment_by: str | None = None,
    per_client: bool = True,
    all_clients: bool = True,
) -> pl.LazyFrame:
    """Aggregate ``frame`` into result rows for one metric.

    ``frame`` must already hold only the eligible rows; the aggregation expressions run
    inside ``group_by(period, client[, segment])``. Rows whose ``at`` is null are left out
    (they belong to no period). ``sample_size`` defaults to the number of rows. The
    all-clients rows aggregate the rows again, which any aggregate (a median too) allows;
    for counts and sums :func:`summarise_additive` rolls them up instead, which is cheaper.
    """
    keyed = _keyed(frame, at, grain, segment_by)
    aggs = [
        value.cast(pl.Float64).alias("value"),
        (numerator.cast(pl.Float64) if numerator is not None else pl.lit(None, pl.Float64)).alias(
            "numerator"
        ),
        (
            denominator.cast(pl.Float64) if denominator is not None else pl.lit(None, pl.Float64)
        ).alias("denominator"),
        (sample_size if sample_size is not None else pl.len()).cast(pl.Int64).alias("sample_size"),
    ]
    parts: list[pl.LazyFrame] = []
    if per_client:
        parts.append(
            keyed.filter(pl.col("client_id").is_not_null())
            .group_by("_period_start", "client_id", "_segment_value")
            .agg(aggs)
            .with_columns(pl.col("client_id").cast(pl.String))
        )
    if all_clients:
        parts.append(
            keyed.group_by("_period_start", "_segment_value")
            .agg(aggs)
            .with_columns(client_id=pl.lit(None, dtype=pl.String))
        )
    if not parts:
        return empty_result()
    grouped = pl.concat(parts, how="diagonal").with_columns(_label(segment_by))
    return finish(grouped, metric=metric, grain=grain)


def summarise_additive(
    frame: pl.LazyFrame,
    *,
    metric: str,
    at: str | pl.Expr,
    grain: Grain,
    sums: Mapping[str, pl.Expr],
    value: pl.Expr,
    sample_size: pl.Expr,
    numerator: pl.Expr | None = None,
    denominator: pl.Expr | None = None,
    segment_by: str | None = None,
    per_client: bool = True,
    all_clients: bool = True,
) -> pl.LazyFrame:
    """Like :func:`summarise` for metrics built from counts and sums.

    ``sums`` are additive aggregates (``pl.len()``, ``x.sum()``, :func:`exact_sum` for
    floats) computed once per period, client and segment; the all-clients rows add those
    groups up (:func:`roll_up`) rather than scanning the rows a second time. ``value``,
    ``sample_size``, ``numerator`` and ``denominator`` are expressions over the ``sums``
    columns.
    """
    fine = (
        _keyed(frame, at, grain, segment_by)
        .group_by("_period_start", "client_id", "_segment_value")
        .agg(**sums)
    )
    parts: list[pl.LazyFrame] = []
    if per_client:
        parts.append(
            fine.filter(pl.col("client_id").is_not_null()).with_columns(
                pl.col("client_id").cast(pl.String)
            )
        )
    if all_clients:
        parts.append(
            roll_up(fine, ["_period_start", "_segment_value"], list(sums)).with_columns(
                client_id=pl.lit(None, dtype=pl.String)
            )
        )
    if not parts:
        return empty_result()
    nothing = pl.lit(None, dtype=pl.Float64)
    grouped = pl.concat(parts, how="diagonal").with_columns(
        _label(segment_by),
        value=value.cast(pl.Float64),
        numerator=(numerator if numerator is not None else nothing).cast(pl.Float64),
        denominator=(denominator if denominator is not None else nothing).cast(pl.Float64),
        sample_size=sample_size.cast(pl.Int64),
    )
    return finish(grouped, metric=metric, grain=grain)


def finish(grouped: pl.LazyFrame, *, metric: str, grain: Grain) -> pl.LazyFrame:
    """Shape grouped rows (``_period_start``, ``client_id``, ``_segment``, values) as results.

    Drops rows whose value is null or NaN: an empty group emits no row, and a value is
    never NaN (METRICS.md, conventions).
    """
    return (
        grouped.filter(pl.col("value").is_not_null() & pl.col("value").is_not_nan())
        .with_columns(
            metric=pl.lit(metric, dtype=pl.String),
            period_grain=pl.lit(grain, dtype=pl.String),
            period_start=pl.col("_period_start"),
            period_end=period_end(pl.col("_period_start"), grain),
            segment=pl.col("_segment"),
        )
        .select(
            [pl.col(name).cast(dtype) for name, dtype in RESULT_SCHEMA.items()],
        )
    )


def count_rows(
    frame: pl.LazyFrame,
    *,
    metric: str,
    at: str,
    grain: Grain,
    segment_by: str | None = None,
) -> pl.LazyFrame:
    """How many rows fall in each period (a volume)."""
    n = pl.col("_n")
    return summarise_additive(
        frame,
        metric=metric,
        at=at,
        grain=grain,
        sums={"_n": pl.len()},
        value=n,
        sample_size=n,
        segment_by=segment_by,
    )


def ratio(
    frame: pl.LazyFrame,
    *,
    metric: str,
    at: str,
    grain: Grain,
    hit: pl.Expr,
    scale: float = 100.0,
    segment_by: str | None = None,
    per_client: bool = True,
) -> pl.LazyFrame:
    """Share of the (already filtered, eligible) rows for which ``hit`` is true, × ``scale``.

    numerator = rows that hit, denominator = eligible rows, so Σnum ÷ Σden re-aggregates.
    """
    hits, n = pl.col("_hits"), pl.col("_n")
    return summarise_additive(
        frame,
        metric=metric,
        at=at,
        grain=grain,
        sums={"_hits": hit.cast(pl.Float64).sum(), "_n": pl.len()},
        value=hits / n * scale,
        numerator=hits,
        denominator=n,
        sample_size=n,
        segment_by=segment_by,
        per_client=per_client,
    )


def sum_ratio(
    frame: pl.LazyFrame,
    *,
    metric: str,
    at: str,
    grain: Grain,
    numerator: pl.Expr,
    denominator: pl.Expr,
    scale: float = 1.0,
    segment_by: str | None = None,
) -> pl.LazyFrame:
    """Σ ``numerator`` ÷ Σ ``denominator`` × ``scale`` (for ratios of totals, not of rows).

    Groups whose denominator sums to zero emit no row.
    """
    num, den = pl.col("_num"), pl.col("_den")
    return summarise_additive(
        frame,
        metric=metric,
        at=at,
        grain=grain,
        sums={
            "_num": exact_sum(numerator),
            "_den": exact_sum(denominator),
            "_n": pl.len(),
        },
        value=pl.when(den > 0).then(num / den * scale),
        numerator=num,
        denominator=den,
        sample_size=pl.col("_n"),
        segment_by=segment_by,
    )


def mean(
    frame: pl.LazyFrame,
    *,
    metric: str,
    at: str,
    grain: Grain,
    x: pl.Expr,
    segment_by: str | None = None,
) -> pl.LazyFrame:
    """Mean of ``x`` over rows where it is not null; numerator Σx, denominator n."""
    eligible = frame.with_columns(_x=x.cast(pl.Float64)).filter(pl.col("_x").is_not_null())
    total, n = pl.col("_sum"), pl.col("_n")
    return summarise_additive(
        eligible,
        metric=metric,
        at=at,
        grain=grain,
        sums={"_sum": exact_sum(pl.col("_x")), "_n": pl.len()},
        value=total / n,
        numerator=total,
        denominator=n,
        sample_size=n,
        segment_by=segment_by,
    )


def quantile(
    frame: pl.LazyFrame,
    *,
    metric: str,
    at: str,
    grain: Grain,
    x: pl.Expr,
    q: float,
    segment_by: str | None = None,
) -> pl.LazyFrame:
    """The ``q`` quantile of ``x`` (linear interpolation, like SQL ``quantile_cont``).

    Quantiles do not re-aggregate, so they carry no numerator or denominator.
    """
    eligible = frame.with_columns(_x=x.cast(pl.Float64)).filter(pl.col("_x").is_not_null())
    return summarise(
        eligible,
        metric=metric,
        at=at,
        grain=grain,
        value=pl.col("_x").quantile(q, interpolation="linear"),
        segment_by=segment_by,
    )


def hours_between(start: str, end: str) -> pl.Expr:
    """Elapsed hours from ``start`` to ``end`` as a float (null when either is null)."""
    elapsed = (pl.col(end) - pl.col(start)).dt.total_microseconds().cast(pl.Float64)
    return elapsed * HOURS_PER_MICROSECOND


def concat_results(parts: Sequence[pl.LazyFrame]) -> pl.LazyFrame:
    """Stack result frames (each already in the result shape)."""
    if not parts:
        return empty_result()
    return pl.concat(list(parts), how="vertical")


def shift_period(start: pl.Expr, grain: Grain, periods: int) -> pl.Expr:
    """The first day of the period ``periods`` periods after the one beginning at ``start``
    (before it when negative): ``shift_period(march, "month", -1)`` is 1 February."""
    unit = _STEP[grain].removeprefix("1")
    return start.dt.offset_by(f"{periods}{unit}")


def with_all_clients(
    cells: pl.LazyFrame, *, by: Sequence[str], sums: Sequence[str]
) -> pl.LazyFrame:
    """Per-client cells plus, per ``by`` key, an all-clients cell (``client_id`` null).

    For metrics whose per-client row needs something of *both* of two sources (an IT and a
    client rating, an importance and a satisfaction, invitations for responses): ``cells``
    holds the per-client groups (``by`` + ``client_id`` + the additive ``sums``) already
    filtered to those that qualify, and the all-clients cell holds the ``sums`` over exactly
    those, so its numerator, denominator and sample size are the sums of the per-client rows.
    """
    keys = [*by, "client_id"]
    per_client = cells.select(*keys, *sums)
    everyone = roll_up(cells, by, sums).select(
        *by, pl.lit(None, dtype=pl.String).alias("client_id"), *sums
    )
    return pl.concat(
        [per_client.with_columns(pl.col("client_id").cast(pl.String)), everyone], how="vertical"
    )
