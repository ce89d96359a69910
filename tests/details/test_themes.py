"""Feedback themes: lexicon matching (EN + FR), user lexicons, polarity, and the table."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pytest

from cxpipe.analysis import conform_to, result_schema
from cxpipe.details.builtin import CORE_TABLES
from cxpipe.details.themes import (
    DEFAULT_THEMES,
    Lexicon,
    feedback_themes,
    load_lexicon,
    normalise,
    normalised,
    shipped_languages,
    term_regex,
    theme_mentions,
)
from cxpipe.errors import ConfigError

from ..metrics.fixtures import responses, ts
from .test_followups import context

LEXICON = load_lexicon(("en", "fr"))


def themes_of(comment: str, lexicon: Lexicon = LEXICON) -> dict[str, str]:
    """Theme → matched text for one comment."""
    frame = pl.LazyFrame({"response_id": ["r"], "comment": [comment]})
    hits = theme_mentions(frame, lexicon).collect()
    return dict(zip(hits["theme"], hits["matched"], strict=True))


def hit(
    comment: str,
    theme: str,
    lexicon: Lexicon = LEXICON,
    *,
    nps_score: int | None = None,
    csat: int | None = None,
) -> dict[str, Any]:
    """The one row of ``theme`` for a comment (with its scores, null by default)."""
    frame = pl.LazyFrame(
        {"response_id": ["r"], "comment": [comment], "nps_score": [nps_score], "csat": [csat]},
        schema_overrides={"nps_score": pl.Int8, "csat": pl.Int8},
    )
    rows = theme_mentions(frame, lexicon).filter(pl.col("theme") == theme).collect()
    assert rows.height == 1, f"{theme} not found in {comment!r}"
    return rows.row(0, named=True)


# -- the lexicon ---------------------------------------------------------------------------


def test_shipped_lexicons_cover_the_default_themes() -> None:
    assert set(shipped_languages()) >= {"en", "fr"}
    assert LEXICON.theme_names == DEFAULT_THEMES
    for _name, patterns in LEXICON.themes:
        assert {lang for lang, _ in patterns} == {"en", "fr"}


def test_unknown_language_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"no lexicon for 'de'.*ships en, fr"):
        load_lexicon(("en", "de"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Délai TRÈS long", "delai tres long"),
        ("cœur  l’accueil", "coeur l'accueil"),
        ("Ça a été ÉNORME", "ca a ete enorme"),
    ],
)
def test_normalise(text: str, expected: str) -> None:
    assert normalise(text) == expected
    as_polars = pl.select(normalised(pl.lit(text))).item()
    assert as_polars == expected


def test_mojibake_from_cp850_read_as_cp1252_is_repaired() -> None:
    # "délai", "élevés", "fraîcheur", "goût", "grâce", "Noël" as the garden-centre file has them
    text = "Le d‚lai, les prix ‚l‚v‚s, la fraŒcheur, le go–t, grƒce à vous, No‰l… fin…"
    assert pl.select(normalised(pl.lit(text))).item() == (
        "le delai, les prix eleves, la fraicheur, le gout, grace a vous, noel… fin…"
    )


def test_term_syntax() -> None:
    assert term_regex("délai") == r"(?-u:\b)delai(?-u:\b)"
    assert term_regex("attend*") == r"(?-u:\b)attend(?-u:\w)*(?-u:\b)"
    assert term_regex("follow up") == r"(?-u:\b)follow[\s'\-]+up(?-u:\b)"
    assert term_regex("d'attente") == r"(?-u:\b)d[\s'?]+attente(?-u:\b)"
    with pytest.raises(ValueError, match="empty"):
        term_regex(" * ")


# -- matching --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("comment", "theme"),
    [
        ("Slow response, nobody picked it up for hours.", "timeliness"),
        ("Not kept informed, I had to chase for updates.", "communication"),
        ("Invoice surprise: the final cost was well above the quote.", "cost"),
        ("Could not reach anyone by phone.", "accessibility"),
        ("Ticket was closed without actually fixing the problem.", "quality"),
        ("Very professional team, easy to work with.", "professionalism"),
        ("The services on offer don't match what our business needs now.", "relevance"),
        ("Passed between three teams before anyone owned it.", "professionalism"),
        ("Had to explain the problem again to every new person.", "professionalism"),
        ("Le délai d'attente en caisse est trop long", "timeliness"),
        ("Personne ne nous a prévenus du changement", "communication"),
        ("Les prix sont trop élevés, c'est cher", "cost"),
        ("Impossible de joindre le support par téléphone", "accessibility"),
        ("Fruits et légumes pas très frais", "quality"),
        ("Accueil chaleureux, personnel compétent", "professionalism"),
        ("Pas assez de choix de fleurs", "relevance"),
    ],
)
def test_english_and_french_comments(comment: str, theme: str) -> None:
    assert theme in themes_of(comment)


def test_case_and_accents_do_not_matter() -> None:
    for comment in ("DÉLAI trop long", "delai trop long", "Délai trop long", "d‚lai trop long"):
        assert themes_of(comment).get("timeliness") == "delai", comment
    assert "professionalism" in themes_of("tres bon acceuil")  # a frequent misspelling
    assert "professionalism" in themes_of("Personnel très sympatique")


def test_whole_words_only() -> None:
    assert "cost" not in themes_of("The costume department was lovely.")
    assert themes_of("What did it cost?")["cost"] == "cost"
    assert "timeliness" not in themes_of("Attention aux prix")  # attend* is not attention
    assert "quality" not in themes_of("Pourriez-vous ajouter des panneaux ?")
    assert "cost" in themes_of("Costs went up.")


def test_phrases_allow_hyphens_and_apostrophes() -> None:
    assert themes_of("No follow-up at all")["communication"] == "follow-up"
    assert themes_of("le temps d’attente")["timeliness"] == "temps d'attente"
    assert themes_of("le temps d attente")["timeliness"] == "temps d attente"


def test_a_phrase_wins_over_the_word_it_starts_with() -> None:
    assert themes_of("un temps d'attente énorme")["timeliness"] == "temps d'attente"


def test_one_row_per_theme_even_with_many_matches() -> None:
    frame = pl.LazyFrame({"response_id": ["r"], "comment": ["prix, prix, tarifs et cher"]})
    hits = theme_mentions(frame, LEXICON).collect()
    assert hits["theme"].to_list() == ["cost"]
    assert hits["matched"].to_list() == ["prix"]


def test_comment_language_chooses_the_lexicon() -> None:
    assert hit("The prices are too high for what we get", "cost")["language"] == "en"
    assert hit("Les prix sont trop élevés pour ce que c'est", "cost")["language"] == "fr"
    # no stopwords to tell: every lexicon is tried, in the configured order
    assert hit("Prix trop chers", "cost")["language"] == "fr"
    assert hit("Too expensive!", "cost")["language"] == "en"


def test_no_comment_no_rows() -> None:
    frame = pl.LazyFrame({"response_id": ["a", "b", "c"], "comment": [None, "", "   "]})
    assert theme_mentions(frame, LEXICON).collect().height == 0


# -- polarity ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scores", "polarity"),
    [
        ({"nps_score": 10}, "positive"),
        ({"nps_score": 9}, "positive"),
        ({"nps_score": 8}, "neutral"),
        ({"nps_score": 7}, "neutral"),
        ({"nps_score": 6}, "negative"),
        ({"nps_score": 0}, "negative"),
        ({"csat": 5}, "positive"),
        ({"csat": 4}, "positive"),
        ({"csat": 3}, "neutral"),
        ({"csat": 2}, "negative"),
        ({"nps_score": 10, "csat": 1}, "negative"),  # a detractor by either score
        ({"nps_score": 8, "csat": 4}, "positive"),
    ],
)
def test_polarity_from_the_responses_own_score(scores: dict[str, int], polarity: str) -> None:
    row = hit(
        "The price was great and fair",
        "cost",
        nps_score=scores.get("nps_score"),
        csat=scores.get("csat"),
    )
    assert (row["polarity"], row["polarity_source"]) == (polarity, "score")


@pytest.mark.parametrize(
    ("comment", "theme", "polarity"),
    [
        ("Great, helpful technician.", "professionalism", "positive"),
        ("Support was rude and unhelpful.", "professionalism", "negative"),
        ("The engineer was not helpful.", "professionalism", "negative"),
        ("The invoice held no surprises.", "cost", "positive"),
        ("They replied on Tuesday.", "communication", "neutral"),
        ("Accueil très agréable.", "professionalism", "positive"),
        ("Personnel pas très aimable.", "professionalism", "negative"),
        ("Personnel peu aimable.", "professionalism", "negative"),
        ("Des prix pas chers !", "cost", "positive"),
        ("Prix trop élevés.", "cost", "negative"),
        # the clause of the theme decides: a contrast word splits the comment
        ("Bon accueil mais les prix sont trop élevés", "professionalism", "positive"),
        ("Bon accueil mais les prix sont trop élevés", "cost", "negative"),
        ("Friendly staff. Prices are too high though.", "cost", "negative"),
        # a phrase holding a cue word but no opinion is not a cue
        ("J'ai reçu un bon d'achat.", "cost", "neutral"),
    ],
)
def test_polarity_from_cue_words_without_a_score(comment: str, theme: str, polarity: str) -> None:
    row = hit(comment, theme)
    assert (row["polarity"], row["polarity_source"]) == (polarity, "comment")


# -- user lexicon -------------------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lexicon.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_user_lexicon_adds_a_theme(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        language = "en"
        [themes.security]
        terms = ["password*", "phishing", "mfa"]
        """,
    )
    lexicon = load_lexicon(("en", "fr"), path)
    assert lexicon.theme_names == (*DEFAULT_THEMES, "security")
    found = themes_of("Password resets take too long", lexicon)
    assert found["security"] == "password"
    assert found["timeliness"] == "too long"


