"""Feedback themes: which topics each client comment raises, from a configurable lexicon.

A lexicon lists, per theme, words and phrases in each language (shipped: ``lexicons/en.toml``
and ``lexicons/fr.toml``; a user file adds themes or replaces a theme's terms). Matching is
one regular expression per theme and language run by polars over the distinct comments — no
Python loop per comment, and a comment repeated across responses is matched once — on a
normalised copy of the comment (lower case, accents removed, common CP850-read-as-CP1252
mojibake repaired), so "Délai", "delai" and "d‚lai" all match.

The same matching feeds the ``feedback_themes`` table (:func:`theme_mentions`, which also
extracts the matched text and the polarity) and the ``theme_mentions`` / ``theme_share_pct``
metrics (:func:`theme_flags`, a yes/no per theme, which is all counting needs), so the table
and the numbers agree.
"""

from __future__ import annotations

import functools
import os
import re
import tomllib
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Final

import polars as pl
import pyarrow as pa
from pydantic import Field, ValidationError

from cxpipe.analysis import AnalysisContext, table
from cxpipe.errors import ConfigError
from cxpipe.models import StrictModel
from cxpipe.schemas import UTC_TIMESTAMP

DEFAULT_THEMES: Final = (
    "timeliness",
    "communication",
    "cost",
    "accessibility",
    "quality",
    "professionalism",
    "relevance",
)
POLARITIES: Final = ("positive", "neutral", "negative")
POLARITY_SOURCES: Final = ("score", "comment")

# ---------------------------------------------------------------------------------------------
# Lexicon files


class _ThemeEntry(StrictModel):
    description: str | None = None
    terms: list[str] = Field(default_factory=list)
    """Words and phrases (``*`` = any letters), matched as whole words."""
    regex: list[str] = Field(default_factory=list)
    """Rust regular expressions run on the normalised comment, for what terms can't say."""
    extend: bool = False
    """In a user lexicon: add to the shipped terms of this theme instead of replacing them."""


class _Cues(StrictModel):
    positive: list[str] = Field(default_factory=list)
    negative: list[str] = Field(default_factory=list)
    negation: list[str] = Field(default_factory=list)
    neutral: list[str] = Field(default_factory=list)
    """Phrases holding a cue word but no opinion ("bon d'achat"), masked before counting."""
    contrast: list[str] = Field(default_factory=list)
    stopwords: list[str] = Field(default_factory=list)


class _LexiconFile(StrictModel):
    language: str | None = None
    """The language of the file's terms; a user lexicon without one matches any comment."""
    cues: _Cues = Field(default_factory=_Cues)
    themes: dict[str, _ThemeEntry] = Field(default_factory=dict)


def _lexicon_dir() -> Any:
    return resources.files("cxpipe.details").joinpath("lexicons")


def shipped_languages() -> tuple[str, ...]:
    """The languages cxpipe ships a lexicon for (``en``, ``fr``)."""
    return tuple(
        sorted(
            entry.name.removesuffix(".toml")
            for entry in _lexicon_dir().iterdir()
            if entry.name.endswith(".toml")
        )
    )


def _parse(text: str, origin: str) -> _LexiconFile:
    try:
        return _LexiconFile.model_validate(tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"theme lexicon {origin}: not valid TOML ({exc})") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"theme lexicon {origin}: {problems}") from None


@functools.cache
def _shipped(language: str) -> _LexiconFile:
    resource = _lexicon_dir().joinpath(f"{language}.toml")
    return _parse(resource.read_text(encoding="utf-8"), f"{language}.toml (shipped)")


# ---------------------------------------------------------------------------------------------
# Text normalisation: the same rules in Python (for terms) and in polars (for comments)

