"""exact_sum and roll_up: float totals that do not depend on the order rows are added in.

A plain ``sum()`` of floats rounds after every addition, so a different grouping of the
same rows (more threads, another batch size, a client shard) can change its last bit;
an exact sum cannot, and it is the correctly rounded total besides.
"""

from __future__ import annotations

import math
import random

import polars as pl
import pytest

from cxpipe.metrics.aggregate import exact_sum, roll_up

rng = random.Random(11)
VALUES = [rng.uniform(0.001, 5_000.0) * rng.choice([1, -1]) for _ in range(20_000)]
FRAME = pl.DataFrame({"g": [i % 7 for i in range(len(VALUES))], "x": VALUES})


def _totals(frame: pl.DataFrame) -> dict[int, float]:
    grouped = frame.lazy().group_by("g").agg(total=exact_sum(pl.col("x"))).collect()
    return dict(grouped.iter_rows())


def test_the_same_rows_in_any_order_give_the_same_bits() -> None:
    expected = _totals(FRAME)
    for seed in range(5):
        shuffled = FRAME.sample(fraction=1.0, shuffle=True, seed=seed)
        rechunked = pl.concat([shuffled[i : i + 997] for i in range(0, shuffled.height, 997)])
        assert _totals(shuffled) == expected
        assert _totals(rechunked) == expected


def test_it_is_the_correctly_rounded_total() -> None:
    totals = _totals(FRAME)
    for group, total in totals.items():
        assert total == math.fsum(VALUES[group::7])


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([0.1] * 10, 1.0),  # a plain float sum gives 0.9999999999999999
        ([1.5, None, 2.25], 3.75),
        ([None, None], 0.0),
        ([], 0.0),
        ([1.0, float("inf")], float("inf")),
        ([1e30, 1.0, -1e30], 0.0),  # beyond fixed point: the plain float sum
    ],
)
def test_edge_values(values: list[float | None], expected: float) -> None:
    frame = pl.DataFrame({"x": values}, schema={"x": pl.Float64})
    assert frame.select(exact_sum(pl.col("x"))).item() == expected


def test_nan_stays_nan() -> None:
    frame = pl.DataFrame({"x": [1.0, float("nan")]})
    assert math.isnan(frame.select(exact_sum(pl.col("x"))).item())


def test_roll_up_adds_floats_exactly_and_keeps_integer_types() -> None:
    cells = pl.LazyFrame(
        {"k": ["a", "a", "b"], "n": [1, 2, 3], "s": [0.1, 0.2, 0.3]},
        schema={"k": pl.String, "n": pl.UInt32, "s": pl.Float64},
    )
    rolled = roll_up(cells, ["k"], ["n", "s"]).sort("k").collect()
    assert rolled.schema == pl.Schema({"k": pl.String, "n": pl.UInt32, "s": pl.Float64})
    assert rolled.rows() == [("a", 3, math.fsum([0.1, 0.2])), ("b", 3, 0.3)]
