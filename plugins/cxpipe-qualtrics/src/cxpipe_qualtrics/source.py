"""The ``qualtrics.responses`` source: survey responses through Qualtrics' asynchronous
response export (Survey Response Import/Export API, ``/API/v3``).

An export is three calls, as Qualtrics documents them:

1. ``POST /API/v3/surveys/{surveyId}/export-responses`` with ``{"format": "json", …}``
   starts a job and answers ``{"result": {"progressId": …}}``;
2. ``GET /API/v3/surveys/{surveyId}/export-responses/{progressId}`` is polled until
   ``result.status`` is ``complete`` (it then carries ``result.fileId``) or ``failed``;
3. ``GET /API/v3/surveys/{surveyId}/export-responses/{fileId}/file`` downloads the file: a
   zip holding one JSON document ``{"responses": [{"responseId", "values", "labels", …}]}``
   (or that JSON document itself with ``compress = false``), unpacked in memory.

Every request goes through :class:`cxpipe.sources.http.HttpSource`: the token from the
environment in ``X-API-TOKEN``, retries with ``Retry-After``, messages scrubbed of secrets.
Each response becomes one row of text columns, nested objects flattened with dotted names
(``responseId``, ``values.recordedDate``, ``values.QID1``, ``labels.QID1``,
``values.client_id`` for an embedded data field), so which question is the NPS and which
embedded field names the client is said in ``[sources.columns]``, not in code.
"""

from __future__ import annotations

import io
import json
import logging
import re
import time
import zipfile
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import quote

import polars as pl
from pydantic import Field, field_validator

from cxpipe.config import SourceConfig
from cxpipe.errors import ConfigError
from cxpipe.sources.base import Extract, InputFile, SourceOptions
from cxpipe.sources.http import HttpOptions, HttpSource, frame_from_records

log = logging.getLogger(__name__)

API_PREFIX = "/API/v3"
"""Where the v3 API lives on a datacenter's host (``https://fra1.qualtrics.com/API/v3``)."""

STATUSES = ("inProgress", "complete", "failed")
"""The values of ``result.status`` Qualtrics documents for an export's progress."""

RESERVED_BODY_KEYS = frozenset({"format", "startDate", "compress", "useLabels"})
"""Fields of the start-export body the connector sets itself (from ``since`` and options)."""

_SURVEY_ID = re.compile(r"SV_[A-Za-z0-9]+")
_ZIP_MAGIC = b"PK\x03\x04"
_EMPTY_ZIP = b"PK\x05\x06"


