"""The scorecard: one self-contained HTML page per run for the IT leaders who read it.

Headline metrics against their targets and benchmarks with trend charts, the signals
flagged, the action plan and the call-back list, for all clients and for each client. It is
rendered from the run's output tables alone, so any output root can be pictured again later;
see ``docs/scorecard.md``.
"""

from __future__ import annotations

from cxpipe.scorecard.output import read_output_tables, write_scorecard
from cxpipe.scorecard.render import build_scorecard

__all__ = ["build_scorecard", "read_output_tables", "write_scorecard"]
