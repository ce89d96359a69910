"""ServiceNow sources over the Table API (``GET /api/now/table/{tableName}``).

Built on :mod:`cxpipe.sources.http`: credentials from environment variables (HTTP Basic or
an OAuth bearer token), retries honouring ``Retry-After``, the loop guard and page bound,
lineage and secret scrubbing all come from :class:`~cxpipe.sources.http.HttpSource`. What
is ServiceNow's own lives here:

- the Table API's query parameters (``sysparm_query``, ``sysparm_fields``,
  ``sysparm_display_value``, ``sysparm_exclude_reference_link``);
- :class:`TableApiPaginator`: ``sysparm_limit``/``sysparm_offset`` paging that ends on the
  ``X-Total-Count`` (or ``Link``) response header, not on a short page, because the Table
  API applies ``sysparm_limit`` *before* ACLs and a page may come back short, or empty,
  with more records after it;
- incremental reads: ``sys_updated_on>=YYYY-MM-DD HH:MM:SS`` in ``sysparm_query``, ordered
  by ``sys_id`` so that offsets stay stable while records change, and a catch-up read of
  what changed during a multi-page extract;
- the survey pivot: one ``asmt_metric_result`` row per answered question becomes one row
  per survey instance, with the configured questions as columns.

See README.md for the options, the columns each source yields and how they are verified.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl
from pydantic import Field, field_validator

from cxpipe.sources.base import Extract, SourceOptions
from cxpipe.sources.http import (
    EMPTY_HEADERS,
    HttpOptions,
    HttpSource,
    PageRequest,
    PaginationError,
    Paginator,
    frame_from_records,
    page_lineage,
)

log = logging.getLogger(__name__)

API_PREFIX = "/api/now"
ORDER = "ORDERBYsys_id"
"""Every read is ordered by ``sys_id``: a record's position in the result set does not move
when it is updated (it would with ``ORDERBYsys_updated_on``), so offset paging skips
nothing; see :meth:`ServiceNowTable.read`."""
QUERY_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
"""How a date-time is written in ``sysparm_query`` and returned as a ``value``."""

_FIELD = re.compile(r"[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*")
_SYS_ID = re.compile(r"[0-9a-f]{32}")
_QUESTION_KEY = re.compile(r"[a-z][a-z0-9_]*")
_NEXT_LINK = re.compile(r"""rel\s*=\s*"?next"?""", re.IGNORECASE)

INCIDENT_FIELDS: tuple[str, ...] = (
    "sys_id",
    "number",
    "sys_class_name",
    "state",
    "priority",
    "category",
    "contact_type",
    "company",
    "caller_id",
    "assignment_group",
    "opened_at",
    "resolved_at",
    "closed_at",
    "sys_updated_on",
    "reassignment_count",
    "reopen_count",
)
"""``incident`` fields read by default (``options.fields`` replaces, ``extra_fields`` adds)."""

REQUEST_FIELDS: tuple[str, ...] = (
    "sys_id",
    "number",
    "sys_class_name",
    "state",
    "priority",
    "contact_type",
    "company",
    "requested_for",
    "opened_by",
    "assignment_group",
    "opened_at",
    "closed_at",
    "sys_updated_on",
    "reassignment_count",
)
"""``sc_request`` fields read by default; ``sc_req_item`` adds ``cat_item`` and ``request``.
Catalog tasks have no ``resolved_at``, ``reopen_count``, ``caller_id`` or ``category``."""

SLA_FIELDS: tuple[str, ...] = (
    "sys_id",
    "task",
    "sla.target",
    "stage",
    "planned_end_time",
    "has_breached",
)
"""``task_sla`` fields read with ``options.sla = true``; ``sla.target`` (on the SLA
definition, ``contract_sla``) is ``response`` or ``resolution``."""
SLA_TARGETS = ("response", "resolution")
SLA_COLUMNS = ("planned_end_time", "stage", "has_breached")

SURVEY_FIELDS: tuple[str, ...] = (
    "sys_id",
    "instance",
    "metric",
    "actual_value",
    "string_value",
    "sys_updated_on",
    "instance.number",
    "instance.state",
    "instance.taken_on",
    "instance.metric_type",
    "instance.trigger_table",
    "instance.trigger_id",
    "user",
    "user.company",
)
"""``asmt_metric_result`` fields read by the survey source, dot-walking to the survey
instance (``asmt_assessment_instance``) and the respondent's company."""
_ANSWER_FIELDS = ("sys_id", "metric", "actual_value", "string_value", "sys_updated_on")
"""Result fields that belong to one answer; the others describe the instance and are
carried once per row."""
ANSWER_COLUMNS = ("actual_value", "string_value")


