"""``theme_mentions`` and ``theme_share_pct``: values, and the rules every metric keeps."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from cxpipe.details.themes import DEFAULT_THEMES, client_comments
from cxpipe.metrics.aggregate import RESULT_SCHEMA
from cxpipe.metrics.base import GRAINS, Grain, MetricContext, Polarity
from cxpipe.metrics.builtin.themes import THEME_METRICS, theme_metrics
from cxpipe.registry import Registry
from cxpipe.schemas import SURVEY_RESPONSES

from ..metrics.fixtures import Key, d, expect, responses, run, ts

SURVEYS = responses(
    {"client_id": "A", "submitted_at": ts("2024-01-03"), "comment": "The price was too high"},
    {"client_id": "A", "submitted_at": ts("2024-01-10"), "comment": "Slow and expensive."},
    {"client_id": "A", "submitted_at": ts("2024-01-20"), "comment": "ras"},
    {"client_id": "A", "submitted_at": ts("2024-01-21"), "comment": None, "nps_score": 2},
    {"client_id": "A", "submitted_at": ts("2024-01-22"), "comment": "  "},
    {"client_id": "B", "submitted_at": ts("2024-01-31 23:59"), "comment": "Great, helpful staff"},
    {"client_id": "A", "submitted_at": ts("2024-02-01"), "comment": "Le délai était long."},
    {
        "client_id": "B",
        "respondent_side": "it",
        "survey_kind": "self_assessment",
        "submitted_at": ts("2024-01-05"),
        "comment": "We were slow and too expensive.",
    },
)
JAN, FEB = d("2024-01-01"), d("2024-02-01")


def seg(theme: str) -> str:
    return f"theme={theme}"


def test_theme_mentions_values() -> None:
    result = run(theme_metrics, {"survey_responses": SURVEYS})
    expect(
        result,
        {
            ("theme_mentions", JAN, "A", seg("cost")): (2, None, None, 2),
            ("theme_mentions", JAN, "A", seg("timeliness")): (1, None, None, 1),
            ("theme_mentions", JAN, "B", seg("professionalism")): (1, None, None, 1),
            ("theme_mentions", FEB, "A", seg("timeliness")): (1, None, None, 1),
            ("theme_mentions", JAN, None, seg("cost")): (2, None, None, 2),
            ("theme_mentions", JAN, None, seg("timeliness")): (1, None, None, 1),
            ("theme_mentions", JAN, None, seg("professionalism")): (1, None, None, 1),
            ("theme_mentions", FEB, None, seg("timeliness")): (1, None, None, 1),
        },
        metric="theme_mentions",
    )


def test_theme_share_values() -> None:
    result = run(theme_metrics, {"survey_responses": SURVEYS})
    groups = {  # (period, client): (commented responses, {theme: mentions})
        (JAN, "A"): (3, {"cost": 2, "timeliness": 1}),
        (JAN, "B"): (1, {"professionalism": 1}),
        (FEB, "A"): (1, {"timeliness": 1}),
        (JAN, None): (4, {"cost": 2, "timeliness": 1, "professionalism": 1}),
        (FEB, None): (1, {"timeliness": 1}),
    }
    expected: dict[Key, tuple[float, float | None, float | None, int]] = {
        ("theme_share_pct", period, client, seg(theme)): (
            hits.get(theme, 0) / n * 100,
            hits.get(theme, 0),
            n,
            n,
        )
        for (period, client), (n, hits) in groups.items()
        for theme in DEFAULT_THEMES
    }
    expect(result, expected, metric="theme_share_pct")


def test_user_lexicon_theme_is_a_segment(tmp_path: Path) -> None:
    lexicon = tmp_path / "lexicon.toml"
    lexicon.write_text("[themes.staff]\nterms = ['staff']\n", encoding="utf-8")
    result = run(
        theme_metrics,
        {"survey_responses": SURVEYS},
        settings={"theme_languages": ["en"], "theme_lexicon": str(lexicon)},
    )
    staff = result.filter(
        (pl.col("metric") == "theme_mentions") & (pl.col("segment") == "theme=staff")
    )
    assert sorted(staff.select("client_id", "value").rows(), key=str) == [
        ("B", 1.0),
        (None, 1.0),
    ]


def test_counts_agree_with_the_table() -> None:
    from cxpipe.details.themes import lexicon_from_settings, theme_mentions

    rows = theme_mentions(client_comments(SURVEYS.lazy()), lexicon_from_settings({})).collect()
    result = run(theme_metrics, {"survey_responses": SURVEYS}, grain="year")
    totals = result.filter((pl.col("metric") == "theme_mentions") & pl.col("client_id").is_null())
    assert int(totals["value"].sum()) == rows.height


# -- the metric contract (as tests/metrics/test_contract.py checks the core catalog) -----------

COMMENTS = (
    "Slow response, nobody picked it up for hours.",
    "Invoice surprise: the final cost was well above the quote.",
    "Very professional team, easy to work with.",
    "Could not reach anyone by phone.",
    "Le délai d'attente est trop long.",
    "Les prix sont élevés mais l'accueil est chaleureux.",
    "Pas assez de choix.",
    "ras",
    "Fine.",
)


def random_surveys(seed: int, n: int = 300) -> pl.DataFrame:
    rng = random.Random(seed)
    base = datetime(2023, 1, 1, tzinfo=UTC)
    return responses(
        *(
            {
                "client_id": rng.choice(["C1", "C2", "C3", "C4"]),
                "respondent_side": "it" if rng.random() < 0.1 else "client",
                "submitted_at": base + timedelta(minutes=rng.randrange(0, 2 * 365 * 24 * 60)),
                "nps_score": None if rng.random() < 0.4 else rng.randint(0, 10),
                "comment": None if rng.random() < 0.3 else rng.choice(COMMENTS),
            }
            for _ in range(n)
        )
    )


FRAMES = {"survey_responses": random_surveys(3)}
ALL_GRAINS = pytest.mark.parametrize("grain", GRAINS)


def compute(grain: Grain = "month", frames: dict[str, pl.DataFrame] = FRAMES) -> pl.LazyFrame:
    lazy = {name: frame.lazy() for name, frame in frames.items()}
    return theme_metrics.compute(MetricContext(grain=grain), lazy)


def test_catalog_entries() -> None:
    assert (theme_metrics,) == THEME_METRICS
    assert theme_metrics.metric_names == ("theme_mentions", "theme_share_pct")
    assert theme_metrics.inputs == ("survey_responses",)
    units = {info.name: info.unit for info in theme_metrics.emits}
    assert units == {"theme_mentions": "count", "theme_share_pct": "%"}
    for info in theme_metrics.emits:
        assert info.title
        assert info.description.endswith(".")
        assert info.polarity is Polarity.NEUTRAL
    registry = Registry()
    registry.add_metric(theme_metrics)
    assert "theme_mentions" in registry.metrics


@ALL_GRAINS
def test_output_shape_and_keys(grain: Grain) -> None:
    lazy = compute(grain)
    assert lazy.collect_schema() == RESULT_SCHEMA
    result = lazy.collect()
    assert result.schema == RESULT_SCHEMA
    assert result.height > 0
    assert result.select("metric", "period_start", "client_id", "segment").is_unique().all()
    assert set(result["period_grain"]) == {grain}
    assert result["value"].null_count() == 0
    assert not result["value"].is_nan().any()
    assert (result["sample_size"] > 0).all()
    shares = result.filter(pl.col("metric") == "theme_share_pct")["value"]
    assert shares.min() >= 0  # type: ignore[operator]
    assert shares.max() <= 100  # type: ignore[operator]
    assert set(result["segment"]) <= {f"theme={t}" for t in DEFAULT_THEMES}


@ALL_GRAINS
def test_all_clients_row_reaggregates(grain: Grain) -> None:
    result = compute(grain).collect()
    keys = ["metric", "period_start", "segment"]
    summed = (
        result.filter(pl.col("client_id").is_not_null())
        .group_by(keys)
        .agg(
            pl.col("numerator").sum().alias("num"),
            pl.col("denominator").sum().alias("den"),
            pl.col("sample_size").sum().alias("n"),
            pl.col("value").sum().alias("v"),
        )
    )
    everyone = result.filter(pl.col("client_id").is_null())
    joined = everyone.join(summed, on=keys, how="full", nulls_equal=True, coalesce=True)
    assert joined["sample_size"].to_list() == joined["n"].to_list()
    shares = joined.filter(pl.col("metric") == "theme_share_pct")
    assert shares["numerator"].to_list() == shares["num"].to_list()
    assert shares["denominator"].to_list() == shares["den"].to_list()
    counts = joined.filter(pl.col("metric") == "theme_mentions")
    assert counts["value"].to_list() == counts["v"].to_list()


def test_deterministic_and_inputs_untouched() -> None:
    frames = {"survey_responses": FRAMES["survey_responses"].clone()}
    order = ["metric", "period_start", "client_id", "segment"]
    first = compute(frames=frames).collect().sort(order, nulls_last=True)
    second = compute(frames=frames).collect().sort(order, nulls_last=True)
    assert first.equals(second)
    assert frames["survey_responses"].equals(FRAMES["survey_responses"])


def test_empty_input_gives_empty_result() -> None:
    result = compute(frames={"survey_responses": SURVEY_RESPONSES.empty()}).collect()
    assert result.height == 0
    assert result.schema == RESULT_SCHEMA


@pytest.fixture
def collect_forbidden(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def refuse(*_args: Any, **_kwargs: Any) -> pl.DataFrame:
        raise AssertionError("a metric must not collect while building its plan")

    with monkeypatch.context() as patch:
        patch.setattr(pl.LazyFrame, "collect", refuse)
        yield


def test_lazy_no_collect(collect_forbidden: None) -> None:
    assert isinstance(compute(), pl.LazyFrame)