_LIGATURES: Final = {
    "œ": "oe",
    "æ": "ae",
    "ß": "ss",
    "ø": "o",
    "ł": "l",
    "đ": "d",
    "ð": "d",
    "ı": "i",
    "’": "'",
    "‘": "'",
    "`": "'",
    "´": "'",
}
"""Letters NFD does not decompose, and typographic apostrophes."""
_MOJIBAKE_NEXT_TO_LETTER: Final = {"‚": "e", "ƒ": "a"}
"""CP850 letters read as CP1252 punctuation that never occur inside words: é and â."""
_MOJIBAKE_BETWEEN_LOWER: Final = {"ˆ‰Š": "e", "„…": "a", "‡": "c", "‹Œ": "i", "“”": "o", "–—": "u"}
"""The other CP850 accented letters read as CP1252 (ê ë è, ä à, ç, ï î, ô ö, û ù): repaired
only between two lower-case letters, where the punctuation they also are cannot stand."""
_REGEX_META: Final = frozenset("\\.+*?()|[]{}^$#&-~")
_SEPARATOR: Final = r"[\s'\-]+"
_APOSTROPHE: Final = r"[\s'?]+"
_ASCII_WORD: Final = r"(?-u:\w)"
_ASCII_EDGE: Final = r"(?-u:\b)"
r"""After normalisation French and English words are ASCII, and ASCII word classes keep the
regexes small: Unicode ``\w``/``\b`` make polars' capturing matcher ~50× slower to build."""


def normalise(text: str) -> str:
    """Lower case, accents and ligatures removed, one space between words (for terms)."""
    decomposed = unicodedata.normalize("NFD", text.lower())
    bare = "".join(c for c in decomposed if not unicodedata.category(c).startswith("M"))
    for old, new in _LIGATURES.items():
        bare = bare.replace(old, new)
    return " ".join(bare.split())


def normalised(comment: pl.Expr) -> pl.Expr:
    """The polars twin of :func:`normalise`, plus the mojibake repair (for comments).

    Mixed-code-page exports (the French garden-centre survey) leave CP850 accents decoded as
    CP1252 punctuation ("d‚lai" for "délai"); repairing them is what lets accented terms
    match those comments.
    """
    text = comment.str.replace_all("|", " ", literal=True)
    for char, letter in _MOJIBAKE_NEXT_TO_LETTER.items():
        text = text.str.replace_all(rf"(\p{{L}}){char}", rf"${{1}}{letter}").str.replace_all(
            rf"{char}(\p{{L}})", rf"{letter}${{1}}"
        )
    for chars, letter in _MOJIBAKE_BETWEEN_LOWER.items():
        text = text.str.replace_all(rf"(\p{{Ll}})[{chars}](\p{{Ll}})", rf"${{1}}{letter}${{2}}")
    text = text.str.to_lowercase().str.normalize("NFD").str.replace_all(r"\p{M}+", "")
    text = text.str.replace_many(list(_LIGATURES), list(_LIGATURES.values()))
    return text.str.replace_all(r"\s+", " ").str.strip_chars()


def _ascii_normalised(comment: pl.Expr) -> pl.Expr:
    """:func:`normalised` for a comment known to be ASCII, in far fewer passes.

    On ASCII text the mojibake repair (non-ASCII characters), NFD and mark removal and every
    ligature but the backquote change nothing, so they are skipped; the rest is the same.
    """
    text = comment.str.replace_all("|", " ", literal=True).str.to_lowercase()
    text = text.str.replace_all("`", _LIGATURES["`"], literal=True)
    return text.str.replace_all(r"\s+", " ").str.strip_chars()


def _escape(chunk: str) -> str:
    return "".join(f"\\{c}" if c in _REGEX_META else c for c in chunk)


def term_regex(term: str) -> str:
    """The regular expression of one lexicon term, for the normalised comment.

    Whole words (``\\b`` at a word edge), ``*`` → any letters, a space or hyphen → any run of
    spaces, hyphens or apostrophes, an apostrophe → an apostrophe or a space.
    """
    norm = normalise(term)
    if not norm.strip("*'- "):
        raise ValueError(f"empty theme term {term!r}")
    # Terms in other scripts (Cyrillic, Greek…) need Unicode word classes; the rest don't.
    word, edge = (_ASCII_WORD, _ASCII_EDGE) if norm.isascii() else (r"\w", r"\b")
    words = [w for w in re.split(r"[\s\-]+", norm) if w]
    parts = []
    for chunk_word in words:
        pieces = []
        for chunk in re.split(r"(\*|')", chunk_word):
            if chunk == "*":
                pieces.append(f"{word}*")
            elif chunk == "'":
                pieces.append(_APOSTROPHE)
            elif chunk:
                pieces.append(_escape(chunk))
        parts.append("".join(pieces))
    start = edge if re.match(r"[\w*]", norm) else ""
    end = edge if re.search(r"[\w*]$", norm) else ""
    return start + _SEPARATOR.join(parts) + end


