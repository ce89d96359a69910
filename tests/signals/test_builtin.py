"""The core signal plugins as a set: names, documentation, and the empty case."""

from __future__ import annotations

import pytest

from cxpipe.analysis import SIGNAL_RESULT, SignalSpec
from cxpipe.schemas import SIGNALS, SURVEY_RESPONSES, TICKETS
from cxpipe.signals.builtin import CORE_SIGNALS
from tests.signals import compute, context, values

NAMES = ("trend", "anomaly", "expectation_gap", "process_signal", "hotspot", "benchmark")


def test_every_signal_of_the_catalog_is_a_plugin() -> None:
    assert tuple(spec.name for spec in CORE_SIGNALS) == NAMES
    assert all(isinstance(spec, SignalSpec) for spec in CORE_SIGNALS)
    inputs = {spec.name: spec.inputs for spec in CORE_SIGNALS}
    assert inputs["hotspot"] == ("tickets", "survey_responses")
    assert all(not inputs[name] for name in NAMES if name != "hotspot")


@pytest.mark.parametrize("spec", CORE_SIGNALS, ids=lambda s: s.name)
def test_column_docs_explain_the_columns_of_the_signals_table(spec: SignalSpec) -> None:
    assert spec.description
    assert set(spec.column_docs) <= set(SIGNALS.names)
    assert {"value", "flagged", "direction", "detail"} <= set(spec.column_docs)
    assert all(text.strip() for text in spec.column_docs.values())


@pytest.mark.parametrize("spec", CORE_SIGNALS, ids=lambda s: s.name)
def test_empty_input_gives_an_empty_table_in_the_signals_shape(spec: SignalSpec) -> None:
    frames = {"tickets": TICKETS.empty(), "survey_responses": SURVEY_RESPONSES.empty()}
    out = compute(spec, context(values([]), frames=frames))
    assert out.height == 0
    assert out.schema == SIGNAL_RESULT
