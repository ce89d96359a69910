"""Feedback themes on a real survey: the French garden-centre NPS export (Benavent, CC0).

The file is read the way the shipped example config reads it — cxpipe's file source and
conform, CP1252 with a CP850 fallback — so the comments carry the file's real quirks:
accents, misspellings and CP850 letters left as CP1252 punctuation ("d‚lai").
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from cxpipe.analysis import conform_to, result_schema
from cxpipe.config import load_config
from cxpipe.details.themes import feedback_themes
from cxpipe.metrics.base import MetricContext
from cxpipe.metrics.builtin.themes import theme_metrics
from cxpipe.run import extract_source, start_run

from .test_followups import context

CONFIG = Path(__file__).parents[2] / "examples" / "nps-garden-centre-benavent" / "cxpipe.toml"


@pytest.fixture(scope="module")
def surveys(tmp_path_factory: pytest.TempPathFactory) -> tuple[pl.DataFrame, dict[str, object]]:
    if not CONFIG.exists():
        pytest.skip("the garden-centre example is not in this checkout")
    config = load_config(CONFIG)
    (source,) = config.enabled_sources()
    if not Path(config.resolve(source.options["path"])).exists():
        pytest.skip("the garden-centre survey file is not available")
    run = start_run(config, str(tmp_path_factory.mktemp("garden-centre")))
    frame = extract_source(run, source).frame.drop("_cx_events")
    return frame, config.metrics.model_dump()


@pytest.fixture(scope="module")
def themes(surveys: tuple[pl.DataFrame, dict[str, object]]) -> pl.DataFrame:
    frame, settings = surveys
    ctx = context({"survey_responses": frame}, settings=settings)
    plan = feedback_themes.function(ctx)
    return conform_to(plan, result_schema(feedback_themes.schema)).collect()


def themes_by_response(themes: pl.DataFrame) -> dict[str, set[str]]:
    grouped = themes.group_by("response_id").agg(pl.col("theme"))
    return {rid: set(found) for rid, found in grouped.iter_rows()}


def test_the_survey_reads_as_expected(surveys: tuple[pl.DataFrame, dict[str, object]]) -> None:
    frame, _ = surveys
    assert frame.height == 13_954
    assert frame["comment"].is_not_null().sum() == 3_839


def test_top_themes_are_prices_staff_and_range(themes: pl.DataFrame) -> None:
    """A garden centre's customers talk about prices, the staff's welcome and advice, and
    the range of plants and products — in that order."""
    commented = 3_839
    share = (
        themes.group_by("theme")
        .agg(pl.col("response_id").n_unique().alias("n"))
        .with_columns(pct=pl.col("n") / commented * 100)
        .sort("n", descending=True)
    )
    ranking = share["theme"].to_list()
    assert ranking[:3] == ["cost", "professionalism", "relevance"]
    pct = dict(share.select("theme", "pct").iter_rows())
    assert 25 < pct["cost"] < 45
    assert 20 < pct["professionalism"] < 35
    assert set(ranking) == {
        "timeliness",
        "communication",
        "cost",
        "accessibility",
        "quality",
        "professionalism",
        "relevance",
    }
    # three comments in four raise at least one theme ("ras" and "aucune" raise none)
    assert themes["response_id"].n_unique() / commented > 0.7


HAND_CHECKED = {
    # "Il y a très peu de caisse ouverte et le délai d'attente est particulièrement long!!!!"
    "2482": {"timeliness"},
    # "La conseillère en fleurs et l'hotesse de caisse étaient très disponibles, sympathiques
    # et chaleureuses."
    "3909": {"professionalism", "accessibility"},
    # "Prix nettement plus chers qu'à Decor jardin à Champenoux"
    "1354791": {"cost"},
    # "Attente trop longue aux caisses! un peu plus de personnes dans le magasin pour se
    # renseigner sur un produit, bien aussi."
    "2217899": {"timeliness", "communication"},
    # "Fruits et l‚gumes bios pas toujours très frais,dommage."
    "282616": {"quality"},
    # "Pas assez de choix de fleurs à massifs"
    "202355": {"relevance"},
    # "Bon accueil et personnel compétents"
    "2670598": {"professionalism"},
    # "vos caddies sont très lourds et difficilement maniables."
    "2369384": {"accessibility"},
    # "Les tarifs de certains articles sont exag‚r‚s pour une enseigne spécialis‚e …"
    "267163": {"cost"},
    # "Nous avons passé une commande de bacs à fleurs extérieurs. Le délai donné lors de
    # cette commande était de 10 jours. …"
    "1392866": {"timeliness"},
    # "Super conseils !"
    "2337951": {"professionalism"},
    # "FELICITATION A VOTRE PERSONNELLE QUI NOUS RENSEIGNE TRES BIEN ET TRES AIMABLE BRAVO"
    "2627975": {"professionalism", "communication"},
}


def test_hand_checked_comments(themes: pl.DataFrame) -> None:
    found = themes_by_response(themes)
    for response_id, expected in HAND_CHECKED.items():
        assert found.get(response_id, set()) == expected, response_id


def test_mojibake_comments_are_themed(themes: pl.DataFrame) -> None:
    # "jen'ai toujours pas de r‚ponse quant à ma candidature …": r‚ponse is réponse
    row = themes.filter((pl.col("response_id") == "2228731") & (pl.col("theme") == "communication"))
    assert row["matched"].to_list() == ["reponse"]


def test_comments_without_content_raise_no_theme(
    surveys: tuple[pl.DataFrame, dict[str, object]], themes: pl.DataFrame
) -> None:
    frame, _ = surveys
    empty = frame.filter(
        pl.col("comment").str.strip_chars().str.to_lowercase().is_in(["ras", "aucune", "rien"])
    )
    assert empty.height > 50
    assert themes.filter(pl.col("response_id").is_in(empty["response_id"].implode())).height == 0


def test_language_and_polarity(themes: pl.DataFrame) -> None:
    assert (themes["language"] == "fr").mean() > 0.99  # type: ignore[operator]
    # the NPS decides where there is one: 2627975 praises the staff but scored 1
    praised = themes.filter(pl.col("response_id") == "2627975")
    assert set(praised["polarity"]) == {"negative"}
    assert set(praised["polarity_source"]) == {"score"}
    by_source = themes.group_by("polarity_source").len()
    assert dict(by_source.iter_rows())["score"] > 0.95 * themes.height


def test_metrics_agree_with_the_table(
    surveys: tuple[pl.DataFrame, dict[str, object]], themes: pl.DataFrame
) -> None:
    frame, settings = surveys
    ctx = MetricContext(grain="year", settings=settings)
    values = theme_metrics.compute(ctx, {"survey_responses": frame.lazy()}).collect()
    everyone = values.filter(pl.col("client_id").is_null())
    counts = dict(
        everyone.filter(pl.col("metric") == "theme_mentions").select("segment", "value").rows()
    )
    table = dict(themes.group_by("theme").len().rows())
    assert counts == {f"theme={theme}": float(n) for theme, n in table.items()}
    cost = everyone.filter(
        (pl.col("metric") == "theme_share_pct") & (pl.col("segment") == "theme=cost")
    ).row(0, named=True)
    assert cost["denominator"] == 3_839
    assert cost["value"] == pytest.approx(table["cost"] / 3_839 * 100)