# --------------------------------------------------------------------------- options


class ServiceNowOptions(HttpOptions):
    """``[sources.options]`` of every ServiceNow source (on top of the HTTP base's:
    ``base_url``, ``username_env``/``password_env`` or ``token_env``, retries…)."""

    page_size: int = Field(1000, ge=1, le=10_000)
    """``sysparm_limit``: records per page (the API's default and usual maximum is 10 000)."""
    display_value: Literal["true", "false", "all"] = "all"
    """``sysparm_display_value``. ``all`` (default): every field is an object of
    ``value`` (the database value: sys_ids, choice values, date-times in UTC) and
    ``display_value`` (labels such as ``1 - Critical``, names of referenced records,
    date-times in the API user's time zone and format), read as ``<field>.value`` and
    ``<field>.display_value``. ``false``: values only; ``true``: display values only."""
    exclude_reference_link: bool = True
    """``sysparm_exclude_reference_link``: leave out the ``link`` of reference fields. Keep
    it true: with links, a reference field's columns differ from other fields'."""
    fields: list[str] | None = None
    """``sysparm_fields``: the fields to read, replacing the source's defaults (dot-walking
    allowed: ``caller_id.email``). ``sys_id`` and the cursor field are always added."""
    extra_fields: list[str] = Field(default_factory=list)
    """Fields read on top of the defaults (custom ``u_`` fields, dot-walks)."""
    query: str | None = None
    """An encoded query ANDed with the source's own (``active=true``,
    ``company.nameSTARTSWITHAcme``). No ``ORDERBY``, ``^NQ`` or ``^EQ``: ordering is the
    connector's, and a new-query OR would escape the incremental filter."""
    query_timezone: str = "UTC"
    """The time zone ``since`` is written in inside ``sysparm_query``. A literal date-time
    in an encoded query is compared with the stored UTC value, so the default is right;
    change it only for an instance that reads query literals in another zone."""
    api_version: str | None = None
    """``v1``, ``v2``…: read ``/api/now/{api_version}/table/…`` instead of the latest."""
    catch_up: bool = True
    """After a read of several pages, read again what changed since it began (see
    README, "Incremental reads"): records created or updated meanwhile may have been
    inserted before the offset reached."""
    catch_up_overlap: float = Field(60.0, ge=0)
    """Seconds subtracted from the read's start (the server's ``Date``) for the catch-up,
    to cover the time between the query's snapshot and its response."""

    @field_validator("fields", "extra_fields")
    @classmethod
    def _field_names(cls, value: list[str] | None) -> list[str] | None:
        for name in value or ():
            if not _FIELD.fullmatch(name):
                raise ValueError(
                    f"{name!r} is not a ServiceNow field name (lower case, digits and _, "
                    f"dot-walks with '.')"
                )
        return value

    @field_validator("query")
    @classmethod
    def _own_query(cls, value: str | None) -> str | None:
        if value is None:
            return None
        text = value.strip().strip("^")
        for part in text.split("^"):
            if part.startswith("ORDERBY"):
                raise ValueError("must not order (ORDERBY…): the connector orders by sys_id")
            if part.startswith("NQ"):
                raise ValueError("must not contain ^NQ: a new query would escape `since`")
            if part == "EQ":
                raise ValueError("must not contain ^EQ: conditions after it are ignored")
        return text or None

    @field_validator("query_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (an IANA name: UTC, Europe/Paris)"
            ) from None
        return value

    @field_validator("api_version")
    @classmethod
    def _version(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"v\d+", value):
            raise ValueError("must look like v1 or v2")
        return value


class TicketOptions(ServiceNowOptions):
    """Options of ``servicenow.incidents`` (and, with ``table``, ``servicenow.requests``)."""

    sla: bool = False
    """Also read ``task_sla`` and add each ticket's response and resolution SLA as
    ``task_sla.response.*`` and ``task_sla.resolution.*`` columns (``planned_end_time``,
    the due time; ``stage``; ``has_breached``)."""
    empty_as_zero: list[str] = Field(default_factory=lambda: ["reassignment_count", "reopen_count"])
    """Integer fields whose empty value (``""``, a counter never incremented) means 0."""


