"""SQL sources bind every value: a malicious parameter or watermark never alters the
statement, through a whole run.

The statement building and binding are unit-tested in ``plugins/cxpipe-sql/tests``
(``test_a_malicious_parameter_is_only_a_value``, ``test_a_malicious_watermark_is_only_a_value``)
and through the source in ``tests/connectors/test_sql.py``
(``test_parameters_and_watermark_cannot_inject_sql``). Here the values arrive the way a
run gets them: ``parameters`` from ``cxpipe.toml`` and the watermark from the committed
``_state/watermarks.json``, which someone with write access to the output could tamper with.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cxpipe_sql.testing import PostgresServer, create_sample_tickets

from cxpipe.config import load_config
from cxpipe.errors import OutputError
from cxpipe.run import run_pipeline
from tests.connectors.test_sql import ENV, INJECTION, TABLE, write_config


def test_malicious_parameters_and_committed_watermark_stay_values(
    tmp_path: Path, postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_sample_tickets(postgres, TABLE)
    monkeypatch.setenv(ENV, postgres.url())
    query = f'SELECT * FROM {TABLE} WHERE "Customer" <> $1'
    path = write_config(
        tmp_path,
        table=None,
        query=query,
        parameters=[INJECTION],
        incremental=True,
        metrics=["ticket_volume"],
    )
    first = run_pipeline(load_config(path))
    assert first.manifest["sources"][0]["rows_read"] == 240  # the injection matched as text

    state = tmp_path / "output" / "_state" / "watermarks.json"
    committed = json.loads(state.read_text(encoding="utf-8"))
    for source in committed["sources"].values():
        source["watermark"] = f"2024-01-01T00:00:00+00:00'; DROP TABLE {TABLE}; --"
    state.write_text(json.dumps(committed), encoding="utf-8")
    # refused before any SQL is sent, with a message naming the file and the way out
    with pytest.raises(OutputError, match=r"watermarks\.json is not an ISO 8601 timestamp"):
        run_pipeline(load_config(path))
    assert postgres.scalar(f"SELECT count(*) FROM {TABLE}") == 240
