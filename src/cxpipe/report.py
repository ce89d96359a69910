"""What a finished run shows a person: the headline figures and the row accounting.

The CLI prints these as tables and the Prefect flow publishes them as a markdown
artifact; both read them from here so they cannot disagree.
"""

from __future__ import annotations

from typing import Any

import polars as pl

HEADLINES = (
    "ticket_volume",
    "mttr_critical_hours",
    "sla_resolution_compliance_pct",
    "csat_pct",
    "nps",
    "client_experience_rating",
    "projects_on_time_pct",
    "client_retention_rate_pct",
)


def headline_rows(values: pl.DataFrame) -> list[dict[str, Any]]:
    """Each headline metric's all-clients value in its latest period, in catalog order."""
    latest = (
        values.filter(
            pl.col("client_id").is_null()
            & pl.col("segment").is_null()
            & pl.col("metric").is_in(HEADLINES)
        )
        .sort("period_start")
        .group_by("metric")
        .last()
    )
    by_name = {row["metric"]: row for row in latest.iter_rows(named=True)}
    return [by_name[name] for name in HEADLINES if name in by_name]


def accounting_rows(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """Per source: rows read, kept and quarantined (read = kept + quarantined)."""
    return [
        {
            "source": source["name"],
            "entity": source["entity"],
            "read": source["rows_read"],
            "kept": source["rows_kept"],
            "quarantined": source["rows_quarantined"],
        }
        for source in manifest["sources"]
    ]


def headline_markdown(values: pl.DataFrame, manifest: dict[str, Any]) -> str:
    lines = [
        f"# cxpipe run {manifest['run_id']}",
        "",
        f"Outputs: `{manifest['output_root']}`",
        "",
        "| metric | period | value | unit | n |",
        "|---|---|---:|---|---:|",
    ]
    lines += [
        f"| {r['metric']} | {r['period_start']} | {r['value']:.1f} | {r['unit']} "
        f"| {r['sample_size']} |"
        for r in headline_rows(values)
    ]
    lines += [
        "",
        "## Row accounting",
        "",
        "| source | entity | read | kept | quarantined |",
        "|---|---|---:|---:|---:|",
    ]
    lines += [
        f"| {r['source']} | {r['entity']} | {r['read']} | {r['kept']} | {r['quarantined']} |"
        for r in accounting_rows(manifest)
    ]
    if attention := attention_lines(manifest):
        lines += ["", "## What needs attention", "", *(f"- {line}" for line in attention)]
    return "\n".join(lines)


def attention_lines(manifest: dict[str, Any]) -> list[str]:
    """One line each for the action plan and the flagged signals, for a person skimming."""
    derived = manifest.get("derived", {})
    period = derived.get("latest_period", "the latest period")
    lines = []
    if actions := derived.get("actions_by_principle"):
        severity = derived.get("actions_by_severity", {})
        parts = ", ".join(f"{name} {count}" for name, count in actions.items())
        lines.append(
            f"Action plan for {period}: {sum(actions.values())} actions ({parts}); "
            f"{severity.get('high', 0)} of high severity"
        )
    if flagged := derived.get("flagged_signals"):
        parts = ", ".join(f"{name} {count}" for name, count in flagged.items())
        lines.append(f"Signals flagged in {period}: {sum(flagged.values())} ({parts})")
    return lines
