"""The built-in ``file`` source: CSV (plain or gzipped), Parquet, JSON Lines and Excel.

Text formats are read with every column as a string, so that conform does all parsing
in one place, with the formats, null tokens and error reporting the config declares.
Files are scanned lazily; only a file that is not valid UTF-8 is decoded in memory.
"""

from __future__ import annotations

import codecs
import csv
import glob
import gzip
import io
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import polars as pl
from pydantic import field_validator

from cxpipe.errors import SourceError
from cxpipe.sources.base import Extract, InputFile, Source, SourceOptions
from cxpipe.sources.encoding import decode, is_valid_utf8

FileFormat = Literal["csv", "parquet", "jsonl", "excel"]

_SUFFIXES: dict[str, FileFormat] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".xlsx": "excel",
    ".xls": "excel",
}


class FileOptions(SourceOptions):
    path: str
    """A file or a glob pattern (``exports/tickets-*.csv.gz``), relative to the config file."""
    format: FileFormat | None = None
    """Inferred from the extension (``.gz`` is looked through) when unset."""
    encoding: str = "utf-8"
    """Any Python codec name: ``cp1252``, ``latin-1``, ``utf-16``…"""
    encoding_fallback: str | None = None
    """Code page for bytes the declared encoding rejects (``cp850`` for old DOS exports)."""
    separator: str = ","
    quote_char: str | None = '"'

    @field_validator("encoding", "encoding_fallback")
    @classmethod
    def _known_codec(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                codecs.lookup(value)
            except LookupError:
                raise ValueError(
                    f"unknown encoding {value!r}; use a Python codec name such as utf-8, "
                    f"cp1252, latin-1, cp850"
                ) from None
        return value

    sheet: str | None = None
    """Excel sheet name; the first sheet when unset."""


def _is_empty(path: str) -> bool:
    """True for a zero-byte file, or a gzip file that decompresses to nothing."""
    if os.path.getsize(path) == 0:
        return True
    if path.endswith(".gz"):
        try:
            with gzip.open(path, "rb") as handle:
                return handle.read(1) == b""
        except (OSError, EOFError):
            return False  # a damaged archive is reported when it is read
    return False


def infer_format(path: str) -> FileFormat:
    name = path.lower().removesuffix(".gz")
    suffix = Path(name).suffix
    if suffix not in _SUFFIXES:
        raise SourceError(
            f"{path}: cannot tell the file format from {suffix!r}; set options.format to one "
            f"of csv, parquet, jsonl, excel"
        )
    return _SUFFIXES[suffix]


class FileSource(Source):
    """Reads exports from the local filesystem."""

    kind = "file"
    Options = FileOptions
    options: FileOptions

    def files(self) -> list[str]:
        pattern = self.resolve(self.options.path)
        matches = sorted(glob.glob(pattern, recursive=True))
        if not matches:
            raise SourceError(f"source {self.name!r}: no file matches {pattern!r}")
        return matches

    def extract(self, since: datetime | None = None) -> Extract:
        frames: list[pl.LazyFrame] = []
        inputs: list[InputFile] = []
        warnings: list[str] = []
        for path in self.files():
            stat = os.stat(path)
            inputs.append(
                InputFile(path, stat.st_size, datetime.fromtimestamp(stat.st_mtime, tz=UTC))
            )
            if _is_empty(path):
                warnings.append(f"source {self.name!r}: {path} is empty (no header, no rows)")
                continue
            frame, warning = self._scan(path)
            if warning:
                warnings.append(f"source {self.name!r}: {warning}")
            row = pl.col("_cx_row").cast(pl.Int64)
            if (self.options.format or infer_format(path)) == "csv":
                row = self._guard_short_records(path, frame.collect_schema().names()[-1])
            frames.append(
                frame.with_row_index("_cx_row", offset=1).with_columns(
                    _cx_file=pl.lit(path, dtype=pl.String), _cx_row=row
                )
            )
        if not frames:
            names = ", ".join(i.path for i in inputs)
            raise SourceError(f"source {self.name!r}: every matching file is empty: {names}")
        combined = frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")
        return Extract(frame=combined, inputs=inputs, warnings=warnings)

    def explain(self, error: Exception) -> str:
        """Locate ragged CSV records (more or fewer fields than the header) by file and line."""
        problems: list[str] = []
        for path in self.files():
            if (self.options.format or infer_format(path)) == "csv" and not _is_empty(path):
                problems += [f"{path}: {p}" for p in self._ragged_records(path)]
        if problems:
            return f"source {self.name!r}: malformed CSV: " + "; ".join(problems)
        files = ", ".join(self.files())
        return f"source {self.name!r}: cannot read its rows from {files}: {error}"

    def _guard_short_records(self, path: str, last: str) -> pl.Expr:
        """``_cx_row``, failing the read if a record has fewer fields than the header.

        polars fills the missing trailing fields of a short record with nulls, which would
        keep a malformed row as if it were whole. Only a file whose last column has a null
        can hold one, so only such a file is re-read record by record (once) to tell a
        short record from an empty last field; the error is then located by
        :meth:`explain`.
        """
        checked: dict[str, bool] = {}

        def check(columns: Sequence[pl.Series]) -> pl.Series:
            row, tail = columns
            if tail.null_count() and "ragged" not in checked:
                checked["ragged"] = bool(self._ragged_records(path, limit=1))
            if checked.get("ragged"):
                raise pl.exceptions.ComputeError(
                    f"{path}: a record has fewer fields than the header"
                )
            return row.cast(pl.Int64)

        return pl.map_batches(["_cx_row", last], check, return_dtype=pl.Int64, is_elementwise=True)

    def _ragged_records(self, path: str, limit: int = 5) -> list[str]:
        """Up to ``limit`` records whose field count differs from the header's, streamed
        (undecodable bytes cannot create or hide a field separator, so they are replaced)."""
        opener = gzip.open if path.endswith(".gz") else open
        with (
            opener(path, "rb") as raw,
            io.TextIOWrapper(
                raw, encoding=self.options.encoding, errors="replace", newline=""
            ) as text,
        ):
            quote = self.options.quote_char
            reader = csv.reader(
                text,
                delimiter=self.options.separator,
                quotechar=quote or '"',
                quoting=csv.QUOTE_MINIMAL if quote else csv.QUOTE_NONE,
            )
            header = next(reader, [])
            found: list[str] = []
            for record_number, record in enumerate(reader, start=1):
                if record and len(record) != len(header):
                    found.append(
                        f"row {record_number} (line {reader.line_num}) has {len(record)} "
                        f"fields, the header has {len(header)}"
                    )
                    if len(found) == limit:
                        break
        return found

    def _scan(self, path: str) -> tuple[pl.LazyFrame, str | None]:
        fmt = self.options.format or infer_format(path)
        try:
            if fmt == "csv":
                return self._scan_csv(path)
            if fmt == "parquet":
                return pl.scan_parquet(path), None
            if fmt == "jsonl":
                return self._scan_jsonl(path), None
            sheet = self.options.sheet
            excel = pl.read_excel(path, sheet_name=sheet, infer_schema_length=0)
            return excel.lazy(), None
        except SourceError:
            raise
        except (OSError, pl.exceptions.PolarsError, ValueError, EOFError) as exc:
            raise SourceError(
                f"source {self.name!r}: cannot read {path} as {fmt}: {exc}".strip()
            ) from exc

    def _csv_kwargs(self) -> dict[str, object]:
        return {
            "separator": self.options.separator,
            "quote_char": self.options.quote_char,
            "infer_schema": False,
        }

    def _scan_csv(self, path: str) -> tuple[pl.LazyFrame, str | None]:
        codec = self.options.encoding.lower().replace("_", "-")
        if codec in ("utf-8", "utf8") and is_valid_utf8(path):
            return pl.scan_csv(path, **self._csv_kwargs()), None  # type: ignore[arg-type]
        text, report = decode(path, self.options.encoding, self.options.encoding_fallback)
        frame = pl.read_csv(io.StringIO(text), **self._csv_kwargs())  # type: ignore[arg-type]
        return frame.lazy(), (report.message() if report.offsets else None)

    def _scan_jsonl(self, path: str) -> pl.LazyFrame:
        # JSON keeps its own types; scalars are turned to strings so conform parses all
        # sources the same way (a JSON number of seconds and a CSV one behave alike).
        frame = pl.scan_ndjson(path, infer_schema_length=None)
        names = frame.collect_schema()
        return frame.with_columns(
            pl.col(name).cast(pl.String)
            for name, dtype in names.items()
            if dtype.is_numeric() or dtype == pl.Boolean
        )