class RequestOptions(TicketOptions):
    """Options of ``servicenow.requests``."""

    table: Literal["sc_req_item", "sc_request"] = "sc_req_item"
    """Requested items (``sc_req_item``, RITM: what is fulfilled) or requests
    (``sc_request``, REQ: the order that groups them)."""


class SurveyOptions(ServiceNowOptions):
    """Options of ``servicenow.survey_results``."""

    questions: dict[str, str]
    """Column name → sys_id of the question (``asmt_metric``) whose answers fill it, e.g.
    ``{ csat = "<sys_id of 'How satisfied were you…'>", comment = "<sys_id>" }``. Each
    becomes ``<name>.actual_value`` (the answer's value: 1–5 on a five-point scale) and
    ``<name>.string_value`` (its text, for comments)."""

    @field_validator("questions")
    @classmethod
    def _questions(cls, value: dict[str, str]) -> dict[str, str]:
        if not value:
            raise ValueError('name at least one question: { csat = "<asmt_metric sys_id>" }')
        carried = {f.split(".")[0] for f in SURVEY_FIELDS if f not in _ANSWER_FIELDS}
        for key, sys_id in value.items():
            if not _QUESTION_KEY.fullmatch(key) or key in carried:
                raise ValueError(
                    f"{key!r} cannot name a question's column (lower case, digits and _, "
                    f"not {', '.join(sorted(carried))})"
                )
            if not _SYS_ID.fullmatch(sys_id):
                raise ValueError(
                    f"{key} = {sys_id!r} is not a sys_id (32 hexadecimal characters): open "
                    f"the question (Survey > View Surveys > the survey > the question) and "
                    f"copy its sys_id"
                )
        if len(set(value.values())) < len(value):
            raise ValueError("two columns name the same question")
        return value


# --------------------------------------------------------------------------- paging


@dataclass(frozen=True)
class TableApiPaginator(Paginator):
    """``sysparm_limit``/``sysparm_offset`` paging as the Table API documents it.

    The Table API applies ``sysparm_limit`` before ACLs, so a page may hold fewer records
    than asked for, even none, with more after it: the next offset is always
    ``offset + limit``, and the end is decided by the ``X-Total-Count`` header (the
    query's total), else by the ``Link`` header having no ``rel="next"``, else (neither
    header) by a short page.
    """

    limit_param: str = "sysparm_limit"
    offset_param: str = "sysparm_offset"

    def first(self, path: str, params: Mapping[str, Any], page_size: int) -> PageRequest:
        query = {**params, self.limit_param: page_size, self.offset_param: 0}
        return PageRequest(path, query, "sysparm_offset 0")

    def next(
        self,
        current: PageRequest,
        body: Mapping[str, Any],
        records: list[dict[str, Any]],
        page_size: int,
        *,
        headers: Mapping[str, str] = EMPTY_HEADERS,
    ) -> PageRequest | None:
        offset = int(current.params[self.offset_param]) + int(current.params[self.limit_param])
        total = headers.get("x-total-count")
        link = headers.get("link")
        if total is not None:
            try:
                count = int(total)
            except ValueError:
                raise PaginationError(
                    f"X-Total-Count is {total!r}, expected a whole number"
                ) from None
            if offset >= count:
                return None
        elif link is not None:
            if not _NEXT_LINK.search(link):
                return None
        elif len(records) < page_size:
            return None
        return PageRequest(
            current.path, {**current.params, self.offset_param: offset}, f"sysparm_offset {offset}"
        )


# --------------------------------------------------------------------------- helpers


def raw_value(field: Any) -> Any:
    """A field's database value: ``value`` of an ``all``/link object, else the field."""
    if isinstance(field, Mapping):
        return field.get("value", field.get("display_value"))
    return field


def query_time(at: datetime, timezone: str = "UTC") -> str:
    """``at`` as an encoded-query literal (``2024-03-01 12:00:00``) in ``timezone``,
    rounded down to the second (ServiceNow stores whole seconds; ``>=`` keeps it
    inclusive). A naive ``at`` is taken as UTC."""
    aware = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    return aware.astimezone(ZoneInfo(timezone)).replace(microsecond=0).strftime(QUERY_TIME_FORMAT)


