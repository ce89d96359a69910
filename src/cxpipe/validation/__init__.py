"""Validation: every source's rows checked against its entity's rules, failures quarantined.

Rules are declared with :mod:`cxpipe.validation.expectations` (no Great Expectations import,
so plugins and ``import cxpipe`` stay light); :mod:`cxpipe.validation.gx` runs them through
Great Expectations, imported only when a validation actually runs.
"""

from __future__ import annotations

from cxpipe.validation.expectations import (
    Expectation,
    ExpectationSet,
    default_expectations,
)
from cxpipe.validation.gx import (
    CheckResult,
    ValidationOutcome,
    dedupe,
    validate,
    validate_with_duplicates,
)

__all__ = [
    "CheckResult",
    "Expectation",
    "ExpectationSet",
    "ValidationOutcome",
    "dedupe",
    "default_expectations",
    "validate",
    "validate_with_duplicates",
]
