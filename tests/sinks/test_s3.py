"""An ``s3://`` output root keeps every guarantee of a local one, against a local S3 server.

A moto server (S3's REST API, in a thread of this process, on 127.0.0.1 and a free port)
stands in for the store; cxpipe finds it, and its credentials, through the standard AWS
environment variables only, as it would in production. What is checked: a run to S3 equals
a local run; DuckDB, pyarrow and polars read it back from the server; an identical rerun
is idempotent; incremental state, snapshots and quarantine are committed on S3; a run
SIGKILLed at publish points (one between the copy and the delete of an object store's
"rename") leaves the previous output whole and the rerun recovers; a store failing mid-write,
including a journal PUT that lands although reported failed, never leaves half a run visible.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import os
import pickle
import signal
import socket
import subprocess
import sys
import textwrap
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from moto.server import ThreadedMotoServer
from polars.testing import assert_frame_equal

from cxpipe.config import parse_config
from cxpipe.errors import OutputError
from cxpipe.run import RunResult, run_pipeline
from cxpipe.sinks import parquet
from cxpipe.sinks.base import RunOutputs
from cxpipe.sinks.parquet import ParquetSink
from tests.conftest import DemoConfigData
from tests.sinks.test_parquet import _outputs
from tests.test_incremental import _config as incremental_config

pytestmark = pytest.mark.slow

BUCKET = "cxpipe-test"
SOURCES = ("clients", "tickets")
"""24 monthly partitions, the dimension tables and the derived outputs, quickly."""
GRAIN_KEY = ("metric", "period_grain", "period_start", "client_id", "segment")
AWS_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "cxpipe-test-key",
    "AWS_SECRET_ACCESS_KEY": "cxpipe-test-secret",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    # A developer's own AWS profile must not leak into (or be touched by) the tests.
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


# --- the server -------------------------------------------------------------------------------


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    fs: pafs.S3FileSystem
    """For the tests' own inspection; cxpipe opens its own from the environment."""

    def url(self, prefix: str) -> str:
        return f"s3://{BUCKET}/{prefix}"

    def keys(self, prefix: str) -> list[str]:
        """Every key under ``prefix/`` as the REST API lists it (folder markers included)."""
        query = urllib.parse.urlencode({"list-type": "2", "prefix": f"{prefix}/"})
        with urllib.request.urlopen(f"{self.endpoint}/{BUCKET}?{query}", timeout=10) as reply:
            tree = ET.fromstring(reply.read())
        assert not any(e.text == "true" for e in tree.iter() if e.tag.endswith("IsTruncated"))
        keys = [e.text or "" for e in tree.iter() if e.tag.endswith("}Key")]
        return sorted(key.removeprefix(f"{prefix}/") for key in keys)

    def files(self, prefix: str) -> dict[str, bytes]:
        """Every object under ``prefix/`` by relative key, with its bytes; not the empty
        "folder" markers (``period=2026-10/``) pyarrow's S3 filesystem keeps."""
        return {
            key: self.read(f"{prefix}/{key}") for key in self.keys(prefix) if not key.endswith("/")
        }

    def read(self, key: str) -> bytes:
        with self.fs.open_input_stream(f"{BUCKET}/{key}") as handle:
            data: bytes = handle.read()
        return data

    def copy(self, source: str, destination: str) -> None:
        for key in self.files(source):
            self.fs.copy_file(f"{BUCKET}/{source}/{key}", f"{BUCKET}/{destination}/{key}")

    def polars_values(self, prefix: str) -> pl.DataFrame:
        """The fact table as polars' own S3 client (Rust object_store) reads the documented
        glob: a BI-style reader independent of pyarrow."""
        options = {"aws_endpoint_url": self.endpoint, "aws_allow_http": "true"}
        return pl.scan_parquet(
            f"{self.url(prefix)}/metric_values/*/*.parquet",
            storage_options=options,
            include_file_paths="filename",
        ).collect()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    """A moto S3 server with one bucket; the AWS variables point every client at it."""
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    requests_log = logging.getLogger("werkzeug")  # one line per request otherwise
    level = requests_log.level
    requests_log.setLevel(logging.WARNING)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        with pytest.MonkeyPatch.context() as env:
            for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION"):
                env.delenv(name, raising=False)
            for name, value in {**AWS_ENVIRONMENT, "AWS_ENDPOINT_URL": endpoint}.items():
                env.setenv(name, value)
            env.delenv("AWS_ENDPOINT_URL_S3", raising=False)
            # S3FileSystem() itself does not read AWS_ENDPOINT_URL (from_uri does).
            fs = pafs.S3FileSystem(endpoint_override=endpoint, allow_bucket_creation=True)
            fs.create_dir(BUCKET)
            yield S3Server(endpoint, fs)
    finally:
        server.stop()
        requests_log.setLevel(level)


