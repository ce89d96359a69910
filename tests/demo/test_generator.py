"""The demo generator: canonical frames, valid rows, stable bytes, and the planted effects.

Rules and files are checked on a small demo (the point there is correctness, not scale);
the planted effects on the shipped size, because that is what the demo's scorecard sees.
"""

from __future__ import annotations

import gzip
import re
from datetime import datetime
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from cxpipe.demo import DEMO_END, DEMO_START, PLANTED, DemoData, generate, write_demo_files
from cxpipe.demo.generator import (
    AS_OF,
    CHURN_CLIENT,
    CHURN_DECLINE,
    CHURN_END,
    DECLINE_CLIENT,
    DECLINE_MONTHS,
    FILE_NAMES,
    PERCEPTION_CLIENT,
    SPIKE_MONTH,
)
from cxpipe.schemas import ENTITIES, PRIORITIES, REQUEST_TYPES, RESPONDENT_LEVELS, Entity

SLA_HOURS = {"critical": (1, 4), "high": (4, 24), "medium": (8, 72), "low": (24, 120)}
"""The demo config's targets, used where a ticket carries no due time."""


@pytest.fixture(scope="module")
def small() -> DemoData:
    return generate(7, tickets=8_000)


@pytest.fixture(scope="module", params=[7, 2024], ids=lambda seed: f"seed{seed}")
def full(request: pytest.FixtureRequest) -> DemoData:
    seed: int = request.param
    return generate(seed)


def month(column: str) -> pl.Expr:
    return pl.col(column).dt.strftime("%Y-%m").alias("month")


def client_side(data: DemoData) -> pl.DataFrame:
    return data.survey_responses.filter(pl.col("respondent_side") == "client")


def violations(entity: Entity) -> dict[str, pl.Expr]:
    """Rule name → expression true on the rows that break it (nulls never break a rule)."""
    rules = {f"{c} is null": pl.col(c).is_null() for c in entity.required}
    for column, labels in entity.labels.items():
        rules[f"{column} label"] = ~pl.col(column).is_in(list(labels))
    for column, (low, high) in entity.ranges.items():
        rules[f"{column} range"] = ~pl.col(column).is_between(low, high)
    for earlier, later in entity.ordered:
        rules[f"{earlier} > {later}"] = pl.col(earlier) > pl.col(later)
    return {name: expr.fill_null(False) for name, expr in rules.items()}


# --- schemas and rules ---------------------------------------------------------------------
def test_frames_have_exactly_the_canonical_columns_and_dtypes(small: DemoData) -> None:
    frames = small.frames()
    assert set(frames) == set(ENTITIES)
    for name, frame in frames.items():
        assert frame.schema == ENTITIES[name].polars_schema, name
        assert frame.height > 0, name


@pytest.mark.parametrize("name", list(ENTITIES))
def test_every_row_passes_its_entitys_rules(small: DemoData, name: str) -> None:
    entity = ENTITIES[name]
    frame = small.frames()[name]
    broken = frame.select(
        [expr.sum().alias(rule) for rule, expr in violations(entity).items()]
    ).row(0, named=True)
    assert {rule: n for rule, n in broken.items() if n} == {}
    assert not frame.select(entity.primary_key).is_duplicated().any()


