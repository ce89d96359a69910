"""Importing cxpipe or declaring rules must not pay for Great Expectations (seconds to import)."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "modules",
    [
        "cxpipe, cxpipe.validation.expectations",
        "cxpipe.validation",  # the package re-exports gx.py, which imports GX lazily
    ],
)
def test_import_does_not_load_great_expectations(modules: str) -> None:
    code = (
        f"import sys, {modules}\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'great_expectations')\n"
        "print(len(loaded), loaded[:3])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.split()[0] == "0", result.stdout