def start_date(since: datetime) -> str:
    """``since`` as the export's ``startDate``: ISO 8601 in UTC, to the second, ``Z``.

    Sub-second digits are dropped, which moves the bound *earlier*: at worst the responses
    recorded in the watermark's own second are read again, and the runner's merge by
    ``response_id`` makes that harmless. Never later, so nothing is skipped."""
    moment = since if since.tzinfo else since.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class QualtricsOptions(HttpOptions):
    """``[sources.options]`` of ``kind = "qualtrics.responses"``: every
    :class:`~cxpipe.sources.http.HttpOptions` key (``base_url``, ``token_env``, retries…)
    plus the export's own. ``page_size`` and ``max_pages`` do not apply: an export is one
    file."""

    survey_id: str
    """The survey to export, ``SV_…`` (in the survey's URL, or Account settings → Qualtrics
    IDs)."""
    token_header: str = "X-API-TOKEN"
    token_prefix: str = ""
    """Qualtrics API tokens go bare in ``X-API-TOKEN``. For an OAuth access token set
    ``token_header = "Authorization"`` and ``token_prefix = "Bearer"``."""
    compress: bool = True
    """Ask for a zipped file (Qualtrics' default); ``false`` downloads the JSON itself."""
    use_labels: bool = False
    """Send ``useLabels: true`` (answer text instead of recode values in ``values``). Off by
    default, and then not sent at all: the JSON export carries the answer text in
    ``labels`` anyway (``labels.QID1``), so map scores from ``values`` and text from
    ``labels``."""
    poll_interval: float = Field(2.0, ge=0)
    """Seconds between two progress requests."""
    max_polls: int = Field(900, ge=1)
    """Progress requests before giving up on a job still running (900 × 2 s = 30 min)."""
    max_export_bytes: int = Field(1 << 30, ge=1)
    """Largest uncompressed JSON accepted (1 GiB): the file is unpacked in memory."""
    headers: dict[str, str] = Field(default_factory=dict, validate_default=True)
    """Extra non-secret headers; an ``Accept`` for JSON and the binary file is added unless
    given."""
    export_options: dict[str, Any] = Field(default_factory=dict)
    """More fields of the start-export body, as Qualtrics documents them (``endDate``,
    ``filterId``, ``questionIds``, ``embeddedDataIds``, ``limit``…). ``format``,
    ``startDate``, ``compress`` and ``useLabels`` are set by the connector."""

    @field_validator("survey_id")
    @classmethod
    def _survey_id(cls, value: str) -> str:
        if not _SURVEY_ID.fullmatch(value):
            raise ValueError("must be a Qualtrics survey ID: SV_ followed by letters and digits")
        return value

    @field_validator("base_url")
    @classmethod
    def _datacenter(cls, value: str) -> str:
        # Both https://fra1.qualtrics.com and https://fra1.qualtrics.com/API/v3 are accepted.
        value = value.rstrip("/")
        if value.lower().endswith(API_PREFIX.lower()):
            value = value[: -len(API_PREFIX)]
        return value

    @field_validator("headers")
    @classmethod
    def _accept(cls, value: dict[str, str]) -> dict[str, str]:
        # The file endpoint answers application/octet-stream (or zip), the others JSON.
        if not any(name.lower() == "accept" for name in value):
            value = {"Accept": "application/json, application/octet-stream", **value}
        return value

    @field_validator("export_options")
    @classmethod
    def _not_reserved(cls, value: dict[str, Any]) -> dict[str, Any]:
        clash = sorted(RESERVED_BODY_KEYS & set(value))
        if clash:
            raise ValueError(
                f"{', '.join(clash)} {'is' if len(clash) == 1 else 'are'} set by the "
                f"connector (format is always json; startDate comes from the incremental "
                f"watermark; use the compress and use_labels options)"
            )
        return value