def test_tickets_have_a_consistent_lifecycle(small: DemoData) -> None:
    t = small.tickets
    events = ("opened_at", "first_response_at", "resolved_at", "closed_at")
    as_of = pl.lit(AS_OF).dt.cast_time_unit("us")
    bad = t.select(
        stale_update=pl.any_horizontal(pl.col("updated_at") < pl.col(c) for c in events),
        after_extract=pl.any_horizontal(pl.col(c) > as_of for c in (*events, "updated_at")),
        before_window=pl.col("opened_at").dt.date() < DEMO_START,
        due_before_open=(pl.col("respond_due_at") < pl.col("opened_at"))
        | (pl.col("resolve_due_at") < pl.col("respond_due_at")),
        open_but_resolved=(pl.col("status") == "open") != pl.col("resolved_at").is_null(),
        closed_mismatch=(pl.col("status") == "closed") != pl.col("closed_at").is_not_null(),
        response_after_resolution=pl.col("first_response_at") > pl.col("resolved_at"),
    ).select(pl.all().fill_null(False).sum())
    assert bad.row(0, named=True) == dict.fromkeys(bad.columns, 0)

    summary = t.select(
        critical=(pl.col("priority") == "critical").mean(),
        no_due=pl.col("resolve_due_at").is_null().mean(),
        open=(pl.col("status") == "open").sum(),
        groups=pl.col("assignment_group").drop_nulls().n_unique(),
        channels=pl.col("channel").drop_nulls().unique().sort().implode(),
        types=pl.col("request_type").unique().sort().implode(),
        priorities=pl.col("priority").unique().sort().implode(),
        statuses=pl.col("status").unique().sort().implode(),
        reopened=(pl.col("reopen_count") > 0).mean(),
        reassigned=(pl.col("reassignment_count") > 0).mean(),
    ).row(0, named=True)
    assert 0.02 <= summary["critical"] <= 0.035
    assert 0.15 <= summary["no_due"] <= 0.3
    assert summary["open"] > 0
    assert 6 <= summary["groups"] <= 8
    assert summary["channels"] == ["chat", "email", "phone", "portal"]
    assert summary["types"] == sorted(REQUEST_TYPES)
    assert summary["priorities"] == sorted(PRIORITIES)
    assert summary["statuses"] == ["closed", "open", "resolved"]
    assert 0.02 <= summary["reopened"] <= 0.15
    assert 0.1 <= summary["reassigned"] <= 0.6
    shares = t["request_type"].value_counts(normalize=True).sort("proportion", descending=True)
    assert shares["request_type"].to_list() == ["support", "project", "other", "consulting"]


def test_clients_come_and_go_inside_the_window(small: DemoData) -> None:
    c = small.clients
    assert c["client_id"].to_list() == [f"C{i:02d}" for i in range(1, 13)]
    ended = c.filter(pl.col("relationship_end").is_between(DEMO_START, DEMO_END))
    assert ended["client_id"].to_list() == [CHURN_CLIENT]
    assert c.filter(pl.col("relationship_start") > DEMO_START).height >= 1
    assert c["segment"].n_unique() == 3
    assert c["name"].n_unique() == 12


def test_projects_mix_finished_and_running_work(small: DemoData) -> None:
    p = small.projects
    assert 150 <= p.height <= 250
    running = p.filter(pl.col("status") == "in_progress")
    done = p.filter(pl.col("status") == "completed")
    assert running.height > 0
    assert done.height > 0
    assert running["actual_end"].null_count() == running.height
    assert done["actual_end"].null_count() == 0
    bad = p.select(
        delivered=(pl.col("deliverables_delivered") > pl.col("deliverables_promised")).sum(),
        met=(pl.col("success_criteria_met") > pl.col("success_criteria_total")).sum(),
        ends_early=(pl.col("actual_end") < pl.col("planned_start")).sum(),
        finished_late=(pl.col("actual_end") > DEMO_END).sum(),
    )
    assert bad.row(0) == (0, 0, 0, 0)
    assert p["currency"].unique().to_list() == ["EUR"]
    assert done.filter(pl.col("actual_cost") > pl.col("budget")).height > 0


def test_surveys_link_to_their_ticket_or_project(small: DemoData) -> None:
    r = small.survey_responses
    kinds = r.group_by("survey_kind").len()
    assert set(kinds["survey_kind"]) == set(ENTITIES["survey_responses"].labels["survey_kind"])

    transactional = r.filter(pl.col("survey_kind") == "transactional").join(
        small.tickets, on="ticket_id", how="left", suffix="_t"
    )
    assert transactional["ticket_id"].null_count() == 0
    assert (transactional["client_id"] == transactional["client_id_t"]).all()
    assert (transactional["submitted_at"] > transactional["resolved_at"]).all()

    post = r.filter(pl.col("survey_kind") == "post_project").join(
        small.projects, on="project_id", how="left", suffix="_p"
    )
    assert post.height > 0
    assert (post["client_id"] == post["client_id_p"]).all()
    assert (post["submitted_at"].dt.date() > post["actual_end"]).all()

    it = r.filter(pl.col("respondent_side") == "it")
    assert (it["survey_kind"] == "self_assessment").all()
    assert set(it["respondent_level"].drop_nulls()) == {"technology_team"}
    assert it["respondent_level"].null_count() > 0
    assert not (client_side(small)["survey_kind"] == "self_assessment").any()
    levels = r.filter(pl.col("survey_kind") == "relationship")["respondent_level"]
    assert set(levels) == set(RESPONDENT_LEVELS)
    importance = r.filter(pl.col("importance_communication").is_not_null())
    assert (importance["survey_kind"] == "relationship").all()
    lost = r.filter(pl.col("lost_time_minutes").is_not_null())
    assert lost.height > 0
    assert (lost["survey_kind"] == "transactional").all()