@dataclass
class Read:
    """The pages of one pass over a table, with the label their lineage carries."""

    label: str
    pages: list[list[dict[str, Any]]]

    def records(self) -> Iterable[tuple[str, int, dict[str, Any]]]:
        """``(_cx_file, _cx_row, record)`` for every record (:func:`page_lineage`)."""
        return page_lineage(self.pages, self.label)


# --------------------------------------------------------------------------- sources


class ServiceNowTable(HttpSource):
    """Base of the ServiceNow sources: one Table API table, read whole or since a
    watermark. Subclasses set ``kind``, ``table``, ``default_fields`` and implement
    :meth:`extract` with :meth:`read` and :meth:`frame`."""

    Options: ClassVar[type[SourceOptions]] = ServiceNowOptions
    options: ServiceNowOptions
    records_key: ClassVar[str] = "result"
    table: ClassVar[str] = ""
    default_fields: ClassVar[tuple[str, ...]] = ()
    cursor_field: ClassVar[str] = "sys_updated_on"
    """The field ``since`` is compared with in ``sysparm_query``."""

    # ---------------------------------------------------------------- the HTTP layer

    def _server_time(self) -> datetime | None:
        """The ``Date`` of the last response (the instance's clock), if it sent one."""
        response = self.last_response
        text = response.headers.get("date") if response is not None else None
        if not text:
            return None
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        return when if when.tzinfo else when.replace(tzinfo=UTC)

    # ---------------------------------------------------------------- the request

    def table_name(self) -> str:
        return self.table

    def table_path(self, table: str | None = None) -> str:
        version = f"/{self.options.api_version}" if self.options.api_version else ""
        return f"{API_PREFIX}{version}/table/{table or self.table_name()}"

    def field_list(self) -> list[str]:
        """``sysparm_fields``: the options' fields (or the defaults), extras, ``sys_id``
        and the cursor field, each once."""
        fields = list(self.options.fields or self.default_field_list())
        return list(
            dict.fromkeys(["sys_id", *fields, *self.options.extra_fields, self.cursor_field])
        )

    def default_field_list(self) -> tuple[str, ...]:
        return self.default_fields

    def filters(self) -> list[str]:
        """The conditions every read of the table has (``options.query`` by default)."""
        return [self.options.query] if self.options.query else []

    def encoded_query(
        self, filters: list[str], since: datetime | None, cursor_field: str | None = None
    ) -> str:
        """``sysparm_query``: the filters, then ``<cursor>>=<since>``, then ``ORDERBYsys_id``,
        joined by ``^`` (AND)."""
        parts = list(filters)
        if since is not None:
            field = cursor_field or self.cursor_field
            parts.append(f"{field}>={query_time(since, self.options.query_timezone)}")
        parts.append(ORDER)
        return "^".join(parts)

    def table_params(self, query: str, fields: Iterable[str]) -> dict[str, str]:
        return {
            "sysparm_query": query,
            "sysparm_fields": ",".join(fields),
            "sysparm_display_value": self.options.display_value,
            "sysparm_exclude_reference_link": str(self.options.exclude_reference_link).lower(),
        }

    def read(
        self,
        table: str,
        filters: list[str],
        fields: list[str],
        since: datetime | None,
        *,
        cursor_field: str | None = None,
    ) -> list[Read]:
        """Every page of ``table`` matching ``filters`` (and changed since ``since``).

        Offsets are stable under ``ORDERBYsys_id`` as long as the result set only changes
        behind the offset reached; a record created or updated into the result set during
        a multi-page read may land before it. So, when the read took more than one page
        and ``options.catch_up`` is on, a second pass reads what changed since the first
        began (the server's ``Date``, less ``options.catch_up_overlap``). Records read
        twice are deduplicated by ``sys_id`` later (the later read wins).
        """
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        path = self.table_path(table)
        label = f"GET {path}"
        paginator = TableApiPaginator()
        field = cursor_field or self.cursor_field
        started_local = datetime.now(UTC)
        params = self.table_params(self.encoded_query(filters, since, field), fields)
        pages: list[list[dict[str, Any]]] = []
        started: datetime | None = None
        for page in self.records(path, params, self.records_key, paginator=paginator):
            if started is None:
                started = self._server_time() or started_local
            pages.append(page)
        reads = [Read(label, pages)]
        if len(pages) > 1 and self.options.catch_up and started is not None:
            since_start = started - timedelta(seconds=self.options.catch_up_overlap)
            if since is not None:
                since_start = max(since_start, since)
            query = self.encoded_query(filters, since_start, field)
            again = list(
                self.records(
                    path, self.table_params(query, fields), self.records_key, paginator=paginator
                )
            )
            log.info(
                "source %r: %s: catch-up since %s: %d records",
                self.name,
                label,
                query_time(since_start),
                sum(len(p) for p in again),
            )
            reads.append(Read(f"{label} (catch-up)", again))
        return reads

    # ---------------------------------------------------------------- the frame

    def empty_field(self) -> Any:
        """What a field with no value looks like in this ``display_value`` mode."""
        return (
            {"display_value": None, "value": None} if self.options.display_value == "all" else None
        )

    def field_columns(self, field: str) -> list[str]:
        """The frame columns one field becomes."""
        if self.options.display_value == "all":
            return [f"{field}.display_value", f"{field}.value"]
        return [field]

    def frame(
        self,
        rows: list[tuple[str, int, dict[str, Any]]],
        columns: Iterable[str],
    ) -> pl.LazyFrame:
        """``(_cx_file, _cx_row, record)`` rows as the frame conform reads; the requested
        ``columns`` the config maps are there even when the read found nothing (see
        :func:`~cxpipe.sources.http.frame_from_records`)."""
        mapped = set(self.config.source_columns())
        return frame_from_records(rows, [c for c in columns if c in mapped])

    def extract_of(
        self, frame: pl.LazyFrame, tables: Iterable[str], retried_before: Counter[str]
    ) -> Extract:
        inputs = [self.endpoint(self.table_path(t)) for t in tables]
        return Extract(frame=frame, inputs=inputs, warnings=self.retry_warnings(retried_before))


