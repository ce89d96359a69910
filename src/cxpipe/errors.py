"""Errors a user can act on. Each names the file, row, field or plugin at fault.

The CLI prints these as one clear message with no traceback; anything else is a bug and
is shown with its traceback.
"""

from __future__ import annotations


class CxpipeError(Exception):
    """Base of every error that is the input's or the configuration's fault, not cxpipe's."""


class ConfigError(CxpipeError):
    """The configuration file is invalid (unknown key, wrong type, missing field)."""


class PluginError(CxpipeError):
    """A plugin failed to load, registered a duplicate name, or is missing."""


class SourceError(CxpipeError):
    """A source could not be read (missing file, undecodable data, malformed rows)."""


class ConformError(CxpipeError):
    """A source's columns cannot be mapped to the canonical entity as configured."""


class ValidationFailed(CxpipeError):
    """A table-level expectation failed, so the run stops (rows are not quarantined)."""


class OutputError(CxpipeError):
    """Outputs could not be written; nothing half-written was made visible."""
