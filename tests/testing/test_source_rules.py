"""Each source rule catches the mistake it is about, and only on a broken source."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import polars as pl
import pytest
from pydantic import ConfigDict

from cxpipe.config import SourceConfig
from cxpipe.sources.base import Extract, Source, SourceOptions
from cxpipe.testing import SOURCE_RULES, SourceCase
from cxpipe.testing.factory import source_config
from cxpipe.testing.rules.sources import call_with_timeout

ROWS = [
    {"id": "T1", "client": "A", "prio": "high", "opened": "2026-01-05T10:00:00Z"},
    {"id": "T2", "client": "B", "prio": "low", "opened": "2026-02-05T10:00:00Z"},
    {"id": "T3", "client": "A", "prio": "low", "opened": "2026-03-05T10:00:00Z"},
]
CONFIG = {
    "entity": "tickets",
    "columns": {
        "ticket_id": "id",
        "client_id": "client",
        "priority": "prio",
        "opened_at": "opened",
        "request_type": {"value": "support"},
        "status": {"value": "open"},
        "reopen_count": {"value": 0},
        "reassignment_count": {"value": 0},
    },
}
SINCE = datetime(2026, 2, 1, tzinfo=UTC)


class StubOptions(SourceOptions):
    rows: list[dict[str, Any]]


class StubSource(Source):
    """Rows from the options, filtered by ``since`` on ``opened``: keeps every rule."""

    kind = "stub"
    Options = StubOptions
    options: StubOptions

    def frame(self, since: datetime | None) -> pl.DataFrame:
        rows = [r for r in self.options.rows if since is None or r["opened"] >= since.isoformat()]
        return pl.DataFrame(rows, schema=dict.fromkeys(ROWS[0], pl.String))

    def extract(self, since: datetime | None = None) -> Extract:
        frame = self.frame(since).with_row_index("_cx_row", offset=1)
        return Extract(
            frame=frame.lazy().with_columns(
                _cx_file=pl.lit("stub"), _cx_row=pl.col("_cx_row").cast(pl.Int64)
            )
        )


def case(
    cls: type[Source] = StubSource, rows: list[dict[str, Any]] = ROWS, **kw: Any
) -> SourceCase:
    config = source_config(cls, {**CONFIG, "options": {"rows": rows}})
    return SourceCase(cls, config, **{"since": SINCE, "timeout": 5.0, **kw})


def broken(rule: str, match: str, source_case: SourceCase) -> None:
    with pytest.raises(AssertionError, match=match):
        SOURCE_RULES[rule](source_case)


@pytest.mark.parametrize("rule", SOURCE_RULES)
def test_a_good_source_keeps_every_rule(rule: str) -> None:
    SOURCE_RULES[rule](case())


def test_kind_and_options_are_declared() -> None:
    class NoKind(StubSource):
        kind = ""

    class LaxOptions(StubOptions):
        model_config = ConfigDict(extra="allow")

    class Lax(StubSource):
        Options = LaxOptions

    class NotAModel(StubSource):
        Options = dict  # type: ignore[assignment]

    broken("declares_kind_and_options", "sets no `kind`", case(NoKind))
    broken("declares_kind_and_options", "allows unknown keys", case(Lax))
    broken("declares_kind_and_options", "must subclass", case(NotAModel))


def test_unknown_options_are_rejected() -> None:
    class LaxOptions(StubOptions):
        model_config = ConfigDict(extra="ignore")

    class Lax(StubSource):
        Options = LaxOptions

    broken("rejects_unknown_options", "accepted the unknown option", case(Lax))


@pytest.fixture
def stop() -> Iterator[threading.Event]:
    """Set at teardown, so a source made to hang stops in the background."""
    event = threading.Event()
    yield event
    event.set()


def test_an_endless_paginator_fails_after_the_timeout(stop: threading.Event) -> None:
    class Endless(StubSource):
        def extract(self, since: datetime | None = None) -> Extract:
            while not stop.wait(0.01):  # "next page" for ever
                pass
            raise RuntimeError("stopped")

    hanging = case(Endless, timeout=0.2)
    broken("extract_terminates", "did not finish within 0.2 s", hanging)
    # Every rule that needs rows reports the same failure, without waiting again.
    broken("primary_key_unique", "did not finish", hanging)


def test_timeout_passes_results_and_errors_through() -> None:
    assert call_with_timeout(lambda: 42, 1.0, "answer") == 42
    with pytest.raises(ZeroDivisionError):
        call_with_timeout(lambda: 1 / 0, 1.0, "division")


def test_lineage() -> None:
    class ZeroBased(StubSource):
        def extract(self, since: datetime | None = None) -> Extract:
            frame = self.frame(since).with_row_index("_cx_row").with_columns(_cx_file=pl.lit("x"))
            return Extract(frame=frame.lazy().with_columns(pl.col("_cx_row").cast(pl.Int64)))

    class NoFile(StubSource):
        def extract(self, since: datetime | None = None) -> Extract:
            return Extract(frame=super().extract(since).frame.drop("_cx_file"))

    class Eager(StubSource):
        def extract(self, since: datetime | None = None) -> Extract:
            return Extract(frame=super().extract(since).frame.collect())  # type: ignore[arg-type]

    broken("extract_has_lineage", "1-based", case(ZeroBased))
    broken("extract_has_lineage", "no '_cx_file' column", case(NoFile))
    broken("extract_has_lineage", "Extract.frame is a DataFrame", case(Eager))
    broken("extract_has_lineage", "has no rows", case(rows=[]))


def test_values_that_do_not_parse_or_validate() -> None:
    unparsable = [{**ROWS[0], "opened": "yesterday"}, *ROWS[1:]]
    broken("no_conform_errors", "cannot parse", case(rows=unparsable))
    broken("valid_rows", "opened_at is null", case(rows=unparsable))
    unmapped = [{**ROWS[0], "prio": "P1"}, *ROWS[1:]]
    broken("valid_rows", "priority not in", case(rows=unmapped))


def test_primary_key() -> None:
    broken("primary_key_unique", "repeats", case(rows=[*ROWS, ROWS[0]]))
    broken("primary_key_unique", "is null", case(rows=[{**ROWS[0], "id": None}, *ROWS[1:]]))


def test_watermark_and_since() -> None:
    broken("watermark_present", "null on 1 rows", case(rows=[{**ROWS[0], "opened": None}]))

    class IgnoresSince(StubSource):
        def extract(self, since: datetime | None = None) -> Extract:
            return super().extract(None)

    broken("since_filters", "1 rows older than `since`", case(IgnoresSince))
    SOURCE_RULES["since_filters"](case(IgnoresSince, since=None))  # not asked: skipped


def test_conform_failure_names_the_mapping() -> None:
    config = SourceConfig.model_validate(
        {**CONFIG, "name": "s", "kind": "stub", "options": {"rows": ROWS}}
    )
    config = config.model_copy(update={"columns": {**config.columns, "ticket_id": "number"}})
    broken(
        "conforms_to_entity",
        "conforming StubSource's rows .*'number'",
        SourceCase(StubSource, config),
    )