def latest_by_sys_id(
    reads: Iterable[Read],
) -> list[tuple[str, int, dict[str, Any]]]:
    """The records of ``reads`` with their lineage, each ``sys_id`` once: its last read
    (the catch-up's), in the order of first appearance."""
    latest: dict[Any, tuple[str, int, dict[str, Any]]] = {}
    for read in reads:
        for file, row, record in read.records():
            key = raw_value(record.get("sys_id"))
            latest.pop(key, None)  # re-inserted: a re-read record moves to the end
            latest[key] = (file, row, record)
    return list(latest.values())


class ServiceNowTickets(ServiceNowTable):
    """Base of the ticket sources (``tickets`` entity): a task table, optionally with its
    SLAs."""

    Options: ClassVar[type[SourceOptions]] = TicketOptions
    options: TicketOptions

    def extract(self, since: datetime | None = None) -> Extract:
        before = self.retried.copy()
        try:
            fields = self.field_list()
            rows = latest_by_sys_id(self.read(self.table_name(), self.filters(), fields, since))
            columns = [c for f in fields for c in self.field_columns(f)]
            tables = [self.table_name()]
            if self.options.sla:
                self._add_slas(rows, since)
                columns += [
                    c
                    for target in SLA_TARGETS
                    for name in SLA_COLUMNS
                    for c in self.field_columns(f"task_sla.{target}.{name}")
                ]
                tables.append("task_sla")
            for _, _, record in rows:
                self._zero_counters(record)
            return self.extract_of(self.frame(rows, columns), tables, before)
        finally:
            self.close()

    def _zero_counters(self, record: dict[str, Any]) -> None:
        for name in self.options.empty_as_zero:
            value = record.get(name)
            if value == "":
                record[name] = "0"
            elif isinstance(value, dict):
                for key in ("value", "display_value"):
                    if value.get(key) == "":
                        value[key] = "0"

    def _add_slas(
        self, rows: list[tuple[str, int, dict[str, Any]]], since: datetime | None
    ) -> None:
        """Read the SLAs of the table's tasks changed since ``since`` and add, per ticket,
        the response and resolution SLA due soonest (cancelled ones only if nothing
        else)."""
        reads = self.read(
            "task_sla",
            [f"task.sys_class_name={self.table_name()}"],
            list(SLA_FIELDS),
            since,
            cursor_field="task.sys_updated_on",
        )
        chosen: dict[tuple[Any, str], dict[str, Any]] = {}
        for _, _, sla in latest_by_sys_id(reads):
            target = raw_value(sla.get("sla.target"))
            if target not in SLA_TARGETS:
                continue
            key = (raw_value(sla.get("task")), target)
            if key not in chosen or _sla_rank(sla) < _sla_rank(chosen[key]):
                chosen[key] = sla
        empty = self.empty_field()
        for _, _, record in rows:
            task = raw_value(record.get("sys_id"))
            record["task_sla"] = {
                target: {
                    name: chosen[(task, target)].get(name, empty)
                    if (task, target) in chosen
                    else empty
                    for name in SLA_COLUMNS
                }
                for target in SLA_TARGETS
            }