def test_scores_have_realistic_gaps_and_comments(full: DemoData) -> None:
    clients = client_side(full)
    nulls = clients.select(pl.col("nps_score", "csat", "ces", "communication").null_count())
    assert all(0 < n < clients.height for n in nulls.row(0))
    assert 0.22 <= clients["comment"].is_not_null().mean() <= 0.38  # type: ignore[operator]
    praise = clients.filter(pl.col("comment").str.starts_with("Great technician"))
    complaints = clients.filter(pl.col("comment").str.starts_with("Slow response"))
    assert praise["csat"].drop_nulls().min() >= 4  # type: ignore[operator]
    assert complaints["csat"].drop_nulls().max() <= 3  # type: ignore[operator]
    it = full.survey_responses.filter(pl.col("respondent_side") == "it")
    assert it.select(pl.col("nps_score", "csat", "ces").null_count()).row(0) == (it.height,) * 3


def test_invitations_outnumber_responses(full: DemoData) -> None:
    sent = full.survey_invitations.group_by("survey_kind").len()
    got = full.survey_responses.group_by("survey_kind").len()
    both = sent.join(got, on="survey_kind", suffix="_responses")
    assert (both["len"] > both["len_responses"]).all()
    rate = full.survey_responses.height / full.survey_invitations.height
    assert 0.2 <= rate <= 0.45
    monthly = (
        full.survey_responses.group_by(month("submitted_at"))
        .len()
        .join(full.survey_invitations.group_by(month("sent_at")).len(), on="month")
        .select(rate=pl.col("len") / pl.col("len_right"))
    )
    assert monthly["rate"].is_between(0.2, 0.45).all()


def test_detractors_are_mostly_followed_up(full: DemoData) -> None:
    detractors = client_side(full).filter((pl.col("nps_score") <= 6) | (pl.col("csat") <= 2))
    first = full.followups.group_by("response_id").agg(pl.col("followed_up_at").min())
    calls = detractors.join(first, on="response_id", how="left")
    assert full.followups["response_id"].is_in(detractors["response_id"].implode()).all()
    delay = (pl.col("followed_up_at") - pl.col("submitted_at")).dt.total_minutes() / 60
    shares = calls.select(
        followed=pl.col("followed_up_at").is_not_null().mean(),
        negative=(delay <= 0).sum(),
        late=(delay > 4 * 24).mean(),
    ).row(0, named=True)
    assert 0.75 <= shares["followed"] <= 0.95
    assert shares["negative"] == 0
    assert 0.05 <= shares["late"] <= 0.25
    hour = full.followups["followed_up_at"].dt.hour()
    assert hour.is_between(8, 17).all()


def test_generation_is_seeded() -> None:
    first, again = generate(3, tickets=2_000), generate(3, tickets=2_000)
    for name, frame in first.frames().items():
        assert frame.equals(again.frames()[name]), name
    other = generate(4, tickets=2_000)
    assert not other.tickets.equals(first.tickets)


# --- files ---------------------------------------------------------------------------------
def test_files_are_byte_identical_for_the_same_seed(tmp_path: Path) -> None:
    one = write_demo_files(tmp_path / "one", 5, tickets=3_000)
    two = write_demo_files(tmp_path / "two", 5, tickets=3_000)
    assert {e: p.name for e, p in one.items()} == FILE_NAMES
    assert set(FILE_NAMES.values()) == {
        "clients.csv",
        "tickets.csv.gz",
        "projects.csv",
        "survey_responses.parquet",
        "survey_invitations.jsonl",
        "followups.jsonl",
    }
    for entity, path in one.items():
        assert path.read_bytes() == two[entity].read_bytes(), entity