_LOOKAROUND: Final = re.compile(r"\(\?<?[=!]")


def _checked_regex(pattern: str, origin: str) -> str:
    if _LOOKAROUND.search(pattern):
        raise ConfigError(f"theme lexicon {origin}: regex {pattern!r} uses look-around")
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"theme lexicon {origin}: regex {pattern!r}: {exc}") from None
    return pattern


def _alternation(patterns: Iterable[str]) -> str | None:
    """One regex for many: longest first, so a phrase wins over a word it starts with."""
    unique = sorted(set(patterns), key=lambda p: (-len(p), p))
    return f"(?:{'|'.join(unique)})" if unique else None


def _compiled(entry: _ThemeEntry, origin: str) -> list[str]:
    try:
        terms = [term_regex(term) for term in entry.terms]
    except ValueError as exc:
        raise ConfigError(f"theme lexicon {origin}: {exc}") from None
    return terms + [_checked_regex(p, origin) for p in entry.regex]


# ---------------------------------------------------------------------------------------------
# The lexicon as matching needs it


@dataclass(frozen=True)
class Lexicon:
    """Compiled themes and cues; build it with :func:`load_lexicon`."""

    languages: tuple[str, ...]
    """Languages in preference order (config order, then a user file's own language)."""
    themes: tuple[tuple[str, tuple[tuple[str | None, str], ...]], ...]
    """Per theme, in output order: ``(language, regex)`` pairs; language ``None`` = any."""
    stopwords: tuple[tuple[str, str], ...]
    """Per language, a regex of frequent words that tell a comment's language."""
    positive: str | None
    negative: str | None
    negation: str | None
    neutral: str | None
    contrast: str | None

    @property
    def theme_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.themes)


def load_lexicon(
    languages: Sequence[str] = ("en", "fr"), user_path: str | os.PathLike[str] | None = None
) -> Lexicon:
    """The shipped lexicons of ``languages`` merged with a user lexicon file.

    A theme the user file names replaces that theme's shipped terms in every language (or
    adds to them with ``extend = true``; ``terms = []`` removes the theme); other names add
    themes. The user file's cues add to the shipped cues.
    """
    path = None if user_path is None else Path(user_path)
    stamp = None
    if path is not None:
        try:
            stamp = path.stat().st_mtime_ns
        except OSError:
            raise ConfigError(f"theme lexicon {path}: file not found") from None
    return _load(tuple(languages), str(path) if path else None, stamp)


@functools.lru_cache(maxsize=16)
def _load(languages: tuple[str, ...], user_path: str | None, _stamp: int | None) -> Lexicon:
    user = None
    if user_path is not None:
        user = _parse(Path(user_path).read_text(encoding="utf-8"), user_path)
    known = shipped_languages()
    unknown = [
        lang for lang in languages if lang not in known and (user is None or user.language != lang)
    ]
    if unknown:
        raise ConfigError(
            f"[metrics].theme_languages: no lexicon for {', '.join(map(repr, unknown))}; "
            f"cxpipe ships {', '.join(known)} (a theme_lexicon file with that `language` "
            f"adds one)"
        )
    files: list[tuple[str, _LexiconFile]] = [
        (lang, _shipped(lang)) for lang in languages if lang in known
    ]
    order = list(DEFAULT_THEMES)
    terms: dict[str, dict[str | None, list[str]]] = {}
    for lang, data in files:
        for name, entry in data.themes.items():
            terms.setdefault(name, {}).setdefault(lang, []).extend(_compiled(entry, f"{lang}.toml"))
            if name not in order:
                order.append(name)
    languages_used = list(dict.fromkeys(languages))
    if user is not None and user_path is not None:
        if user.language is not None and user.language not in languages_used:
            languages_used.append(user.language)
        for name, entry in user.themes.items():
            if not entry.extend:
                terms[name] = {}
            terms.setdefault(name, {}).setdefault(user.language, []).extend(
                _compiled(entry, user_path)
            )
            if name not in order:
                order.append(name)
    themes = tuple(
        (
            name,
            tuple(
                (lang, pattern)
                for lang, patterns in terms[name].items()
                if (pattern := _alternation(patterns)) is not None
            ),
        )
        for name in order
        if name in terms
    )
    cue_sets = [data.cues for _, data in files] + ([user.cues] if user is not None else [])

    def cues(kind: str) -> str | None:
        return _alternation(term_regex(t) for cue in cue_sets for t in getattr(cue, kind))

    stopword_files = [*files, *([(user.language, user)] if user and user.language else [])]
    stopwords: dict[str, list[str]] = {}
    for lang, data in stopword_files:
        stopwords.setdefault(lang, []).extend(term_regex(w) for w in data.cues.stopwords)
    return Lexicon(
        languages=tuple(languages_used),
        themes=tuple((name, patterns) for name, patterns in themes if patterns),
        stopwords=tuple(
            (lang, pattern)
            for lang, words in stopwords.items()
            if (pattern := _alternation(words)) is not None
        ),
        positive=cues("positive"),
        negative=cues("negative"),
        negation=cues("negation"),
        neutral=cues("neutral"),
        contrast=cues("contrast"),
    )


