"""How theme matching is computed: once per distinct comment, a yes/no match for counting,
an ASCII shortcut for normalising. Each must give what the plain rules give."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
import pytest

from cxpipe.details.themes import (
    _ascii_normalised,
    load_lexicon,
    normalised,
    theme_flags,
    theme_mentions,
)

LEXICON = load_lexicon(("en", "fr"))

COMMENTS = [
    "Slow response, nobody picked it up for hours.",
    "Invoice surprise: the final cost was well above the quote.",
    "Very professional team, easy to work with.",
    "Le délai d'attente est trop long.",
    "Les prix sont élevés mais l'accueil est chaleureux.",
    "Le d‚lai ‚tait trop long | mais le personnel tr‚s aimable",
    "Prix trop chers !",
    "PRIX   TROP\tCHERS",
    "Accueil très sympa; prix pas cher. Mais délai long?",
    "the staff weren't helpful but the price was fair",
    "Not expensive, but slow!!! Communication: poor; quality: great.",
    "On-time delivery, well-communicated; over budget though.",
    "Тест кириллица цена",
    "| | |",
    "ras",
    "   ",
    "",
    None,
]


def frame(comments: Sequence[str | None], **columns: Sequence[object]) -> pl.LazyFrame:
    ids = [f"r{i}" for i in range(len(comments))]
    return pl.LazyFrame(
        {"response_id": ids, "comment": list(comments), **{k: list(v) for k, v in columns.items()}},
        schema_overrides={"comment": pl.String, "nps_score": pl.Int8},
    )


def test_flags_say_exactly_which_themes_the_table_finds() -> None:
    comments = COMMENTS * 2
    mentions = theme_mentions(frame(comments), LEXICON).collect()
    flags = theme_flags(frame(comments), LEXICON).collect()
    commented = {f"r{i}" for i, c in enumerate(comments) if c and c.strip()}
    # every commented row once per theme, nothing for rows without a comment
    assert flags.height == len(commented) * len(LEXICON.theme_names)
    assert set(flags["response_id"]) == commented
    assert set(flags["theme"]) == set(LEXICON.theme_names)
    found = set(flags.filter("mentioned").select("response_id", "theme").iter_rows())
    assert found == set(mentions.select("response_id", "theme").iter_rows())
    assert len(found) > 10


def test_a_repeated_comment_is_themed_like_a_single_one() -> None:
    # Matching runs once per distinct comment; the score-based polarity stays per row.
    comments = [c for c in COMMENTS if c and c.strip()]
    repeated = comments * 3
    scores = [None] * len(comments) + [10] * len(comments) + [0] * len(comments)
    together = theme_mentions(frame(repeated, nps_score=scores), LEXICON).collect()
    for i, (comment, score) in enumerate(zip(repeated, scores, strict=True)):
        alone = theme_mentions(frame([comment], nps_score=[score]), LEXICON).collect()
        mine = together.filter(pl.col("response_id") == f"r{i}").drop("response_id")
        assert mine.equals(alone.drop("response_id")), comment


def test_rows_come_in_input_order_then_theme_order() -> None:
    comments = ["slow and expensive", "ras", "Cher et long", "rude staff, slow reply"]
    hits = theme_mentions(frame(comments), LEXICON).collect()
    order = {name: i for i, name in enumerate(LEXICON.theme_names)}
    keys = [(int(r[1:]), order[t]) for r, t in hits.select("response_id", "theme").iter_rows()]
    assert keys == sorted(keys)
    assert len(keys) >= 5


def test_source_lineage_columns_are_kept() -> None:
    # Rows read from a source carry _cx_source/_cx_file/_cx_row: they pass through untouched.
    lineage = frame(["Too slow", "Trop cher"]).with_columns(
        _cx_row=pl.Series([7, 3], dtype=pl.Int64), _cx_file=pl.lit("x.csv")
    )
    hits = theme_mentions(lineage, LEXICON).collect()
    assert hits.select("_cx_row", "theme").rows() == [(7, "timeliness"), (3, "cost")]
    assert set(hits["_cx_file"]) == {"x.csv"}


@pytest.mark.parametrize(
    "text",
    [
        "Slow  Response\tTIME",
        "  a|b||c  ",
        "don`t WAIT",
        "line\nbreak\r\nand\x0bvertical\x0cfeed",
        "\x1c\x1d\x1e\x1f separators",
        "ALL CAPS!!! 123 #hash (x) [y] {z}",
        "",
        "   ",
        "|",
    ],
)
def test_ascii_shortcut_normalises_like_the_full_rules(text: str) -> None:
    assert text.isascii()
    column = pl.DataFrame({"c": [text]})
    full = column.select(normalised(pl.col("c"))).item()
    short = column.select(_ascii_normalised(pl.col("c"))).item()
    assert short == full


def test_ascii_shortcut_on_every_ascii_character() -> None:
    texts = [f"Ab{chr(i)}Cd {chr(i)}{chr(i)} E" for i in range(128)]
    column = pl.DataFrame({"c": texts})
    full = column.select(normalised(pl.col("c")))["c"].to_list()
    short = column.select(_ascii_normalised(pl.col("c")))["c"].to_list()
    assert short == full
