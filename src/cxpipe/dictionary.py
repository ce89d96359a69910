"""The data dictionary, generated from the code so it cannot drift from it.

Every output table and column (from the Arrow schemas and their column docs), every
metric (from the registry's catalog), every signal kind and action rule, and the canonical
input entities. ``cxpipe dictionary -o docs/data-dictionary.md`` writes it; a test fails
when the committed file differs from what the code renders.
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa

from cxpipe.registry import Registry
from cxpipe.schemas import (
    ACTION_PLAN,
    ACTION_PLAN_VERSION,
    COLUMN_DOCS,
    DIM_CLIENT,
    DIM_METRIC,
    ENTITIES,
    METRIC_VALUES,
    METRIC_VALUES_VERSION,
    SIGNALS,
    SIGNALS_VERSION,
)

HEADER = """# Data dictionary

Generated from the code by `cxpipe dictionary -o docs/data-dictionary.md`; do not edit by
hand (`tests/test_dictionary.py` fails when this file and the code disagree). Types are
Arrow types as written to Parquet; timestamps are microseconds, UTC.
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(schema: pa.Schema, docs: Mapping[str, str]) -> list[str]:
    lines = ["| column | type | nullable | meaning |", "|---|---|---|---|"]
    for field in schema:
        nullable = "yes" if field.nullable else "no"
        meaning = _cell(docs.get(field.name, ""))
        lines.append(f"| `{field.name}` | `{field.type}` | {nullable} | {meaning} |")
    return lines


def render_dictionary(registry: Registry) -> str:
    out = [HEADER, "## Output tables", ""]
    fixed = [
        (
            "metric_values",
            METRIC_VALUES,
            METRIC_VALUES_VERSION,
            "The fact table, long form; partitioned by a path-only `period=` key.",
        ),
        ("dim_metric", DIM_METRIC, 1, "The metric catalog (one row per emitted metric)."),
        ("dim_client", DIM_CLIENT, 1, "The clients."),
        ("signals", SIGNALS, SIGNALS_VERSION, "What the metric values say beyond themselves."),
        ("action_plan", ACTION_PLAN, ACTION_PLAN_VERSION, "The Customer Service Action Plan."),
    ]
    for name, schema, version, summary in fixed:
        out += [f"### `{name}/` (version {version})", "", summary, ""]
        out += _table(schema, COLUMN_DOCS.get(name, {}))
        out.append("")
    for name, spec in sorted(registry.tables.items()):
        owner = registry.owner("table", name)
        out += [f"### `{name}/` ({spec.title}; plugin `{owner}`)", "", spec.description, ""]
        out += _table(spec.schema, spec.column_docs)
        out.append("")
    out += [
        "### `quarantine/<entity>/source=<name>/`",
        "",
        "Rows that failed validation: the entity's columns (as parsed; unparseable values "
        "are null), the source's `keep` columns, lineage (`_cx_source`, `_cx_file`, "
        "`_cx_row`: the source, file and 1-based row), `quarantine_reason` (every broken "
        "rule, human-readable, joined by `; `) and `quarantine_details` (JSON list of "
        "`{check, column, value, message}`).",
        "",
        "### `_entities/<entity>/source=<name>/` and `_state/watermarks.json`",
        "",
        "For sources with `incremental = true`: every validated row the source has "
        "delivered so far (the entity's columns, `keep` columns and lineage), merged by "
        "primary key with the latest watermark winning; and per source the watermark its "
        "snapshot reaches, committed with the run's outputs.",
        "",
        "### `_runs/<run_id>.json`",
        "",
        "The run manifest: run id, status, times, config hash, output root, grain, versions, "
        "plugins, per source its inputs, `events_read`, `rows_read`, `rows_kept`, "
        "`rows_quarantined`, watermark, warnings and validation checks; per entity the row "
        "totals; metrics computed and skipped; timings per stage.",
        "",
    ]
    out += ["## Metrics", "", "| metric | title | unit | polarity | plugin | definition |"]
    out.append("|---|---|---|---|---|---|")
    for info, plugin in registry.catalog():
        out.append(
            f"| `{info.name}` | {_cell(info.title)} | {info.unit} | {info.polarity} "
            f"| `{plugin}` | {_cell(info.description)} |"
        )
    out.append("")
    if registry.signals:
        out += ["## Signal kinds", ""]
        for name, signal in sorted(registry.signals.items()):
            owner = registry.owner("signal", name)
            out += [f"### `{name}` (plugin `{owner}`)", "", signal.description, ""]
            if signal.column_docs:
                out += ["| column | meaning |", "|---|---|"]
                out += [f"| `{c}` | {_cell(d)} |" for c, d in signal.column_docs.items()]
                out.append("")
    if registry.action_rules:
        out += ["## Action-plan rules", "", "| rule | principle | plugin | triggers when |"]
        out.append("|---|---|---|---|")
        for name, rule in sorted(registry.action_rules.items()):
            owner = registry.owner("action_rule", name)
            out.append(f"| `{name}` | {rule.principle} | `{owner}` | {_cell(rule.description)} |")
        out.append("")
    out += ["## Canonical input entities", ""]
    for entity in ENTITIES.values():
        key = ", ".join(entity.primary_key)
        out += [f"### `{entity.name}` (version {entity.version}; key: {key})", ""]
        out += [entity.description, ""]
        docs = {
            column: "one of " + ", ".join(f"`{v}`" for v in values)
            for column, values in entity.labels.items()
        }
        docs.update(
            {
                column: docs.get(column, "") + f"{low:g} to {high:g}"
                for column, (low, high) in entity.ranges.items()
                if column not in docs
            }
        )
        out += _table(entity.schema, docs)
        out.append("")
    return "\n".join(out).rstrip() + "\n"
