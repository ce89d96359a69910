"""The sink contract: what a run hands to an output writer, and how writers are declared.

A run's outputs are handed over whole (:class:`RunOutputs`) so a sink can make them
visible together; a sink never sees half a run.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import polars as pl
import pyarrow as pa


@dataclass
class RunOutputs:
    run_id: str
    period_grain: str
    metric_values: pl.DataFrame
    """In the shape of :data:`cxpipe.schemas.METRIC_VALUES`."""
    dim_metric: pl.DataFrame
    dim_client: pl.DataFrame
    quarantine: dict[tuple[str, str], pl.DataFrame] = field(default_factory=dict)
    """(entity, source) → quarantined rows, with ``quarantine_reason`` and details."""
    tables: dict[str, tuple[pa.Schema, pl.DataFrame]] = field(default_factory=dict)
    """Derived outputs by name (``signals``, ``action_plan``, detail tables) with their
    documented Arrow schema; each is written whole, replacing the previous run's."""
    snapshots: dict[tuple[str, str], pl.DataFrame] = field(default_factory=dict)
    """(entity, source) → every row an incremental source has delivered so far (merged by
    primary key, latest watermark wins); the next run merges its changes into it."""
    state: dict[str, Any] | None = None
    """The watermarks to commit with this run (``_state/watermarks.json``); None keeps the
    committed ones."""
    manifest: dict[str, Any] = field(default_factory=dict)


class Sink(ABC):
    """Base class of output writers. Subclasses set ``format`` and implement :meth:`write`."""

    format: ClassVar[str]

    def __init__(self, root: str) -> None:
        self.root = root

    @abstractmethod
    def write(self, outputs: RunOutputs) -> list[str]:
        """Write every output of one run atomically; return the paths made visible.

        Raise :class:`cxpipe.errors.OutputError` naming the table and path on failure, with
        nothing partially visible.
        """