def test_user_lexicon_replaces_a_themes_terms(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [themes.cost]
        terms = ["chargeback*"]
        """,
    )
    lexicon = load_lexicon(("en", "fr"), path)
    assert "cost" not in themes_of("Too expensive", lexicon)
    assert "cost" not in themes_of("Les prix sont élevés", lexicon)
    assert themes_of("The chargebacks confuse us", lexicon)["cost"] == "chargebacks"
    # language-free user terms carry the comment's language
    assert hit("The chargebacks confuse us", "cost", lexicon)["language"] == "en"


def test_user_lexicon_extends_or_removes(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        language = "fr"
        [themes.cost]
        extend = true
        terms = ["douloureuse"]
        regex = ['\\bnotes?\\s+de\\s+frais\\b']
        [themes.relevance]
        terms = []
        [cues]
        negative = ["douloureuse"]
        """,
    )
    lexicon = load_lexicon(("en", "fr"), path)
    assert "relevance" not in lexicon.theme_names
    assert themes_of("La douloureuse est arrivée", lexicon)["cost"] == "douloureuse"
    assert themes_of("Trop expensive", lexicon)["cost"] == "expensive"  # shipped terms kept
    assert themes_of("Ma note  de frais ?", lexicon)["cost"] == "note de frais"
    assert hit("La douloureuse est arrivée", "cost", lexicon)["polarity"] == "negative"