# --- reading outputs back ---------------------------------------------------------------------


def is_hidden(key: str) -> bool:
    return any(part.startswith(".") for part in key.split("/"))


def visible(files: Mapping[str, bytes]) -> dict[str, bytes]:
    """What a reader can see: the objects with no hidden path part."""
    return {k: v for k, v in files.items() if not is_hidden(k)}


def local_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def metric_values(files: Mapping[str, bytes]) -> pl.DataFrame:
    """The fact table from a set of objects, with the key each row came from."""
    frames = [
        pl.read_parquet(io.BytesIO(data)).with_columns(filename=pl.lit(key))
        for key, data in sorted(visible(files).items())
        if key.startswith("metric_values/") and key.endswith(".parquet")
    ]
    return pl.concat(frames)


def comparable(values: pl.DataFrame) -> pl.DataFrame:
    """Metric values minus what differs between runs of the same data, in key order."""
    return values.drop("run_id", "computed_at", "filename", strict=False).sort(
        GRAIN_KEY, nulls_last=False
    )


def assert_same_values(left: pl.DataFrame, right: pl.DataFrame) -> None:
    assert_frame_equal(comparable(left), comparable(right), check_exact=False, rel_tol=1e-9)


# --- a run to S3 and the same run to a local folder -------------------------------------------


@dataclass(frozen=True)
class Published:
    prefix: str
    result: RunResult
    files: dict[str, bytes]
    """Every object right after the run: what later cases start from."""
    config_data: dict[str, Any]
    data_dir: Path

    def run(self, output: str) -> RunResult:
        config = parse_config(self.config_data, base_dir=self.data_dir, origin="s3")
        return run_pipeline(config, output=output)


@pytest.fixture(scope="module")
def local(
    demo_dir: Path, demo_config_data: DemoConfigData, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, bytes]:
    root = tmp_path_factory.mktemp("local") / "out"
    run_pipeline(parse_config(demo_config_data(*SOURCES), base_dir=demo_dir), output=str(root))
    return local_files(root)


@pytest.fixture(scope="module")
def published(s3: S3Server, demo_dir: Path, demo_config_data: DemoConfigData) -> Published:
    data = demo_config_data(*SOURCES)
    result = run_pipeline(parse_config(data, base_dir=demo_dir), output=s3.url("e2e"))
    return Published("e2e", result, s3.files("e2e"), data, demo_dir)


def test_a_run_to_s3_writes_the_values_and_layout_of_a_local_run(
    published: Published, local: dict[str, bytes]
) -> None:
    assert_same_values(metric_values(published.files), metric_values(local))

    def layout(files: Mapping[str, bytes]) -> set[str]:
        per_run = ("_runs/", "scorecards/")  # named by run id
        return {k for k in visible(files) if not k.startswith(per_run)}

    assert layout(published.files) == layout(local)
    for table in ("dim_metric", "dim_client"):
        key = f"{table}/part-0.parquet"
        s3_table = pl.read_parquet(io.BytesIO(published.files[key]))
        assert_frame_equal(s3_table, pl.read_parquet(io.BytesIO(local[key])))