def _sla_rank(sla: Mapping[str, Any]) -> tuple[bool, str]:
    cancelled = raw_value(sla.get("stage")) == "cancelled"
    due = raw_value(sla.get("planned_end_time")) or "9999"
    return cancelled, str(due)


class ServiceNowIncidents(ServiceNowTickets):
    """Incidents (``incident``), changed since the last run when incremental."""

    kind = "servicenow.incidents"
    table = "incident"
    default_fields = INCIDENT_FIELDS


class ServiceNowRequests(ServiceNowTickets):
    """Catalog requests: requested items (``sc_req_item``, default) or requests
    (``sc_request``), per ``options.table``."""

    kind = "servicenow.requests"
    Options: ClassVar[type[SourceOptions]] = RequestOptions
    options: RequestOptions
    table = "sc_req_item"

    def table_name(self) -> str:
        return self.options.table

    def default_field_list(self) -> tuple[str, ...]:
        if self.options.table == "sc_req_item":
            return (*REQUEST_FIELDS, "cat_item", "request")
        return REQUEST_FIELDS


class ServiceNowSurveyResults(ServiceNowTable):
    """Survey answers (``asmt_metric_result``) of completed survey instances, one row per
    instance with the configured questions as columns (``survey_responses`` entity)."""

    kind = "servicenow.survey_results"
    Options: ClassVar[type[SourceOptions]] = SurveyOptions
    options: SurveyOptions
    table = "asmt_metric_result"
    default_fields = SURVEY_FIELDS
    cursor_field = "instance.taken_on"
    """Incremental by the instance's completion time, so that every answer of an instance
    is read together (a row never replaces an earlier one with fewer answers)."""

    def filters(self) -> list[str]:
        metrics = ",".join(self.options.questions.values())
        return [f"metricIN{metrics}", "instance.state=complete", *super().filters()]

    def field_list(self) -> list[str]:
        return list(dict.fromkeys([*super().field_list(), *_ANSWER_FIELDS]))

    def extract(self, since: datetime | None = None) -> Extract:
        before = self.retried.copy()
        try:
            fields = self.field_list()
            results = latest_by_sys_id(self.read(self.table, self.filters(), fields, since))
            rows = self._by_instance(results, fields)
            carried = [f for f in fields if f not in _ANSWER_FIELDS]
            columns = [c for f in carried for c in self.field_columns(f)]
            columns += [
                c
                for key in self.options.questions
                for name in ANSWER_COLUMNS
                for c in self.field_columns(f"{key}.{name}")
            ]
            return self.extract_of(self.frame(rows, columns), [self.table], before)
        finally:
            self.close()

    def _by_instance(
        self, results: list[tuple[str, int, dict[str, Any]]], fields: list[str]
    ) -> list[tuple[str, int, dict[str, Any]]]:
        """One record per survey instance: the instance's fields from its first result
        (whose lineage it keeps) and, per configured question, that answer's
        ``actual_value`` and ``string_value``."""
        column_of = {sys_id: key for key, sys_id in self.options.questions.items()}
        empty = self.empty_field()
        rows: dict[Any, tuple[str, int, dict[str, Any]]] = {}
        for file, row, result in results:
            instance = raw_value(result.get("instance"))
            if instance not in rows:
                carried = {k: v for k, v in result.items() if k not in _ANSWER_FIELDS}
                for question in self.options.questions:
                    carried[question] = dict.fromkeys(ANSWER_COLUMNS, empty)
                rows[instance] = (file, row, carried)
            answered = column_of.get(raw_value(result.get("metric")))
            if answered is not None:
                rows[instance][2][answered] = {
                    name: result.get(name, empty) for name in ANSWER_COLUMNS
                }
        return list(rows.values())
