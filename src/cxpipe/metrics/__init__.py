"""Metrics: how a metric is declared (base), aggregated (aggregate), and the core catalog (builtin)."""
