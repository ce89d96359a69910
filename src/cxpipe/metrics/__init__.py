"""Metrics: how one is declared (base), aggregated (aggregate), and the core catalog."""