def test_duckdb_pyarrow_and_polars_read_the_outputs_from_the_server(
    s3: S3Server, published: Published, local: dict[str, bytes]
) -> None:
    expected = metric_values(local)
    # pyarrow's S3 client, hive partitions and hidden-file skipping as BI tools use them.
    dataset = ds.dataset(
        f"{BUCKET}/e2e/metric_values", filesystem=s3.fs, format="parquet", partitioning="hive"
    )
    assert all(p.endswith("/part-0.parquet") for p in dataset.files)
    assert dataset.count_rows() == expected.height
    # DuckDB scanning the S3 dataset.
    rows = duckdb.connect().execute(
        "select count(*), count(distinct period), sum(sample_size) from dataset"
    )
    assert rows.fetchall() == [
        (expected.height, expected["period_start"].n_unique(), expected["sample_size"].sum())
    ]
    # polars' own S3 client reading the documented glob.
    assert_same_values(s3.polars_values("e2e"), expected)
    dim = pq.read_table(f"{BUCKET}/e2e/dim_metric/part-0.parquet", filesystem=s3.fs)
    assert dim.num_rows == pl.read_parquet(io.BytesIO(local["dim_metric/part-0.parquet"])).height


def test_the_run_commits_its_manifest_and_leaves_nothing_staged_on_s3(
    s3: S3Server, published: Published
) -> None:
    run_id = published.result.run_id
    assert published.result.paths[-1] == f"s3://{BUCKET}/e2e/_runs/{run_id}.json"
    assert all(p.startswith(f"s3://{BUCKET}/e2e/") for p in published.result.paths)
    manifest = json.loads(published.files[f"_runs/{run_id}.json"])
    assert manifest["run_id"] == run_id
    assert manifest["output_root"] == s3.url("e2e")
    keys = s3.keys("e2e")
    assert [k for k in keys if is_hidden(k)] == []


@dataclass(frozen=True)
class Rerun:
    result: RunResult
    files: dict[str, bytes]
    outputs: Path
    """The :class:`RunOutputs` it handed the sink, pickled: what the killed runs publish."""


@pytest.fixture(scope="module")
def rerun(s3: S3Server, published: Published, tmp_path_factory: pytest.TempPathFactory) -> Rerun:
    """The same run again over a copy of the published output."""
    s3.copy(published.prefix, "rerun")
    handed: list[RunOutputs] = []
    write = ParquetSink.write

    def recording_write(self: ParquetSink, outputs: RunOutputs) -> list[str]:
        handed.append(outputs)
        return write(self, outputs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ParquetSink, "write", recording_write)
        result = published.run(s3.url("rerun"))
    pickled = tmp_path_factory.mktemp("rerun") / "outputs.pickle"
    pickled.write_bytes(pickle.dumps(handed[0]))
    return Rerun(result, s3.files("rerun"), pickled)


def test_an_identical_rerun_is_idempotent(published: Published, rerun: Rerun) -> None:
    run_id = rerun.result.run_id
    keys = sorted([*published.files, f"_runs/{run_id}.json", f"scorecards/{run_id}.html"])
    assert sorted(rerun.files) == keys  # the same keys, plus this run's manifest and page
    assert [k for k in rerun.files if is_hidden(k)] == []
    values = metric_values(rerun.files)
    assert set(values["run_id"].to_list()) == {rerun.result.run_id}
    assert_same_values(values, metric_values(published.files))
    for key in ("dim_metric/part-0.parquet", "dim_client/part-0.parquet"):
        assert rerun.files[key] == published.files[key]


# --- incremental state, snapshots and quarantine ----------------------------------------------

HEADER = "id,client,priority,opened,resolved,updated,status\n"
FIRST = [
    "T1,C1,high,2026-01-05T09:00:00Z,2026-01-05T12:00:00Z,2026-01-05T12:00:00Z,resolved",
    "T2,C1,low,2026-01-06T09:00:00Z,,2026-01-06T09:00:00Z,open",
    "T3,C2,critical,2026-01-07T09:00:00Z,2026-01-07T10:00:00Z,2026-01-07T10:00:00Z,resolved",
    "T9,C2,low,2026-01-07T09:00:00Z,2026-01-06T09:00:00Z,2026-01-07T08:00:00Z,resolved",
]
SECOND = [
    "T2,C1,low,2026-01-06T09:00:00Z,2026-02-02T09:00:00Z,2026-02-02T09:00:00Z,resolved",
    "T4,C2,medium,2026-02-03T09:00:00Z,,2026-02-03T09:00:00Z,open",
]