def test_user_lexicon_can_bring_a_language(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        language = "de"
        [cues]
        stopwords = ["der", "die", "das", "und", "ist"]
        [themes.cost]
        extend = true
        terms = ["preis*", "teuer"]
        """,
    )
    lexicon = load_lexicon(("en", "fr", "de"), path)
    row = hit("Der Preis ist zu hoch und das Essen teuer", "cost", lexicon)
    assert (row["matched"], row["language"]) == ("preis", "de")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[themes.cost]\nterm = ['x']", "themes.cost.term"),
        ("[themes.cost\n", "not valid TOML"),
        ("[themes.cost]\nregex = ['(?<=a)b']", "look-around"),
        ("[themes.cost]\nregex = ['(']", "regex"),
    ],
)
def test_bad_user_lexicon_is_a_config_error(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_lexicon(("en",), write(tmp_path, text))


def test_missing_user_lexicon_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_lexicon(("en",), tmp_path / "nope.toml")


def test_user_lexicon_edits_are_picked_up(tmp_path: Path) -> None:
    path = write(tmp_path, "[themes.alpha]\nterms = ['aaa']\n")
    assert "alpha" in load_lexicon(("en",), path).theme_names
    path.write_text("[themes.beta]\nterms = ['bbb']\n", encoding="utf-8")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    assert "beta" in load_lexicon(("en",), path).theme_names


# -- the table -----------------------------------------------------------------------------------

SURVEYS = responses(
    {
        "response_id": "a",
        "client_id": "C1",
        "submitted_at": ts("2024-02-01 10:00"),
        "nps_score": 3,
        "comment": "Waited three days, and the invoice was wrong.",
    },
    {
        "response_id": "b",
        "client_id": "C2",
        "submitted_at": ts("2024-01-15 10:00"),
        "comment": "Accueil très agréable, merci !",
    },
    {"response_id": "c", "submitted_at": ts("2024-01-01"), "comment": "ras", "csat": 5},
    {"response_id": "d", "submitted_at": ts("2024-01-01"), "comment": None, "csat": 1},
    {
        "response_id": "it",
        "respondent_side": "it",
        "survey_kind": "self_assessment",
        "submitted_at": ts("2024-01-01"),
        "comment": "We were slow to update the client.",
    },
)


def compute_table(frames: dict[str, pl.DataFrame], **settings: Any) -> pl.DataFrame:
    spec = feedback_themes
    ctx = context(frames, settings=settings)
    return conform_to(spec.function(ctx), result_schema(spec.schema)).collect()


def test_table_rows() -> None:
    table = compute_table({"survey_responses": SURVEYS})
    assert table.select("response_id", "theme", "polarity", "polarity_source").rows() == [
        ("b", "professionalism", "positive", "comment"),
        ("a", "timeliness", "negative", "score"),
        ("a", "cost", "negative", "score"),
    ]
    row = table.row(1, named=True)
    assert row["client_id"] == "C1"
    assert row["submitted_at"] == ts("2024-02-01 10:00")
    assert row["matched"] == "waited"
    assert row["language"] == "en"
    assert row["comment"] == "Waited three days, and the invoice was wrong."


def test_table_reads_the_languages_and_user_lexicon_settings(tmp_path: Path) -> None:
    path = write(tmp_path, "[themes.thanks]\nterms = ['merci']\n")
    table = compute_table(
        {"survey_responses": SURVEYS}, theme_languages=["en"], theme_lexicon=str(path)
    )
    assert set(table["theme"]) == {"timeliness", "cost", "thanks"}


def test_table_schema_and_docs() -> None:
    schema = feedback_themes.schema
    assert schema.names[-2:] == ["run_id", "computed_at"]
    assert schema.field("computed_at").type == pa.timestamp("us", tz="UTC")
    assert set(feedback_themes.column_docs) == set(schema.names)
    assert feedback_themes in CORE_TABLES
    table = compute_table({"survey_responses": SURVEYS})
    assert table.schema == result_schema(schema)
    non_nullable = [f.name for f in schema if not f.nullable and f.name in table.columns]
    assert all(table[name].null_count() == 0 for name in non_nullable)


def test_table_on_empty_input() -> None:
    table = compute_table({"survey_responses": responses()})
    assert table.height == 0
    assert table.schema == result_schema(feedback_themes.schema)


@pytest.fixture
def collect_forbidden(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def refuse(*_args: Any, **_kwargs: Any) -> pl.DataFrame:
        raise AssertionError("a table must not collect while building its plan")

    with monkeypatch.context() as patch:
        patch.setattr(pl.LazyFrame, "collect", refuse)
        yield


def test_table_plan_is_lazy(collect_forbidden: None) -> None:
    plan = feedback_themes.function(context({"survey_responses": SURVEYS}))
    assert isinstance(plan, pl.LazyFrame)
