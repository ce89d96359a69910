"""A local stand-in for Qualtrics' response export, for tests (needs the ``test`` extra).

:class:`FakeQualtrics` answers the three documented endpoints on a pytest-httpserver
``HTTPServer`` — start, progress, file — with bodies shaped like Qualtrics' API reference
(``{"result": {...}, "meta": {"requestId", "httpStatus"}}``), checks ``X-API-TOKEN``,
filters on ``startDate`` by ``recordedDate`` as Qualtrics does, and builds the zipped JSON
file from :func:`sample_responses` (or what a test gives it). It is not Qualtrics: the
shapes come from the documentation, not from a live account.
"""

from __future__ import annotations

import io
import json
import re
import uuid
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

SURVEY_ID = "SV_3KdCxPipeTest7"
"""The survey the fake serves; others answer 404."""

_PATH = re.compile(
    r"/API/v3/surveys/(?P<survey>[^/]+)/export-responses(?:/(?P<job>[^/]+)(?P<file>/file)?)?"
)

CLIENTS = ("acme", "globex", "initech")
LEVELS = ("business_user", "key_individual", "company", "technology_team")
CSAT_LABELS = {
    1: "Very dissatisfied",
    2: "Dissatisfied",
    3: "Neutral",
    4: "Satisfied",
    5: "Very satisfied",
}