def test_incremental_runs_commit_watermarks_snapshots_and_quarantine_on_s3(
    s3: S3Server, tmp_path: Path
) -> None:
    url = s3.url("incremental")
    (tmp_path / "export-1.csv").write_text(HEADER + "\n".join(FIRST) + "\n")
    (tmp_path / "export-2.csv").write_text(HEADER + "\n".join(SECOND) + "\n")
    first = run_pipeline(incremental_config(tmp_path, "export-1.csv", output=url))
    assert first.output_root == url
    committed = ParquetSink(url).read_state()
    watermark = committed["sources"]["itsm"]["watermark"]
    assert watermark == "2026-01-07T10:00:00+00:00"
    assert json.loads(s3.read("incremental/_state/watermarks.json")) == committed
    quarantine = pl.read_parquet(
        io.BytesIO(s3.read("incremental/quarantine/tickets/source=itsm/part-0.parquet"))
    )
    assert quarantine["ticket_id"].to_list() == ["T9"]
    assert quarantine["quarantine_reason"].item()

    second = run_pipeline(incremental_config(tmp_path, "export-2.csv", output=url))
    [source] = second.manifest["sources"]
    assert source["since"] == watermark  # resumed from the watermark committed on S3
    snapshot = ParquetSink(url).read_snapshot("tickets", "itsm")
    assert snapshot is not None
    assert sorted(snapshot["ticket_id"].to_list()) == ["T1", "T2", "T3", "T4"]
    state = ParquetSink(url).read_state()
    assert state["sources"]["itsm"] == {
        "entity": "tickets",
        "watermark": "2026-02-03T09:00:00+00:00",
        "run_id": second.run_id,
    }
    keys = s3.keys("incremental")
    assert {f"_runs/{first.run_id}.json", f"_runs/{second.run_id}.json"} <= set(keys)
    assert [k for k in keys if is_hidden(k)] == []


# --- SIGKILL at publish points ----------------------------------------------------------------

KILL_SCRIPT = textwrap.dedent(
    """
    import os, pickle, signal, sys
    from pathlib import Path

    from cxpipe.sinks.parquet import ParquetSink

    outputs, output, method, allowed, copy_first = sys.argv[1:]
    original = getattr(ParquetSink, method)
    calls = 0

    def kill_after_allowed_calls(self, *args):
        global calls
        if calls == int(allowed):
            if copy_first == "copy":  # the copy half of an object store's move, not its delete
                self.fs.copy_file(*args)
            os.kill(os.getpid(), signal.SIGKILL)
        calls += 1
        return original(self, *args)

    setattr(ParquetSink, method, kill_after_allowed_calls)
    ParquetSink(output).write(pickle.loads(Path(outputs).read_bytes()))
    sys.exit("the run finished: the kill never happened")
    """
)
"""A run's publish, SIGKILLed at a chosen call. The child publishes the outputs a real run
computed (the identical rerun's, pickled) rather than recomputing them: the publish is all
of a run that touches the store, and a child without the pipeline's start-up (Great
Expectations' import) keeps this file within its time budget."""


@dataclass(frozen=True)
class KillPoint:
    method: str
    allowed: Callable[[int], int]
    """Calls that complete before the kill, given how many data files the run stages."""
    copy_first: bool = False
    """Kill between the server-side copy and the delete that make up one move."""


