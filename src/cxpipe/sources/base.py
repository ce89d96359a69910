"""The source contract: what a source plugin is and what it hands to conform.

A source reads one system (a file export, an API, a database) and yields its rows as a
LazyFrame with the system's own column names; conform then maps them onto the canonical
entity by configuration. Keeping the mapping out of the source is what lets a CSV export
with other headers work without code.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

import polars as pl
from pydantic import BaseModel, ConfigDict, ValidationError

from cxpipe.config import SourceConfig, format_validation_error
from cxpipe.errors import ConfigError

LINEAGE_COLUMNS = ("_cx_source", "_cx_file", "_cx_row")
"""Added to every row so a quarantined row names the source, file and row it came from."""


@dataclass(frozen=True)
class InputFile:
    """One input the run read, for the manifest."""

    path: str
    size_bytes: int | None = None
    modified_at: datetime | None = None


@dataclass
class Extract:
    """What a source hands to conform.

    ``frame`` holds the source's columns plus ``_cx_file`` (str) and ``_cx_row`` (1-based
    row number within that file or page stream).
    """

    frame: pl.LazyFrame
    inputs: list[InputFile] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class SourceOptions(BaseModel):
    """Base of a source plugin's ``options`` table; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(ABC):
    """Base class of every source plugin.

    Subclasses set ``kind`` (the name a config's ``[[sources]]`` table uses) and
    ``Options`` (a :class:`SourceOptions` model of their settings), and implement
    :meth:`extract`.
    """

    kind: ClassVar[str]
    Options: ClassVar[type[SourceOptions]] = SourceOptions

    def __init__(self, config: SourceConfig, *, resolve_path: Any = None) -> None:
        self.config = config
        self._resolve_path = resolve_path or (lambda path: path)
        try:
            self.options = self.Options.model_validate(config.options)
        except ValidationError as exc:
            message = format_validation_error(
                exc, f"source {config.name!r} ({self.kind})", self.Options
            )
            # field errors read "options.<field>: …", whole-model ones "options: …"
            message = message.replace("  - : ", "  - options: ").replace("  - ", "  - options.")
            raise ConfigError(message.replace("  - options.options: ", "  - options: ")) from None

    @property
    def name(self) -> str:
        return self.config.name

    def resolve(self, path: str) -> str:
        """A path from the options, made absolute against the config file's folder."""
        resolved: str = self._resolve_path(path)
        return resolved

    def explain(self, error: Exception) -> str:
        """Turn an error raised while reading this source's rows into a message that names
        the file, row or field at fault. Sources that can locate the problem override it."""
        return f"source {self.name!r}: cannot read its rows: {error}"

    @abstractmethod
    def extract(self, since: datetime | None = None) -> Extract:
        """Read the source. ``since`` is the last committed watermark, for incremental reads
        (a source that cannot filter may ignore it; the runner deduplicates by key)."""
