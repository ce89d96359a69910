"""Sinks: where outputs are written. ``base`` is the contract; ``parquet`` the star schema."""

from cxpipe.sinks.base import RunOutputs, Sink

__all__ = ["RunOutputs", "Sink"]