def test_files_read_back_as_the_canonical_data(tmp_path: Path) -> None:
    paths = write_demo_files(tmp_path, 5, tickets=3_000)
    data = generate(5, tickets=3_000)
    text = gzip.decompress(paths["tickets"].read_bytes()).decode()
    header, first = text.splitlines()[:2]
    assert header.split(",") == list(ENTITIES["tickets"].columns)
    assert re.search(r",\d{4}-\d\d-\d\dT\d\d:\d\d:00Z,", first)
    assert pq.read_schema(paths["survey_responses"]).remove_metadata() == (
        ENTITIES["survey_responses"].schema
    )
    assert pl.read_parquet(paths["survey_responses"]).equals(data.survey_responses)
    projects = pl.read_csv(paths["projects"], try_parse_dates=True)
    assert projects["planned_end"].dtype == pl.Date
    assert projects.height == data.projects.height
    for name in ("survey_invitations", "followups"):
        lines = paths[name].read_text().splitlines()
        assert len(lines) == data.frames()[name].height
        assert re.search(r'"\d{4}-\d\d-\d\dT\d\d:\d\d:00Z"', lines[0])
    clients = pl.read_csv(paths["clients"], try_parse_dates=True)
    assert clients.cast(ENTITIES["clients"].polars_schema).equals(data.clients)


# --- the shipped size ----------------------------------------------------------------------
def test_default_size_counts_and_schemas() -> None:
    started = datetime.now()
    data = generate()
    elapsed = (datetime.now() - started).total_seconds()
    assert elapsed < 30  # a few seconds on a laptop; generous for shared CI machines
    counts = {name: frame.height for name, frame in data.frames().items()}
    assert counts["clients"] == 12
    assert counts["tickets"] == 50_000
    assert 150 <= counts["projects"] <= 250
    assert 3_000 <= counts["survey_responses"] <= 8_000
    assert counts["survey_invitations"] > counts["survey_responses"]
    assert counts["followups"] > 0
    for name, frame in data.frames().items():
        assert frame.schema == ENTITIES[name].polars_schema, name


# --- planted effects -----------------------------------------------------------------------
def test_planted_effects_are_named_with_client_and_month() -> None:
    assert set(PLANTED) == {
        "good_delivery_poor_perception",
        "critical_spike",
        "churned_client",
        "perception_gap",
        "communication_decline",
    }
    assert PERCEPTION_CLIENT in PLANTED["good_delivery_poor_perception"]
    assert SPIKE_MONTH in PLANTED["critical_spike"]
    assert CHURN_CLIENT in PLANTED["churned_client"]
    assert str(CHURN_END) in PLANTED["churned_client"]
    assert DECLINE_CLIENT in PLANTED["communication_decline"]
    assert all(m in PLANTED["communication_decline"] for m in DECLINE_MONTHS)


def sla_met(tickets: pl.DataFrame) -> pl.DataFrame:
    """Per client: share of resolved tickets resolved by their due time (config fallback)."""
    target = pl.col("priority").replace_strict({p: h[1] for p, h in SLA_HOURS.items()})
    due = pl.coalesce("resolve_due_at", pl.col("opened_at") + pl.duration(hours=target))
    return (
        tickets.filter(pl.col("resolved_at").is_not_null())
        .group_by("client_id")
        .agg(sla=(pl.col("resolved_at") <= due).mean())
    )


def test_good_delivery_poor_perception(full: DemoData) -> None:
    me = pl.col("client_id") == PERCEPTION_CLIENT
    ratings = (
        client_side(full)
        .group_by(me.alias("me"))
        .agg(
            csat=pl.col("csat").mean(),
            communication=pl.col("communication").mean(),
            nps=((pl.col("nps_score") >= 9).mean() - (pl.col("nps_score") <= 6).mean()) * 100,
        )
    )
    mine, rest = (
        ratings.filter("me").row(0, named=True),
        ratings.filter(~pl.col("me")).row(0, named=True),
    )
    assert mine["csat"] <= rest["csat"] - 0.5
    assert mine["communication"] <= rest["communication"] - 1.0
    assert mine["nps"] <= rest["nps"] - 30

    sla = sla_met(full.tickets)
    assert sla.filter(me)["sla"].item() >= sla.filter(~me)["sla"].max() + 0.05  # type: ignore[operator]
    done = full.projects.filter(pl.col("actual_end").is_not_null())
    on_time = done.group_by(me.alias("me")).agg(
        share=(pl.col("actual_end") <= pl.col("planned_end")).mean()
    )
    assert (
        on_time.filter("me")["share"].item() >= on_time.filter(~pl.col("me"))["share"].item() + 0.15
    )