class QualtricsResponses(HttpSource):
    """The responses of one Qualtrics survey, by the asynchronous JSON export.

    ``extract(since)`` starts an export with ``startDate = since`` (Qualtrics filters on
    the date a response was *recorded*, so map ``submitted_at = "values.recordedDate"``),
    polls it every ``poll_interval`` seconds at most ``max_polls`` times, downloads the
    file and unpacks it in memory. The frame has one row per response: ``responseId`` and
    every field of ``values``/``labels`` as a dotted text column.
    """

    kind = "qualtrics.responses"
    entity: ClassVar[str] = "survey_responses"
    """The canonical entity this source feeds (a config naming another is refused)."""
    Options: ClassVar[type[SourceOptions]] = QualtricsOptions
    options: QualtricsOptions

    def __init__(self, config: SourceConfig, *, resolve_path: Any = None) -> None:
        super().__init__(config, resolve_path=resolve_path)
        if config.entity != self.entity:
            raise ConfigError(
                f"source {config.name!r} ({self.kind}): reads {self.entity}, not "
                f"{config.entity}; set entity = {self.entity!r}"
            )

    # ---------------------------------------------------------------- paths

    @property
    def export_path(self) -> str:
        """``/API/v3/surveys/{surveyId}/export-responses``."""
        return f"{API_PREFIX}/surveys/{self.options.survey_id}/export-responses"

    def _job_path(self, job_id: str) -> str:
        return f"{self.export_path}/{quote(job_id, safe='')}"

    # ---------------------------------------------------------------- the flow

    def extract(self, since: datetime | None = None) -> Extract:
        before = self.retried.copy()
        started = time.monotonic()
        try:
            progress_id = self.start_export(since)
            file_id, polls = self.wait_for_file(progress_id)
            content = self.download_file(file_id)
            member, responses = self.unpack(content, file_id)
        finally:
            self.close()
        frame = self.frame(responses, f"{member} (export file {file_id})")
        log.info(
            "source %r: survey %s: export %s ready after %d polls (%.1f s): %d responses",
            self.name,
            self.options.survey_id,
            progress_id,
            polls,
            time.monotonic() - started,
            len(responses),
        )
        url = f"{self.options.base_url}{self._job_path(file_id)}/file"
        return Extract(
            frame=frame,
            inputs=[InputFile(url, size_bytes=len(content))],
            warnings=self.retry_warnings(before),
        )

    def start_body(self, since: datetime | None) -> dict[str, Any]:
        """The JSON body of the start-export request."""
        body: dict[str, Any] = {
            **self.options.export_options,
            "format": "json",
            "compress": self.options.compress,
        }
        if self.options.use_labels:
            body["useLabels"] = True
        if since is not None:
            body["startDate"] = start_date(since)
        return body

    def start_export(self, since: datetime | None = None) -> str:
        """Start an export job; its ``progressId``."""
        answer = self.request(self.export_path, method="POST", json_body=self.start_body(since))
        progress_id = _result(answer).get("progressId")
        if not isinstance(progress_id, str) or not progress_id:
            raise self.error(
                f"POST {self.export_path}: the answer has no result.progressId "
                f"(got {_keys(_result(answer))}); the export did not start"
            )
        return progress_id

    def wait_for_file(self, progress_id: str) -> tuple[str, int]:
        """Poll the job until it is ``complete``: its ``fileId`` and the polls it took.

        A ``failed`` job, a job still running after ``max_polls`` polls, or a complete job
        without a ``fileId`` is a :class:`~cxpipe.errors.SourceError`. A 404 stops at once
        (the base raises it), as Qualtrics asks."""
        path = self._job_path(progress_id)
        options = self.options
        started = time.monotonic()
        result: Mapping[str, Any] = {}
        for poll in range(1, options.max_polls + 1):
            answer = self.request(path)
            result = _result(answer)
            status = result.get("status")
            if status == "complete":
                file_id = result.get("fileId")
                if not isinstance(file_id, str) or not file_id:
                    raise self.error(
                        f"GET {path}: export {progress_id} is complete but has no fileId"
                    )
                return file_id, poll
            if status == "failed":
                raise self.error(
                    f"export {progress_id} of survey {options.survey_id} failed on the "
                    f"Qualtrics side{_failure_detail(answer)}; run again, and if it keeps "
                    f"failing give Qualtrics support the requestId"
                )
            if status not in STATUSES:
                log.debug("source %r: export %s: status %r", self.name, progress_id, status)
            if poll < options.max_polls:
                time.sleep(options.poll_interval)
        raise self.error(
            f"export {progress_id} of survey {options.survey_id} is still "
            f"{result.get('status')!s} ({_percent(result)} complete) after "
            f"options.max_polls = {options.max_polls} polls over "
            f"{time.monotonic() - started:.1f} s; raise max_polls or poll_interval for an "
            f"export this large, or narrow it (export_options: endDate, questionIds)"
        )

    def download_file(self, file_id: str) -> bytes:
        """The bytes of the export file (retried like every request)."""
        return self.download(f"{self._job_path(file_id)}/file")

    def unpack(self, content: bytes, file_id: str) -> tuple[str, list[dict[str, Any]]]:
        """The JSON document's name and its ``responses``, from a zip or bare JSON."""
        where = f"export file {file_id}"
        if self.options.compress or content.startswith((_ZIP_MAGIC, _EMPTY_ZIP)):
            member, text = self._from_zip(content, file_id)
        else:
            member, text = "responses.json", content
            self._check_size(len(text), where)
        try:
            document = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            detail = (
                f"{exc.msg} at line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else exc
            )
            raise self.error(
                f"{where}: {member} is not valid JSON ({detail}); it starts with "
                f"{bytes(text[:60])!r}"
            ) from None
        responses = document.get("responses") if isinstance(document, dict) else None
        if not isinstance(responses, list):
            got = _keys(document) if isinstance(document, dict) else type(document).__name__
            raise self.error(
                f"{where}: {member} has no list 'responses' (got {got}); was the export "
                f"started with format json?"
            )
        for index, response in enumerate(responses, start=1):
            if not isinstance(response, dict):
                raise self.error(
                    f"{where}: response {index} of {member} is a {type(response).__name__}, "
                    f"not an object"
                )
        return member, responses

    def _from_zip(self, content: bytes, file_id: str) -> tuple[str, bytes]:
        where = f"export file {file_id}"
        try:
            with zipfile.ZipFile(io.BytesIO(content)) as archive:
                members = [i for i in archive.infolist() if not i.is_dir()]
                found = [i for i in members if i.filename.lower().endswith(".json")]
                if len(found) != 1:
                    names = ", ".join(repr(i.filename) for i in members) or "nothing"
                    raise self.error(
                        f"{where}: expected one .json file in the zip, found {names}; was the "
                        f"export started with format json?"
                    )
                info = found[0]
                self._check_size(info.file_size, where)
                return info.filename, archive.read(info)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as exc:
            raise self.error(
                f"{where}: the download ({len(content)} bytes) is not a readable zip "
                f"({type(exc).__name__}: {exc}); it starts with {content[:16]!r}. Run again; "
                f"a truncated download or a proxy rewriting the body does this"
            ) from None

    def _check_size(self, size: int, where: str) -> None:
        limit = self.options.max_export_bytes
        if size > limit:
            raise self.error(
                f"{where}: the JSON is {size} bytes, more than options.max_export_bytes = "
                f"{limit}; raise it, or narrow the export (export_options: endDate, "
                f"questionIds, embeddedDataIds)"
            )

    # ---------------------------------------------------------------- the frame

    def frame(self, responses: list[dict[str, Any]], label: str) -> pl.LazyFrame:
        """One row per response, every column text (see ``docs/http-sources.md``),
        ``_cx_file`` naming the export file and ``_cx_row`` the response's position in it.
        An export with no responses (nothing new since the watermark) still has the
        columns the config maps, so conform yields no rows instead of a missing column."""
        return frame_from_records(
            ((label, row, response) for row, response in enumerate(responses, start=1)),
            self.config.source_columns(),
        )


def _result(answer: Mapping[str, Any]) -> Mapping[str, Any]:
    result = answer.get("result")
    return result if isinstance(result, Mapping) else {}


def _keys(value: Mapping[str, Any]) -> str:
    return ", ".join(repr(k) for k in list(value)[:10]) or "no keys"


def _percent(result: Mapping[str, Any]) -> str:
    value = result.get("percentComplete")
    return f"{value:g} %" if isinstance(value, int | float) else "? %"


def _failure_detail(answer: Mapping[str, Any]) -> str:
    """`` (errorCode: message; requestId …)`` from a failed job's answer, when it says."""
    parts: list[str] = []
    for holder in (_result(answer), answer.get("meta")):
        error = holder.get("error") if isinstance(holder, Mapping) else None
        if isinstance(error, Mapping):
            code, message = error.get("errorCode"), error.get("errorMessage")
            text = ": ".join(str(p) for p in (code, message) if p)
            if text:
                parts.append(text)
    meta = answer.get("meta")
    if isinstance(meta, Mapping) and meta.get("requestId"):
        parts.append(f"requestId {meta['requestId']}")
    return f" ({'; '.join(dict.fromkeys(parts))})" if parts else ""
