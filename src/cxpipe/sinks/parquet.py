"""The Parquet star schema that BI tools read directly.

Layout under the output root::

    metric_values/period=2026-10/part-0.parquet   fact table, one file per period
    dim_metric/part-0.parquet                     metric catalog
    dim_client/part-0.parquet                     clients
    signals/part-0.parquet, action_plan/part-0.parquet, <detail table>/part-0.parquet
    quarantine/<entity>/source=<name>/part-0.parquet
    _entities/<entity>/source=<name>/part-0.parquet  snapshots of incremental sources
    _state/watermarks.json                        their committed watermarks
    _runs/<run_id>.json                           the run manifest (written last)

Atomicity: every file is first written under a hidden name (readers skip names starting
with ``.``), then a publish journal listing the renames is written, then each staged file
is renamed over its final name, the manifest last, and the journal is removed. A rename
replaces one whole file, so a reader sees the old or the new file, never a torn one; a
run killed between renames leaves a journal that the next write rolls forward before
doing anything else, and staged files of a run killed before its journal are deleted.
One run writes to an output root at a time. Re-running a period renames over the same
``part-0.parquet``, so rows are replaced, never duplicated.

On an object store (``s3://bucket/prefix``) a rename is a server-side copy then a delete.
The protocol holds as it is: a PUT or a copy makes a whole object visible at once, and
rolling a journal forward copies again only staged objects whose delete had not happened,
which is idempotent. One rule is for object stores, where a write reported as failed may
have landed: a failed publish deletes its journal before its staged files (``_abandon``).
docs/object-storage.md says what a reader may see meanwhile and what the store must provide
(strong list-after-write consistency, as S3 has).
"""

from __future__ import annotations

import contextlib
import json
import posixpath
import urllib.parse
from dataclasses import dataclass
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from cxpipe.errors import OutputError
from cxpipe.schemas import DIM_CLIENT, DIM_METRIC, METRIC_VALUES
from cxpipe.sinks.base import RunOutputs, Sink

ROW_GROUP_SIZE = 256 * 1024
"""Rows per row group: small enough for predicate pushdown on metric/client, large enough
that statistics stay cheap."""

JOURNAL_SUFFIX = ".publish.json"
STATE_FILE = "_state/watermarks.json"
"""Per incremental source: the watermark its committed snapshot reaches."""


def period_key(start: pl.Expr, grain: str) -> pl.Expr:
    """The path-only partition value: ``2026-10``, ``2026-W43``, ``2026-Q4`` or ``2026``."""
    if grain == "month":
        return start.dt.strftime("%Y-%m")
    if grain == "week":
        return start.dt.strftime("%G-W%V")
    if grain == "quarter":
        return pl.format("{}-Q{}", start.dt.year(), start.dt.quarter())
    return start.dt.year().cast(pl.String)


FOLDERLESS = frozenset({"s3", "gcs"})
"""pyarrow filesystems of object stores, by ``type_name``: a key needs no parent folder, and
creating one costs a request per level for every file staged."""

SECRET_QUERY_KEYS = frozenset({"access_key", "secret_key", "session_token"})


def open_filesystem(root: str) -> tuple[pafs.FileSystem, str]:
    """A pyarrow filesystem and the path of ``root`` inside it: a local folder, a URL pyarrow
    opens natively (``s3://``, ``gs://``, ``hdfs://``, ``file://``), else any fsspec URL.

    Object-store credentials and endpoints come from the environment (``AWS_*`` variables or
    the AWS config chain for S3), never from the URL: the root is recorded in every manifest.
    """
    if "://" not in root:
        return pafs.LocalFileSystem(), posixpath.abspath(root)
    _refuse_credentials(root)
    try:
        fs, path = pafs.FileSystem.from_uri(root)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        fs, path = _fsspec_filesystem(root, exc)
    except OSError as exc:
        raise OutputError(f"cannot open output root {root!r}: {exc}") from exc
    return fs, path.rstrip("/")