def qualtrics_time(moment: datetime) -> str:
    """A timestamp as the JSON export writes it: UTC, milliseconds, ``Z``."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def sample_responses(
    n: int = 24, *, start: datetime = datetime(2024, 1, 3, 9, 0, tzinfo=UTC), every_hours: int = 61
) -> list[dict[str, Any]]:
    """``n`` responses to a CX pulse survey, one every ``every_hours`` hours from ``start``.

    QID1 is the likelihood to recommend (0–10), QID2 satisfaction (1–5), QID3 effort (1–7),
    QID4_TEXT a comment; ``client_id``, ``respondent_level`` and ``ticket_id`` are embedded
    data fields. As in a real export, a question the respondent skipped is absent from
    ``values`` (every 5th skips QID3, every 4th leaves no comment)."""
    responses: list[dict[str, Any]] = []
    for i in range(n):
        begun = start + timedelta(hours=every_hours * i, milliseconds=137 * i)
        ended = begun + timedelta(minutes=3, seconds=i)
        recorded = ended + timedelta(milliseconds=412)
        response_id = f"R_{i:04d}CxPipeFake{chr(65 + i % 26)}"
        nps, csat, ces = (i * 7) % 11, 1 + (i * 3) % 5, 1 + (i * 5) % 7
        values: dict[str, Any] = {
            "startDate": qualtrics_time(begun),
            "endDate": qualtrics_time(ended),
            "status": 0,
            "ipAddress": f"203.0.113.{i % 250}",
            "progress": 100,
            "duration": 180 + i,
            "finished": 1,
            "recordedDate": qualtrics_time(recorded),
            "_recordId": response_id,
            "locationLatitude": "48.8534",
            "locationLongitude": "2.3488",
            "distributionChannel": "email",
            "userLanguage": "EN",
            "QID1": nps,
            "QID2": csat,
            "client_id": CLIENTS[i % len(CLIENTS)],
            "respondent_level": LEVELS[i % len(LEVELS)],
            "ticket_id": f"INC{100200 + i}",
        }
        labels: dict[str, Any] = {
            "status": "IP Address",
            "finished": "True",
            "QID1": str(nps),
            "QID2": CSAT_LABELS[csat],
        }
        if i % 5:
            values["QID3"] = ces
            labels["QID3"] = str(ces)
        if i % 4:
            values["QID4_TEXT"] = f"Response {i}: the team kept us informed, délai correct."
        responses.append(
            {
                "responseId": response_id,
                "values": values,
                "labels": labels,
                "displayedFields": ["QID1", "QID2", "QID3", "QID4_TEXT"],
                "displayedValues": {"QID1": list(range(11)), "QID2": [1, 2, 3, 4, 5]},
            }
        )
    return responses


def export_file(
    responses: Sequence[dict[str, Any]], *, compress: bool = True, member: str = "CX Pulse.json"
) -> bytes:
    """The export file Qualtrics serves: ``{"responses": [...]}``, zipped unless
    ``compress`` is false."""
    document = json.dumps({"responses": list(responses)}, ensure_ascii=False).encode()
    if not compress:
        return document
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(member, document)
    return buffer.getvalue()


def _iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass
class _Job:
    body: dict[str, Any]
    polls: int = 0
    file_id: str | None = None


@dataclass
class FakeQualtrics:
    """The export endpoints of one survey on ``server``; call :meth:`install` first.

    Knobs: ``polls_in_progress`` (answers of ``inProgress`` before the job ends),
    ``final_status`` (``complete`` or ``failed``), ``throttle`` (429s with ``Retry-After``
    before the first progress answer), ``file_bytes`` (serve these instead of the export,
    a corrupt zip say). It records the start bodies, the polls and every request line."""

    server: HTTPServer
    token: str
    responses: list[dict[str, Any]] = field(default_factory=sample_responses)
    survey_id: str = SURVEY_ID
    polls_in_progress: int = 2
    final_status: str = "complete"
    throttle: int = 0
    retry_after: str = "1"
    file_bytes: bytes | None = None
    member: str = "CX Pulse.json"
    starts: list[dict[str, Any]] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    jobs: dict[str, _Job] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        """The datacenter URL to configure (``https://fra1.qualtrics.com`` for real)."""
        return self.server.url_for("/").rstrip("/")

    @property
    def polls(self) -> int:
        return sum(job.polls for job in self.jobs.values())

    def install(self) -> FakeQualtrics:
        self.server.expect_request(re.compile(r"^/API/v3/.*$")).respond_with_handler(self.handle)
        return self

    # ---------------------------------------------------------------- answers

    @staticmethod
    def _json(body: dict[str, Any], status: int = 200, **headers: str) -> Response:
        return Response(
            json.dumps(body), status=status, headers=headers, content_type="application/json"
        )

    def _meta(self, status: str) -> dict[str, Any]:
        return {"requestId": str(uuid.uuid4()), "httpStatus": status}

    def _error(self, status: int, phrase: str, message: str, code: str, **headers: str) -> Response:
        meta = {
            **self._meta(f"{status} - {phrase}"),
            "error": {"errorMessage": message, "errorCode": code},
        }
        return self._json({"meta": meta}, status, **headers)

    def handle(self, request: Request) -> Response:
        self.calls.append(f"{request.method} {request.path}")
        given = request.headers.get("X-API-TOKEN", "")
        if given != self.token:
            # Echo what was sent, as a careless server might: the client must scrub it.
            return self._error(401, "Unauthorized", f"Invalid token {given!r}", "AUTH_1.0")
        match = _PATH.fullmatch(request.path)
        if match is None or match["survey"] != self.survey_id:
            return self._error(404, "Not Found", "Survey not found", "RPM_0.1")
        job, wants_file = match["job"], bool(match["file"])
        if job is None and request.method == "POST":
            return self._start(request)
        if job is not None and request.method == "GET":
            return self._file(job) if wants_file else self._progress(job)
        return self._error(405, "Method Not Allowed", "Method not allowed", "GS_0.1")

    def _start(self, request: Request) -> Response:
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or body.get("format") not in (
            "csv",
            "tsv",
            "json",
            "ndjson",
            "spss",
            "xml",
        ):
            return self._error(400, "Bad Request", "Invalid format", "RPM_1.2")
        self.starts.append(body)
        progress_id = f"ES_{len(self.jobs) + 1:03d}fake{uuid.uuid4().hex[:8]}"
        self.jobs[progress_id] = _Job(body)
        result = {"progressId": progress_id, "percentComplete": 0.0, "status": "inProgress"}
        return self._json({"result": result, "meta": self._meta("200 - OK")})

    def _progress(self, progress_id: str) -> Response:
        job = self.jobs.get(progress_id)
        if job is None:
            return self._error(404, "Not Found", "Export not found", "RPM_0.2")
        if self.throttle > 0:
            self.throttle -= 1
            return self._error(
                429,
                "Too Many Requests",
                "Too many requests",
                "RATE_1",
                **{"Retry-After": self.retry_after},
            )
        job.polls += 1
        meta = self._meta("200 - OK")
        if job.polls <= self.polls_in_progress:
            percent = round(100.0 * job.polls / (self.polls_in_progress + 1), 1)
            result: dict[str, Any] = {
                "percentComplete": percent,
                "status": "inProgress",
                "fileId": None,
            }
        elif self.final_status == "complete":
            if job.file_id is None:
                job.file_id = f"{uuid.uuid4()}-def"
                self.files[job.file_id] = self._build(job.body)
            result = {"percentComplete": 100.0, "status": "complete", "fileId": job.file_id}
        else:  # the documented example of a failed job
            result = {"fileId": None, "percentComplete": 100, "status": self.final_status}
        return self._json({"result": result, "meta": meta})

    def _build(self, body: dict[str, Any]) -> bytes:
        if self.file_bytes is not None:
            return self.file_bytes
        chosen = self.responses
        if "startDate" in body:  # Qualtrics: responses recorded on or after startDate
            since = _iso(str(body["startDate"]))
            chosen = [r for r in chosen if _iso(r["values"]["recordedDate"]) >= since]
        return export_file(chosen, compress=bool(body.get("compress", True)), member=self.member)

    def _file(self, file_id: str) -> Response:
        content = self.files.get(file_id)
        if content is None:
            return self._error(404, "Not Found", "File not found", "RPM_0.3")
        return Response(content, status=200, content_type="application/octet-stream")


__all__ = [
    "CLIENTS",
    "SURVEY_ID",
    "FakeQualtrics",
    "export_file",
    "qualtrics_time",
    "sample_responses",
]
