"""The core Customer Service Action Plan rules, as ``cxpipe.builtin`` registers them."""

from __future__ import annotations

from cxpipe.actions.rules import RULES
from cxpipe.analysis import ActionRule

CORE_ACTION_RULES: tuple[ActionRule, ...] = RULES
"""Every default rule, one per trigger of the five principles (``docs/action-plan.md``)."""
