"""Conform: source columns → canonical entities, by configuration (mapping, parse, events)."""

from cxpipe.conform.mapping import conform

__all__ = ["conform"]