KILL_POINTS = {
    "while_staging": KillPoint("_stage", lambda staged: 2),
    "after_one_move": KillPoint("_move", lambda staged: 1),
    "between_a_copy_and_its_delete": KillPoint("_move", lambda staged: staged // 2, True),
    "before_the_manifest_move": KillPoint("_move", lambda staged: staged),
}


@dataclass(frozen=True)
class Killed:
    prefix: str
    files: dict[str, bytes]
    """Every object right after the kill (the rerun changes the bucket)."""
    polars_rows: int
    """Rows polars' S3 client read with the documented glob right after the kill."""
    returncode: int
    stderr: str


@pytest.fixture(scope="module")
def killed(s3: S3Server, published: Published, rerun: Rerun) -> dict[str, Killed]:
    """Each kill point on its own copy of the published output, two children at a time."""
    staged = len(rerun.result.paths) - 1  # every path the run publishes but the manifest

    def kill(case: str) -> Killed:
        point = KILL_POINTS[case]
        prefix = f"killed-{case}"
        s3.copy(published.prefix, prefix)
        completed = subprocess.run(
            [
                sys.executable,
                "-c",
                KILL_SCRIPT,
                str(rerun.outputs),
                s3.url(prefix),
                point.method,
                str(point.allowed(staged)),
                "copy" if point.copy_first else "move",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        rows = s3.polars_values(prefix).height
        return Killed(prefix, s3.files(prefix), rows, completed.returncode, completed.stderr)

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(KILL_POINTS, pool.map(kill, KILL_POINTS), strict=True))


@pytest.fixture(scope="module")
def reruns(published: Published, s3: S3Server, killed: dict[str, Killed]) -> dict[str, RunResult]:
    return {case: published.run(s3.url(state.prefix)) for case, state in killed.items()}


cases = pytest.mark.parametrize("case", list(KILL_POINTS))


@cases
def test_a_kill_leaves_the_previous_output_whole_and_readable(
    published: Published, killed: dict[str, Killed], case: str
) -> None:
    state = killed[case]
    assert state.returncode == -signal.SIGKILL, state.stderr[-2000:]
    seen = visible(state.files)
    if case == "while_staging":
        assert seen == visible(published.files)  # byte-identical
    for key, data in seen.items():
        if key.endswith(".parquet"):
            assert pq.read_table(io.BytesIO(data)).num_rows > 0, key
    values = metric_values(state.files)
    runs_per_file = values.group_by("filename").agg(pl.col("run_id").n_unique())
    assert (runs_per_file["run_id"] == 1).all()
    assert values.select(pl.struct(GRAIN_KEY).is_unique().all()).item(), "duplicate rows"
    assert len(set(values["run_id"].to_list()) - {published.result.run_id}) <= 1
    assert_same_values(values, metric_values(published.files))
    manifests = [k for k in seen if k.startswith("_runs/")]
    assert manifests == [f"_runs/{published.result.run_id}.json"]


@cases
def test_staged_objects_after_a_kill_stay_invisible_to_readers(
    published: Published, killed: dict[str, Killed], case: str
) -> None:
    state = killed[case]
    hidden = [k for k in state.files if is_hidden(k)]
    assert hidden, "the kill left nothing staged, so this proves nothing"
    journals = [k for k in hidden if k.endswith(".publish.json")]
    assert len(journals) == (0 if case == "while_staging" else 1)  # committed once journaled
    assert state.polars_rows == metric_values(published.files).height


def test_a_kill_between_copy_and_delete_shows_both_objects_with_the_same_bytes(
    published: Published, killed: dict[str, Killed]
) -> None:
    """What an object store's listing may show mid-move: the staged object and its copy."""
    files = killed["between_a_copy_and_its_delete"].files
    staged = [k for k in files if k.startswith("metric_values/") and k.endswith(".tmp")]
    twins = [k for k in staged if files[k] == files.get(_final_of(k))]
    assert len(twins) == 1, staged  # this run's values, which differ from the earlier's
    assert files[twins[0]] != published.files[_final_of(twins[0])]


def _final_of(staged: str) -> str:
    folder, _, name = staged.rpartition("/")
    return f"{folder}/{name[1:].rsplit('.', 2)[0]}"


@cases
def test_the_rerun_after_a_kill_recovers_and_leaves_nothing_staged(
    s3: S3Server,
    published: Published,
    killed: dict[str, Killed],
    reruns: dict[str, RunResult],
    case: str,
) -> None:
    rerun = reruns[case]
    files = s3.files(killed[case].prefix)
    assert [k for k in files if is_hidden(k)] == [], "a staged object or journal was left"
    values = metric_values(files)
    assert set(values["run_id"].to_list()) == {rerun.run_id}
    assert_same_values(values, metric_values(published.files))
    assert f"_runs/{rerun.run_id}.json" in files


# --- a store that fails mid-write -------------------------------------------------------------


class FailingStore(pafs.FileSystemHandler):  # type: ignore[misc]
    """pyarrow's S3 filesystem, with the store failing from its ``fail_at``-th write on.

    A write is a PUT, a copy or a move; once the store fails, every write fails, and so does
    every delete after the first ``deletes_ok``. With ``lands`` the failing PUT reaches the
    store although the client is told it failed: a timeout after the server committed.
    Reads keep working, as they do when a store throttles writes.
    """

    def __init__(
        self, real: pafs.FileSystem, fail_at: int, *, lands: bool = False, deletes_ok: int = 0
    ) -> None:
        self.real = real
        self.fail_at = fail_at
        self.lands = lands
        self.deletes_ok = deletes_ok
        self.writes = 0
        self.failed_on = ""
        """The target of the first failed write."""

    @property
    def failing(self) -> bool:
        return self.writes >= self.fail_at

    def _write(self, target: str, action: Callable[[], None]) -> None:
        self.writes += 1
        if not self.failing:
            action()
            return
        if self.writes == self.fail_at:
            self.failed_on = target
            if self.lands:
                action()
        raise OSError(f"503 Slow Down: the store failed at write {self.writes}")

    def open_output_stream(self, path: str, metadata: Any) -> pa.NativeFile:
        store = self

        class Upload(io.BytesIO):
            def close(self) -> None:  # the PUT happens on close, as pyarrow's does
                if not self.closed:
                    data = self.getvalue()
                    super().close()
                    store._write(path, lambda: store._put(path, data))

        return pa.PythonFile(Upload(), mode="w")

    def _put(self, path: str, data: bytes) -> None:
        with self.real.open_output_stream(path) as stream:
            stream.write(data)

    def copy_file(self, src: str, dest: str) -> None:
        self._write(dest, lambda: self.real.copy_file(src, dest))

    def move(self, src: str, dest: str) -> None:
        self._write(dest, lambda: self.real.move(src, dest))

    def delete_file(self, path: str) -> None:
        if self.failing:
            if self.deletes_ok <= 0:
                raise OSError("503 Slow Down: the store refused a delete")
            self.deletes_ok -= 1
        self.real.delete_file(path)

    def create_dir(self, path: str, recursive: bool) -> None:
        """An object store needs no folders."""

    def get_type_name(self) -> str:
        return "failing-s3"

    def normalize_path(self, path: str) -> str:
        return path

    def get_file_info(self, paths: list[str]) -> list[pafs.FileInfo]:
        return list(self.real.get_file_info(paths))

    def get_file_info_selector(self, selector: pafs.FileSelector) -> list[pafs.FileInfo]:
        return list(self.real.get_file_info(selector))

    def open_input_stream(self, path: str) -> pa.NativeFile:
        return self.real.open_input_stream(path)

    def open_input_file(self, path: str) -> pa.NativeFile:
        return self.real.open_input_file(path)

    def delete_dir(self, path: str) -> None:
        raise NotImplementedError

    def delete_dir_contents(self, path: str, missing_dir_ok: bool = False) -> None:
        raise NotImplementedError

    def delete_root_dir_contents(self) -> None:
        raise NotImplementedError

    def open_append_stream(self, path: str, metadata: Any) -> pa.NativeFile:
        raise NotImplementedError


def _with_state(outputs: Any, run_id: str) -> Any:
    """``_outputs`` plus an incremental snapshot and the watermark committed with it."""
    snapshot = pl.DataFrame({"ticket_id": ["T1"], "run_id": [run_id]})
    state = {"version": 1, "sources": {"itsm": {"watermark": run_id, "run_id": run_id}}}
    return dataclasses.replace(outputs, snapshots={("tickets", "itsm"): snapshot}, state=state)


PUTS = 9
"""Writes before the moves: 2 periods, 2 dimensions, snapshot, quarantine, state and manifest
staged, then the journal."""

FAILURES: dict[str, dict[str, Any]] = {
    "while_staging": {"fail_at": 3},
    "the_journal_put": {"fail_at": PUTS},
    "the_journal_put_lands_then_one_delete_works": {
        "fail_at": PUTS,
        "lands": True,
        "deletes_ok": 1,
    },
    "the_journal_put_lands_then_no_delete_works": {"fail_at": PUTS, "lands": True},
    "after_two_moves": {"fail_at": PUTS + 3},
}
COMMITTED = {"the_journal_put_lands_then_no_delete_works", "after_two_moves"}
"""Failures after which the journal stands: the next run rolls the failed run forward whole."""


def _run_ids(files: Mapping[str, bytes]) -> dict[str, str]:
    """The run each visible output comes from, by key (one run per object, or it fails)."""
    runs: dict[str, str] = {}
    for key, data in visible(files).items():
        if key.endswith(".parquet"):
            table = pq.read_table(io.BytesIO(data))
            if "run_id" in table.column_names:
                [runs[key]] = set(table["run_id"].to_pylist())
        elif key == "_state/watermarks.json":
            runs[key] = json.loads(data)["sources"]["itsm"]["run_id"]
        elif key.startswith("_runs/"):
            runs[key] = json.loads(data)["run_id"]
    return runs


@pytest.mark.parametrize("case", list(FAILURES))
def test_a_store_failing_mid_write_never_leaves_half_a_run_visible(
    s3: S3Server, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    prefix = f"failing-{case}"
    url = s3.url(prefix)
    ParquetSink(url).write(_with_state(_outputs("r1", 75.0), "r1"))
    before = visible(s3.files(prefix))
    store = FailingStore(s3.fs, **FAILURES[case])
    opened = parquet.open_filesystem(url)
    monkeypatch.setattr(
        parquet, "open_filesystem", lambda root: (pafs.PyFileSystem(store), opened[1])
    )
    with pytest.raises(OutputError):
        ParquetSink(url).write(_with_state(_outputs("r2", 80.0), "r2"))
    assert store.failing, "the store never failed, so this proves nothing"
    if "journal" in case:
        assert store.failed_on.endswith(".publish.json"), store.failed_on
    monkeypatch.undo()

    during = s3.files(prefix)
    runs = _run_ids(during)
    # Each visible object is whole and from one run; the watermark never runs ahead of the
    # snapshot it belongs to, and the failed run's manifest is not visible.
    assert runs["_state/watermarks.json"] == runs["_entities/tickets/source=itsm/part-0.parquet"]
    assert "_runs/r2.json" not in runs
    if case in {"while_staging", "the_journal_put"}:
        assert visible(during) == before

    ParquetSink(url).recover()  # the store is back: the next run's first step
    after = s3.files(prefix)
    assert [k for k in after if is_hidden(k)] == []
    expected = "r2" if case in COMMITTED else "r1"
    outputs = {k: run for k, run in _run_ids(after).items() if not k.startswith("_runs/")}
    assert set(outputs.values()) == {expected}, outputs  # all of one run or all of the other
    assert ("_runs/r2.json" in after) == (expected == "r2")


# --- configuration: endpoints and credentials -------------------------------------------------


def test_the_s3_specific_endpoint_variable_wins_over_the_generic_one(
    s3: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3.endpoint)
    sink = ParquetSink(s3.url("endpoint"))
    assert sink.read_state() == {}
    sink.write(_outputs("r1", 75.0))
    assert "_runs/r1.json" in s3.keys("endpoint")


@pytest.mark.parametrize(
    "url",
    [
        "s3://AKIAEXAMPLE:secret@cxpipe-test/out",
        "s3://cxpipe-test/out?access_key=AKIAEXAMPLE&secret_key=secret",
    ],
)
def test_credentials_in_the_output_url_are_refused(url: str) -> None:
    with pytest.raises(OutputError, match="environment"):
        ParquetSink(url)


def test_any_fsspec_filesystem_gets_the_same_publish() -> None:
    """A scheme pyarrow lacks goes through fsspec (here its in-memory store, whose move is
    also a copy then a delete)."""
    sink = ParquetSink("memory://cxpipe-fsspec/out")
    sink.write(_outputs("r1", 75.0))
    paths = sink.write(_outputs("r2", 80.0, months=(2, 3)))
    assert paths[-1].endswith("/_runs/r2.json")
    table = ds.dataset(sink.path("metric_values"), filesystem=sink.fs, format="parquet")
    runs = pl.from_arrow(table.to_table(columns=["period_start", "run_id"]))
    assert isinstance(runs, pl.DataFrame)
    by_period = runs.group_by("period_start").agg(pl.col("run_id").unique()).sort("period_start")
    assert by_period["run_id"].to_list() == [["r1"], ["r2"], ["r2"]]
    listing = sink.fs.get_file_info(pafs.FileSelector(sink.base, recursive=True))
    assert [i.path for i in listing if i.base_name.startswith(".")] == []
