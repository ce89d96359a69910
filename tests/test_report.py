"""What a run shows a person skimming it: headline rows and what needs attention."""

from __future__ import annotations

from typing import Any

from cxpipe.report import attention_lines, headline_markdown

MANIFEST: dict[str, Any] = {
    "run_id": "r1",
    "output_root": "/out",
    "sources": [
        {"name": "t", "entity": "tickets", "rows_read": 3, "rows_kept": 2, "rows_quarantined": 1}
    ],
    "derived": {
        "latest_period": "2026-10-01",
        "actions_by_principle": {"communication": 2, "standards": 3},
        "actions_by_severity": {"high": 4, "low": 1},
        "flagged_signals": {"anomaly": 1, "trend": 2},
    },
}


def test_attention_lines_summarise_the_latest_period() -> None:
    assert attention_lines(MANIFEST) == [
        "Action plan for 2026-10-01: 5 actions (communication 2, standards 3); 4 of high severity",
        "Signals flagged in 2026-10-01: 3 (anomaly 1, trend 2)",
    ]


def test_a_run_without_derived_outputs_has_nothing_to_flag() -> None:
    assert attention_lines({**MANIFEST, "derived": {"rows": {}}}) == []


def test_markdown_artifact_carries_accounting_and_attention() -> None:
    import polars as pl

    from cxpipe.schemas import METRIC_VALUES

    empty = pl.from_arrow(METRIC_VALUES.empty_table())
    assert isinstance(empty, pl.DataFrame)
    text = headline_markdown(empty, MANIFEST)
    assert "| t | tickets | 3 | 2 | 1 |" in text
    assert "- Action plan for 2026-10-01: 5 actions" in text