def test_critical_spike(full: DemoData) -> None:
    critical = (
        full.tickets.filter(pl.col("priority") == "critical")
        .group_by("client_id", month("opened_at"))
        .len()
    )
    overall = critical.group_by("month").agg(pl.col("len").sum())
    spike = overall.filter(pl.col("month") == SPIKE_MONTH)["len"].item()
    assert spike >= 3 * overall["len"].median()  # type: ignore[operator]
    assert overall["len"].arg_max() == overall["month"].to_list().index(SPIKE_MONTH)
    # Every client has it, about 4x; only clients with a few critical tickets in a usual
    # month are checked, as two or three a month are all noise.
    per_client = critical.group_by("client_id").agg(
        spike=pl.col("len").filter(pl.col("month") == SPIKE_MONTH).sum(),
        usual=pl.col("len").filter(pl.col("month") != SPIKE_MONTH).median(),
    )
    busy = per_client.filter(pl.col("usual") >= 4)
    assert busy.height >= 6
    assert (busy["spike"] >= 1.75 * busy["usual"]).all()


def monthly_mean(frame: pl.DataFrame, client: str, column: str) -> pl.DataFrame:
    return (
        frame.filter(pl.col("client_id") == client)
        .group_by(month("submitted_at"))
        .agg(pl.col(column).mean())
        .sort("month")
    )


def slope(values: list[float]) -> float:
    n = len(values)
    xs = range(n)
    mx, my = (n - 1) / 2, sum(values) / n
    return sum((x - mx) * (y - my) for x, y in zip(xs, values, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )


def test_churned_client(full: DemoData) -> None:
    end = full.clients.filter(pl.col("client_id") == CHURN_CLIENT)["relationship_end"].item()
    assert end == CHURN_END
    mine = pl.col("client_id") == CHURN_CLIENT
    assert full.tickets.filter(mine)["opened_at"].max().date() <= CHURN_END  # type: ignore[union-attr]
    assert full.survey_responses.filter(mine)["submitted_at"].max().date() <= CHURN_END  # type: ignore[union-attr]

    # Its last half-month has few responses, so fit the trend through the responses themselves.
    first, last = CHURN_DECLINE
    index = (pl.col("submitted_at").dt.year() * 12 + pl.col("submitted_at").dt.month()).alias("i")
    scored = client_side(full).filter(mine, pl.col("csat").is_not_null())
    decline = scored.filter(month("submitted_at").is_between(pl.lit(first), pl.lit(last)))
    fit = decline.select(index, pl.col("csat").cast(pl.Float64))
    assert fit.select(pl.cov("i", "csat") / pl.col("i").var()).item() <= -0.05
    before = scored.filter(month("submitted_at") < first)["csat"].mean()
    final = decline.filter(month("submitted_at") >= "2026-02")["csat"].mean()
    assert final <= before - 0.5  # type: ignore[operator]


def test_perception_gap(full: DemoData) -> None:
    quarter = pl.col("submitted_at").dt.truncate("1q")
    means = (
        full.survey_responses.group_by(quarter, "respondent_side")
        .agg(pl.col("communication").mean())
        .pivot("respondent_side", index="submitted_at", values="communication")
        .drop_nulls()
        .with_columns(gap=(pl.col("it") - pl.col("client")) * 25)  # 1-5 → 0-100 points
    )
    assert means.height == 8  # one self-assessment wave a quarter, 2024-11 to 2026-08
    assert means["gap"].is_between(8, 28).all()
    sides = full.survey_responses.group_by("respondent_side").agg(pl.col("communication").mean())
    pooled = dict(sides.iter_rows())
    assert 14 <= (pooled["it"] - pooled["client"]) * 25 <= 21


def test_communication_decline(full: DemoData) -> None:
    clients = client_side(full)
    first, last = DECLINE_MONTHS
    comm = monthly_mean(clients, DECLINE_CLIENT, "communication")
    window = pl.col("month").is_between(pl.lit(first), pl.lit(last))
    decline = comm.filter(window)["communication"].to_list()
    before = comm.filter(pl.col("month") < first)["communication"].mean()
    assert len(decline) == 6
    assert slope(decline) <= -0.12
    assert sum(decline[-2:]) / 2 <= before - 0.8  # type: ignore[operator]
    # Only communication falls: CSAT over the same months stays near its earlier level.
    csat = monthly_mean(clients, DECLINE_CLIENT, "csat")
    late = csat.filter(pl.col("month") >= first)["csat"].mean()
    early = csat.filter(pl.col("month") < first)["csat"].mean()
    assert late >= early - 0.3  # type: ignore[operator]


def test_window_constants() -> None:
    assert DEMO_START.isoformat() == "2024-11-01"
    assert DEMO_END.isoformat() == "2026-10-31"  # 24 months
    assert AS_OF.date() == DEMO_END