def _refuse_credentials(root: str) -> None:
    parts = urllib.parse.urlsplit(root)
    query = {key.lower() for key, _ in urllib.parse.parse_qsl(parts.query)}
    if parts.username or parts.password or query & SECRET_QUERY_KEYS:
        raise OutputError(
            "the output root URL carries credentials, which would be written to every "
            "manifest; give them in the environment (AWS_ACCESS_KEY_ID, "
            "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ...) instead"
        )


def _fsspec_filesystem(root: str, arrow_error: Exception) -> tuple[pafs.FileSystem, str]:
    """A URL scheme pyarrow has no filesystem for, opened through fsspec (``memory://``,
    ``az://`` with adlfs, ...)."""
    try:
        import fsspec  # type: ignore[import-untyped]

        fs, path = fsspec.core.url_to_fs(root)
    except (ImportError, ValueError, OSError) as exc:
        raise OutputError(f"cannot open output root {root!r}: {arrow_error}; {exc}") from exc
    return pafs.PyFileSystem(pafs.FSSpecHandler(fs)), str(path)


@dataclass(frozen=True)
class _Staged:
    staged: str
    final: str


class ParquetSink(Sink):
    format = "parquet"

    def __init__(self, root: str) -> None:
        super().__init__(root)
        self.fs, self.base = open_filesystem(root)
        self.object_store = self.fs.type_name in FOLDERLESS

    def path(self, *parts: str) -> str:
        return posixpath.join(self.base, *parts)

    def _public(self, path: str) -> str:
        """A published path as readers name it: ``s3://bucket/key`` rather than the bare
        ``bucket/key`` pyarrow uses inside an object store."""
        if self.object_store:
            return f"{self.root.split('://', 1)[0]}://{path}"
        return path

    # -- publishing --------------------------------------------------------------------------

    def write(self, outputs: RunOutputs) -> list[str]:
        self.recover()
        staged: list[_Staged] = []
        journal = self.path("_runs", f".{outputs.run_id}{JOURNAL_SUFFIX}")
        try:
            for relative, table in self._tables(outputs):
                staged.append(self._stage(relative, table, outputs.run_id))
            if outputs.state is not None:
                state = json.dumps(outputs.state, indent=2, default=str).encode()
                staged.append(self._stage_bytes(STATE_FILE, state, outputs.run_id))
            manifest = _Staged(
                self.path("_runs", f".{outputs.run_id}.json.tmp"),
                self.path("_runs", f"{outputs.run_id}.json"),
            )
            self._write_bytes(
                manifest.staged, json.dumps(outputs.manifest, indent=2, default=str).encode()
            )
            staged.append(manifest)  # renamed last: the manifest appears once all else has
            self._write_bytes(
                journal,
                json.dumps({"renames": [[s.staged, s.final] for s in staged]}).encode(),
            )
        except Exception as exc:
            self._abandon(journal, staged)
            if isinstance(exc, OutputError):
                raise
            raise OutputError(f"writing outputs under {self.root} failed: {exc}") from exc
        self._apply(staged)
        self._delete_quietly(journal)
        return [self._public(item.final) for item in staged]

    def _abandon(self, journal: str, staged: list[_Staged]) -> None:
        """Undo a publish that failed before its journal was known to be written.

        The journal is the commit point, and a write reported as failed may still have
        landed (an object store's PUT can succeed on the server and time out on the way
        back). So the journal goes first; if it cannot be shown gone, every staged file
        stays for the next run to roll forward whole: deleting some would let that roll
        forward publish part of this run.
        """
        try:
            if self.fs.get_file_info(journal).type != pafs.FileType.NotFound:
                self.fs.delete_file(journal)
        except OSError:
            return
        for item in staged:
            self._delete_quietly(item.staged)

    def recover(self) -> list[str]:
        """Finish any publish a killed run left half done; return the journals rolled forward."""
        runs = self.path("_runs")
        try:
            infos = self.fs.get_file_info(pafs.FileSelector(runs, allow_not_found=True))
        except OSError as exc:
            raise OutputError(f"cannot list {runs}: {exc}") from exc
        rolled = []
        for info in infos:
            if not info.base_name.endswith(JOURNAL_SUFFIX):
                continue
            with self.fs.open_input_stream(info.path) as handle:
                renames = json.loads(handle.read())["renames"]
            pending = [_Staged(s, f) for s, f in renames]
            present = [
                p for p in pending if self.fs.get_file_info(p.staged).type == pafs.FileType.File
            ]
            self._apply(present)
            self._delete_quietly(info.path)
            rolled.append(info.path)
        self._delete_orphans()
        return rolled

    def _delete_orphans(self) -> None:
        """Delete staged files that no journal lists: a run killed before its journal."""
        selector = pafs.FileSelector(self.base, recursive=True, allow_not_found=True)
        try:
            infos = self.fs.get_file_info(selector)
        except OSError as exc:
            raise OutputError(f"cannot list {self.base}: {exc}") from exc
        for info in infos:
            name = info.base_name
            if info.type == pafs.FileType.File and name.startswith(".") and name.endswith(".tmp"):
                self._delete_quietly(info.path)

    def _apply(self, staged: list[_Staged]) -> None:
        for item in staged:
            try:
                self._move(item.staged, item.final)
            except OSError as exc:
                raise OutputError(
                    f"publishing {item.final} failed: {exc}; the next run rolls the publish "
                    f"forward from its journal"
                ) from exc

    # -- tables ------------------------------------------------------------------------------

    def _tables(self, outputs: RunOutputs) -> list[tuple[str, pa.Table]]:
        tables: list[tuple[str, pa.Table]] = []
        values = outputs.metric_values
        if values.height:
            keyed = values.with_columns(
                _period=period_key(pl.col("period_start"), outputs.period_grain)
            )
            for (period,), part in keyed.partition_by("_period", as_dict=True).items():
                ordered = part.drop("_period").sort(
                    "metric", "client_id", "segment", "period_start", nulls_last=False
                )
                tables.append(
                    (
                        f"metric_values/period={period}/part-0.parquet",
                        _arrow(ordered, METRIC_VALUES),
                    )
                )
        tables.append(("dim_metric/part-0.parquet", _arrow(outputs.dim_metric, DIM_METRIC)))
        tables.append(("dim_client/part-0.parquet", _arrow(outputs.dim_client, DIM_CLIENT)))
        for name, (schema, frame) in sorted(outputs.tables.items()):
            tables.append((f"{name}/part-0.parquet", _arrow(frame, schema)))
        for (entity, source), rows in sorted(outputs.snapshots.items()):
            relative = f"_entities/{entity}/source={source}/part-0.parquet"
            tables.append((relative, _plain_arrow(rows)))
        for (entity, source), rows in outputs.quarantine.items():
            tables.append(
                (f"quarantine/{entity}/source={source}/part-0.parquet", _quarantine_arrow(rows))
            )
        return tables

    def _stage(self, relative: str, table: pa.Table, run_id: str) -> _Staged:
        final = self.path(relative)
        folder, name = posixpath.split(final)
        staged = posixpath.join(folder, f".{name}.{run_id}.tmp")
        try:
            self._make_folder(folder)
            with self.fs.open_output_stream(staged) as stream:
                pq.write_table(
                    table,
                    stream,
                    compression="zstd",
                    row_group_size=ROW_GROUP_SIZE,
                    write_statistics=True,
                )
        except (OSError, pa.ArrowException) as exc:
            raise OutputError(f"writing {final} failed: {exc}") from exc
        return _Staged(staged, final)

    def _stage_bytes(self, relative: str, data: bytes, run_id: str) -> _Staged:
        final = self.path(relative)
        folder, name = posixpath.split(final)
        staged = posixpath.join(folder, f".{name}.{run_id}.tmp")
        try:
            self._write_bytes(staged, data)
        except OSError as exc:
            raise OutputError(f"writing {final} failed: {exc}") from exc
        return _Staged(staged, final)

    # -- reading back what earlier runs committed ----------------------------------------------

    def read_state(self) -> dict[str, Any]:
        """The committed watermarks (empty before the first incremental run)."""
        self.recover()
        path = self.path(STATE_FILE)
        if self.fs.get_file_info(path).type != pafs.FileType.File:
            return {}
        with self.fs.open_input_stream(path) as handle:
            state: dict[str, Any] = json.loads(handle.read())
        return state

    def read_snapshot(self, entity: str, source: str) -> pl.DataFrame | None:
        """The committed snapshot of an incremental source, or None before its first run."""
        path = self.path("_entities", entity, f"source={source}", "part-0.parquet")
        if self.fs.get_file_info(path).type != pafs.FileType.File:
            return None
        try:
            with self.fs.open_input_file(path) as handle:
                frame = pl.from_arrow(pq.read_table(handle))
        except (OSError, pa.ArrowException) as exc:
            raise OutputError(f"cannot read the snapshot {path}: {exc}") from exc
        assert isinstance(frame, pl.DataFrame)
        return frame

    def _write_bytes(self, path: str, data: bytes) -> None:
        self._make_folder(posixpath.dirname(path))
        with self.fs.open_output_stream(path) as stream:
            stream.write(data)

    def _make_folder(self, folder: str) -> None:
        if not self.object_store:
            self.fs.create_dir(folder, recursive=True)

    def _move(self, source: str, destination: str) -> None:
        """Rename over ``destination``: atomic on local filesystems (POSIX rename); on an
        object store a server-side copy (atomic per object) then a delete of ``source``."""
        self.fs.move(source, destination)

    def _delete_quietly(self, path: str) -> None:
        with contextlib.suppress(OSError, FileNotFoundError):
            self.fs.delete_file(path)


