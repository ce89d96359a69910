"""The fixtures the pytest plugin gives every test: frame factories and a plugin manager."""

from __future__ import annotations

from datetime import UTC, datetime

import pluggy
import polars as pl
import pytest

from cxpipe.schemas import PROJECTS, SURVEY_RESPONSES, TICKETS
from cxpipe.testing import make_frame
from cxpipe.testing.fixtures import FrameFactory


def test_factories_give_canonical_frames(
    make_tickets: FrameFactory,
    make_survey_responses: FrameFactory,
    make_projects: FrameFactory,
) -> None:
    for factory, entity in (
        (make_tickets, TICKETS),
        (make_survey_responses, SURVEY_RESPONSES),
        (make_projects, PROJECTS),
    ):
        frame = factory(40)
        assert frame.schema == entity.polars_schema
        assert frame.height == 40
        assert frame.select(entity.primary_key).is_unique().all()
        assert frame.equals(factory(40)), "the same arguments give the same frame"
        assert not frame.equals(factory(40, seed=8))


def test_overrides(make_tickets: FrameFactory) -> None:
    frame = make_tickets(
        4,
        priority="critical",
        client_id=["A", "B", "A", "B"],
        opened_at="2026-01-05T10:00:00Z",
        resolved_at=pl.col("opened_at") + pl.duration(hours=2),
        category=None,
    )
    assert frame.schema == TICKETS.polars_schema
    assert frame["priority"].unique().to_list() == ["critical"]
    assert frame["client_id"].to_list() == ["A", "B", "A", "B"]
    assert frame["opened_at"][0] == datetime(2026, 1, 5, 10, tzinfo=UTC)
    assert frame["resolved_at"][0] == datetime(2026, 1, 5, 12, tzinfo=UTC)
    assert frame["category"].null_count() == 4


def test_override_mistakes_are_named(make_tickets: FrameFactory) -> None:
    with pytest.raises(KeyError, match="did you mean 'priority'"):
        make_tickets(3, priorty="high")
    with pytest.raises(ValueError, match="2 values for 3 rows"):
        make_tickets(3, client_id=["A", "B"])
    with pytest.raises(TypeError, match="cannot use a dict"):
        make_tickets(3, client_id={"A": 1})


def test_sizes_beyond_the_demo_and_empty(make_projects: FrameFactory) -> None:
    many = make_projects(500)
    assert many.height == 500
    assert many["project_id"].is_unique().all()
    assert make_projects(0).schema == PROJECTS.polars_schema
    assert make_frame("followups", 3).height == 3


def test_cxpipe_pm_is_a_fresh_manager(cxpipe_pm: pluggy.PluginManager) -> None:
    assert cxpipe_pm.get_plugin("builtin") is not None
    assert cxpipe_pm.project_name == "cxpipe"