def lexicon_from_settings(settings: Mapping[str, Any]) -> Lexicon:
    """The lexicon the config's ``[metrics]`` table asks for (``theme_languages``,
    ``theme_lexicon`` — already an absolute path in a run)."""
    languages = settings.get("theme_languages") or ("en", "fr")
    return load_lexicon(tuple(languages), settings.get("theme_lexicon"))


# ---------------------------------------------------------------------------------------------
# Matching (vectorised: one regex per theme and language over the distinct comments)


def has_comment(comment: str = "comment") -> pl.Expr:
    """A comment with something in it (not null, not only spaces)."""
    return pl.col(comment).str.strip_chars().str.len_chars().fill_null(0) > 0


_SCORE_RANGES: Final = {"nps_score": (6, 9), "csat": (2, 4)}
"""Per score: the highest negative value and the lowest positive one."""


def score_polarity(columns: Iterable[str] = tuple(_SCORE_RANGES)) -> pl.Expr:
    """Polarity from the response's own scores (those of ``columns`` present); null when it
    has none.

    Negative for a detractor (NPS ≤ 6 or CSAT ≤ 2, the call-back list's rule), else positive
    for NPS 9–10 or CSAT 4–5, else neutral.
    """
    scores = [name for name in _SCORE_RANGES if name in set(columns)]
    if not scores:
        return pl.lit(None, dtype=pl.String)
    negative = pl.any_horizontal(
        (pl.col(s) <= _SCORE_RANGES[s][0]).fill_null(False) for s in scores
    )
    positive = pl.any_horizontal(
        (pl.col(s) >= _SCORE_RANGES[s][1]).fill_null(False) for s in scores
    )
    return (
        pl.when(negative)
        .then(pl.lit("negative"))
        .when(positive)
        .then(pl.lit("positive"))
        .when(pl.any_horizontal(pl.col(s).is_not_null() for s in scores))
        .then(pl.lit("neutral"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )


def _detected_language(text: pl.Expr, lexicon: Lexicon) -> pl.Expr:
    """The language with strictly the most stopword hits; null when none or a tie."""
    if not lexicon.stopwords:
        return pl.lit(None, dtype=pl.String)
    counts = {lang: text.str.count_matches(pattern) for lang, pattern in lexicon.stopwords}
    result = pl.lit(None, dtype=pl.String)
    for lang, count in reversed(counts.items()):
        others = [c for other, c in counts.items() if other != lang]
        beats = count > (pl.max_horizontal(others) if others else pl.lit(0))
        result = pl.when(beats & (count > 0)).then(pl.lit(lang)).otherwise(result)
    return result


def _cue_polarity(clause: pl.Expr, lexicon: Lexicon) -> pl.Expr:
    """Polarity from cue words in a clause: (positive − negative) cues, negations flipping.

    A negation up to two words before a cue flips it ("pas très sympa" counts −1, "pas
    cher" +1); those pairs are then removed, negative cues counted, and positive cues
    counted outside negative phrases ("peu aimable" is one negative cue, not also "aimable").
    """
    pos, neg, negation = lexicon.positive, lexicon.negative, lexicon.negation
    score: pl.Expr = pl.lit(0, dtype=pl.Int64)
    if lexicon.neutral is not None:
        clause = clause.str.replace_all(lexicon.neutral, " ")
    rest = clause
    if negation is not None:
        gap, word = r"[^0-9A-Za-z_]+", _ASCII_WORD
        lead = rf"{negation}(?:{gap}{word}+){{0,2}}?{gap}"
        if pos is not None:
            score = score - clause.str.count_matches(lead + pos).cast(pl.Int64)
        if neg is not None:
            score = score + clause.str.count_matches(lead + neg).cast(pl.Int64)
        either = "|".join(p for p in (pos, neg) if p is not None)
        if either:
            rest = rest.str.replace_all(f"{lead}(?:{either})", " ")
    if neg is not None:
        score = score - rest.str.count_matches(neg).cast(pl.Int64)
        rest = rest.str.replace_all(neg, " ")
    if pos is not None:
        score = score + rest.str.count_matches(pos).cast(pl.Int64)
    return (
        pl.when(score > 0)
        .then(pl.lit("positive"))
        .when(score < 0)
        .then(pl.lit("negative"))
        .otherwise(pl.lit("neutral"))
    )


_KEY: Final = "_cx_comment"
_LANG: Final = "_cx_lang"
_TEXT: Final = "_cx_text"


def _distinct_comments(rows: pl.LazyFrame, lexicon: Lexicon, comment: str) -> pl.LazyFrame:
    """Each distinct comment of ``rows`` once (``_cx_comment``), with what matching reads.

    ``_cx_lang`` is the comment's detected language, ``_cx_text`` its normalised text cut
    into clauses: ``|`` before each (clauses end at . ! ? ; and at contrast words). Matching
    depends on the comment's text alone, so it is worked out once per distinct text: a
    comment repeated across responses ("RAS", "Nothing to add") costs nothing more.
    """
    breaks = r"[.!?;]+" if lexicon.contrast is None else rf"[.!?;]+|{lexicon.contrast}"
    text, norm = pl.col(_KEY), pl.col("_cx_norm")
    distinct = rows.select(pl.col(comment).alias(_KEY)).unique()
    ascii = text.str.len_bytes() == text.str.len_chars()
    return pl.concat(
        [
            distinct.filter(ascii).with_columns(_cx_norm=_ascii_normalised(text)),
            distinct.filter(~ascii).with_columns(_cx_norm=normalised(text)),
        ],
        how="vertical",
    ).select(
        _KEY,
        _detected_language(norm, lexicon).alias(_LANG),
        pl.concat_str(pl.lit("|"), norm.str.replace_all(breaks, "|")).alias(_TEXT),
    )


def _applies(lang: str | None) -> pl.Expr:
    """Whether a language's terms apply: language-free terms always; a language's own when
    the comment is in it or its language could not be told."""
    if lang is None:
        return pl.lit(True)
    return pl.col(_LANG).is_null() | (pl.col(_LANG) == lang)


def _clause_regex(pattern: str) -> str:
    """The first clause holding a match of ``pattern`` (group ``clause``) and that match,
    the first in the clause (group ``matched``)."""
    return rf"\|(?P<clause>[^|]*?(?P<matched>{pattern})[^|]*)"


def _mentions(patterns: Sequence[tuple[str | None, str]]) -> pl.Expr:
    """Whether the comment (``_cx_text``) mentions a theme of these ``(language, regex)``.

    True exactly when :func:`_clause_regex` of a language that applies finds a clause, but
    a yes/no match needs no capture groups, which makes it many times faster.
    """
    return pl.any_horizontal(
        _applies(lang) & pl.col(_TEXT).str.contains(rf"\|[^|]*?(?:{pattern})")
        for lang, pattern in patterns
    )


def _flagged(distinct: pl.LazyFrame, lexicon: Lexicon) -> tuple[pl.LazyFrame, list[str]]:
    """``distinct`` plus a boolean column per theme of the lexicon (named as returned): does
    the comment mention it. Cached: the table reads it once per theme, the metrics once per
    metric, and polars would otherwise match the comments again for each."""
    names = [f"_cx_theme_{i}" for i in range(len(lexicon.themes))]
    flags = (
        _mentions(patterns).alias(name)
        for name, (_, patterns) in zip(names, lexicon.themes, strict=True)
    )
    return distinct.with_columns(flags).cache(), names


def _theme_hits(distinct: pl.LazyFrame, lexicon: Lexicon) -> pl.LazyFrame:
    """Per distinct comment and theme it mentions: ``theme``, ``_cx_order`` (the theme's
    position in the lexicon), ``matched``, ``language`` and ``_cx_clause``.

    The capture groups, slow to extract, are extracted only from the comments that mention
    the theme.
    """
    flagged, names = _flagged(distinct, lexicon)
    parts = []
    for order, (name, (theme, patterns)) in enumerate(zip(names, lexicon.themes, strict=True)):
        groups = [f"_cx_groups_{i}" for i in range(len(patterns))]
        found = [
            (
                pl.when(_applies(lang)).then(pl.col(group).struct.field("matched")),
                pl.when(_applies(lang)).then(pl.col(group).struct.field("clause")),
                pl.lit(lang, dtype=pl.String) if lang else pl.col(_LANG),
            )
            for group, (lang, _) in zip(groups, patterns, strict=True)
        ]
        parts.append(
            flagged.filter(pl.col(name))
            .with_columns(
                pl.col(_TEXT).str.extract_groups(_clause_regex(pattern)).alias(group)
                for group, (_, pattern) in zip(groups, patterns, strict=True)
            )
            .select(
                _KEY,
                pl.lit(theme, dtype=pl.String).alias("theme"),
                pl.lit(order, dtype=pl.UInt32).alias("_cx_order"),
                pl.coalesce([m for m, _, _ in found]).str.strip_chars().alias("matched"),
                pl.coalesce([pl.when(m.is_not_null()).then(lang) for m, _, lang in found]).alias(
                    "language"
                ),
                pl.coalesce([c for _, c, _ in found]).alias("_cx_clause"),
            )
        )
    return pl.concat(parts, how="vertical")


def theme_mentions(
    frame: pl.LazyFrame, lexicon: Lexicon, *, comment: str = "comment"
) -> pl.LazyFrame:
    """One row per row of ``frame`` and theme its comment mentions, ``frame``'s columns kept.

    Adds ``theme``, ``matched`` (the first text that matched, normalised), ``language`` (of
    the lexicon that matched; the comment's detected language for language-free user
    terms), ``polarity`` and ``polarity_source``. A comment whose language the stopwords
    tell is matched against that language's terms only (and language-free ones); one they
    can't tell ("Prix trop chers !") against every language's. ``polarity`` comes from the
    row's ``nps_score``/``csat`` where it has one, else from the cue words of the first
    clause mentioning the theme (clauses end at . ! ? ; and at contrast words such as
    "but"/"mais"). Rows come in ``frame``'s order, then the lexicon's theme order.
    """
    columns = frame.collect_schema().names()
    rows = frame.filter(has_comment(comment))
    if not lexicon.themes:
        return rows.select(
            *columns, *(pl.lit(None, dtype=pl.String).alias(c) for c in _HIT_COLUMNS)
        ).clear()
    hits = _theme_hits(_distinct_comments(rows, lexicon, comment), lexicon).with_columns(
        _cx_cues=_cue_polarity(pl.col("_cx_clause"), lexicon)
    )
    score = pl.col("_cx_score")
    row = "_cx_theme_row"  # the input's order (a source's rows may carry a ``_cx_row`` already)
    while row in columns:
        row = f"_{row}"
    return (
        rows.with_row_index(row)
        .join(hits, left_on=comment, right_on=_KEY, how="inner")
        .sort(row, "_cx_order")
        .with_columns(_cx_score=score_polarity(columns))
        .with_columns(
            polarity=pl.coalesce(score, pl.col("_cx_cues")),
            polarity_source=pl.when(score.is_not_null())
            .then(pl.lit("score"))
            .otherwise(pl.lit("comment")),
        )
        .select(*columns, *_HIT_COLUMNS)
    )


def theme_flags(frame: pl.LazyFrame, lexicon: Lexicon, *, comment: str = "comment") -> pl.LazyFrame:
    """One row per row of ``frame`` with a comment and theme of the lexicon, ``frame``'s
    columns kept, plus ``theme`` and ``mentioned``: true exactly when :func:`theme_mentions`
    gives that row and theme a row (the same matching), false otherwise.

    For counting (the theme metrics): it works out neither the matched text, nor the
    language, nor the polarity, and the rows come in no particular order.
    """
    rows = frame.filter(has_comment(comment))
    if not lexicon.themes:
        return rows.with_columns(
            theme=pl.lit(None, dtype=pl.String), mentioned=pl.lit(None, dtype=pl.Boolean)
        ).clear()
    flagged, names = _flagged(_distinct_comments(rows, lexicon, comment), lexicon)
    flags = (
        flagged.select(_KEY, *names)
        .unpivot(index=_KEY, variable_name="theme", value_name="mentioned")
        .with_columns(
            pl.col("theme").replace_strict(
                dict(zip(names, lexicon.theme_names, strict=True)), return_dtype=pl.String
            )
        )
    )
    return rows.join(flags, left_on=comment, right_on=_KEY, how="inner")


_HIT_COLUMNS: Final = ("theme", "matched", "language", "polarity", "polarity_source")


def client_comments(survey_responses: pl.LazyFrame) -> pl.LazyFrame:
    """Client responses with a comment: what themes are counted over (IT's own
    self-assessment notes are not feedback)."""
    return survey_responses.filter((pl.col("respondent_side") == "client") & has_comment())


# ---------------------------------------------------------------------------------------------
# The detail table

FEEDBACK_THEMES_SCHEMA: Final = pa.schema(
    [
        pa.field("response_id", pa.string(), nullable=False),
        pa.field("client_id", pa.string(), nullable=False),
        pa.field("submitted_at", UTC_TIMESTAMP, nullable=False),
        pa.field("theme", pa.string(), nullable=False),
        pa.field("polarity", pa.string(), nullable=False),
        pa.field("polarity_source", pa.string(), nullable=False),
        pa.field("matched", pa.string(), nullable=False),
        pa.field("language", pa.string()),
        pa.field("comment", pa.string(), nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("computed_at", UTC_TIMESTAMP, nullable=False),
    ]
)

FEEDBACK_THEMES_DOCS: Final = {
    "response_id": "The survey response whose comment mentions the theme.",
    "client_id": "The client who responded.",
    "submitted_at": "When the response was submitted (UTC); themes are counted in its period.",
    "theme": "The theme mentioned: timeliness, communication, cost, accessibility, quality, "
    "professionalism, relevance, or one from the user lexicon.",
    "polarity": "positive, neutral or negative: from the response's NPS/CSAT where it has one, "
    "else from cue words in the clause mentioning the theme.",
    "polarity_source": "score (from nps_score/csat) or comment (from cue words).",
    "matched": "The first text that matched the theme, lower-cased and without accents.",
    "language": "The language of the lexicon that matched (en, fr, …); null for a "
    "language-free user term in a comment whose language could not be told.",
    "comment": "The full comment, unchanged: the source of truth for the theme.",
    "run_id": "The run that wrote the row.",
    "computed_at": "When the run computed the table (UTC).",
}


@table(
    name="feedback_themes",
    title="Feedback themes",
    description=(
        "One row per client response and theme its comment mentions, with the polarity of the "
        "mention, from a configurable keyword lexicon (English and French shipped)."
    ),
    schema=FEEDBACK_THEMES_SCHEMA,
    inputs=("survey_responses",),
    column_docs=FEEDBACK_THEMES_DOCS,
)
def feedback_themes(ctx: AnalysisContext) -> pl.LazyFrame:
    """Every theme of every client comment, sorted by response then theme order."""
    lexicon = lexicon_from_settings(ctx.metric.settings)
    order = {name: i for i, name in enumerate(lexicon.theme_names)}
    responses = client_comments(ctx.frames["survey_responses"]).select(
        "response_id", "client_id", "submitted_at", "nps_score", "csat", "comment"
    )
    return (
        theme_mentions(responses, lexicon)
        .with_columns(
            _cx_order=pl.col("theme").replace_strict(
                order, default=len(order), return_dtype=pl.Int32
            )
        )
        .sort("submitted_at", "response_id", "_cx_order")
        .drop("_cx_order", "nps_score", "csat")
    )
