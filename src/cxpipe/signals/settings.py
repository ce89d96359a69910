"""The ``[signals]`` table of ``cxpipe.toml``."""

from __future__ import annotations

from pydantic import Field

from cxpipe.models import StrictModel


class SignalSettings(StrictModel):
    trend_band: float = Field(default=0.0, ge=0)
    """A change against the previous period no larger than this (in the metric's own unit)
    is ``neutral``."""
    trend_alpha: float = Field(default=0.05, gt=0, lt=1)
    """Significance level of the two-proportion test that proportions' trends must pass."""
    anomaly_window: int = Field(default=12, ge=3)
    """How many trailing periods the robust z-score compares a value against."""
    anomaly_threshold: float = Field(default=3.5, gt=0)
    expectation_gap_threshold: float = Field(default=1.0, gt=0)
    process_min_periods: int = Field(default=8, ge=2)
    """An XmR chart needs at least this many periods."""
    process_run_length: int = Field(default=8, ge=2)
    """Points in a row on one side of the centre line that make a signal."""
    benchmarks: str | None = None
    """A CSV replacing the shipped benchmark table (same columns), relative to the config."""