def _arrow(frame: pl.DataFrame, schema: pa.Schema) -> pa.Table:
    """Cast to the documented Arrow schema (plain ``string``, ``timestamp[us, UTC]``), so
    every BI reader sees the same types whatever polars chose in memory."""
    table = frame.select(schema.names).to_arrow()
    return table.cast(schema)


def _quarantine_arrow(frame: pl.DataFrame) -> pa.Table:
    """Quarantine rows with their reasons flattened to strings, which every BI tool reads."""
    flat = frame.with_columns(
        pl.col(name).cast(pl.String)
        for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.List | pl.Struct | pl.Array) and name != "quarantine_reasons"
    )
    if "quarantine_reasons" in flat.columns:
        flat = flat.with_columns(
            quarantine_details=pl.concat_str(
                pl.lit("["),
                pl.col("quarantine_reasons")
                .list.eval(pl.element().struct.json_encode())
                .list.join(", "),
                pl.lit("]"),
            )
        ).drop("quarantine_reasons")
    return _plain_arrow(flat)


def _plain_arrow(frame: pl.DataFrame) -> pa.Table:
    """Arrow with the types every BI reader accepts, whatever a plugin's frame held: plain
    ``string`` (polars writes large/view strings), signed integers (Power BI and Spark have
    no unsigned ones; widened so no value overflows), timestamps in microseconds UTC
    (naive ones are taken as UTC, as everywhere in cxpipe), and dictionaries decoded."""
    table = frame.to_arrow()
    columns = [
        # nanoseconds truncate to microseconds; any other lossy cast is an error
        column.cast(_bi_type(f.type), safe=not pa.types.is_timestamp(f.type))
        for f, column in zip(table.schema, table.columns, strict=True)
    ]
    return pa.Table.from_arrays(columns, schema=pa.schema([_bi_field(f) for f in table.schema]))


_SIGNED = {8: pa.int16(), 16: pa.int32(), 32: pa.int64(), 64: pa.int64()}


def _bi_type(kind: pa.DataType) -> pa.DataType:
    if pa.types.is_dictionary(kind):
        return _bi_type(kind.value_type)
    if pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return pa.string()
    if pa.types.is_unsigned_integer(kind):
        return _SIGNED[kind.bit_width]
    if pa.types.is_timestamp(kind):
        return pa.timestamp("us", tz="UTC")
    return kind


def _bi_field(f: pa.Field) -> pa.Field:
    return pa.field(f.name, _bi_type(f.type), f.nullable)
