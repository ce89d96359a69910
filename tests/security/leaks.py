"""Searching everything a run left behind for planted secrets.

A secret can escape in many spellings: as is, URL-encoded (in a connection URL), or inside
an HTTP Basic header (base64 of ``user:password``). Parquet pages are zstd-compressed, so
a leak in a column is invisible in the raw bytes: Parquet files are searched both raw (the
footer metadata is plain) and decoded, value by value.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, quote_plus

import pyarrow.parquet as pq


def secret_forms(secret: str, *, user: str | None = None) -> list[str]:
    """``secret`` in every spelling a leak could take (with ``user``: its Basic header too)."""
    forms = {secret, quote(secret, safe=""), quote(secret), quote_plus(secret)}
    if user is not None:
        forms.add(base64.b64encode(f"{user}:{secret}".encode()).decode())
    return sorted(forms)


@dataclass
class LeakSearch:
    """The forms to look for, and where each was found (``where → form``)."""

    forms: list[str]
    found: list[tuple[str, str]] = field(default_factory=list)
    searched: list[str] = field(default_factory=list)

    def text(self, where: str, text: str) -> None:
        self.searched.append(where)
        self.found += [(where, form) for form in self.forms if form in text]

    def data(self, where: str, data: bytes) -> None:
        # latin-1 maps every byte to one character: a lenient decode that never fails
        self.text(where, data.decode("latin-1"))

    def tree(self, root: Path) -> None:
        """Every file under ``root``: manifests, scorecard, quarantine, ``_state/``, Parquet."""
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            data = path.read_bytes()
            self.data(str(path), data)
            if path.suffix == ".parquet":
                table = pq.read_table(path)
                self.text(f"{path} (values)", repr(table.to_pylist()))
                self.text(f"{path} (schema)", repr(table.schema.metadata))

    def error(self, where: str, error: BaseException) -> None:
        """The exception, its ``__cause__``/``__context__`` chain, messages and reprs."""
        for number, item in enumerate(_chain(error)):
            self.text(f"{where} [{number}]", f"{item}\n{item!r}\n{item.args!r}")

    def records(self, where: str, records: Iterable[logging.LogRecord]) -> None:
        formatter = logging.Formatter()
        for record in records:
            text = f"{record.getMessage()}\n{record.args!r}\n{record.__dict__!r}"
            if record.exc_info and record.exc_info[1] is not None:
                text += formatter.formatException(record.exc_info)
                self.error(f"{where} {record.name} exc", record.exc_info[1])
            self.text(f"{where} {record.name}", text)

    def assert_clean(self) -> None:
        assert self.searched, "nothing was searched"
        assert not self.found, f"secrets leaked: {self.found}"


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException] = [error]
    while todo:
        item = todo.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        todo += [e for e in (item.__cause__, item.__context__) if e is not None]
        if isinstance(item, BaseExceptionGroup):
            todo += list(item.exceptions)


class AllRecords(logging.Handler):
    """Every record at DEBUG from every logger, including those that do not propagate
    (Prefect's), which ``caplog`` alone would miss."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self._attached: list[tuple[logging.Logger, int]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def attach(self) -> AllRecords:
        loggers = [logging.getLogger()] + [
            logger
            for logger in logging.Logger.manager.loggerDict.values()
            if isinstance(logger, logging.Logger) and not logger.propagate
        ]
        for logger in (*loggers, logging.getLogger("prefect"), logging.getLogger("httpx")):
            self._attached.append((logger, logger.level))
            logger.setLevel(logging.DEBUG)
            logger.addHandler(self)
        return self

    def detach(self) -> None:
        for logger, level in reversed(self._attached):
            logger.removeHandler(self)
            logger.setLevel(level)
        self._attached.clear()
