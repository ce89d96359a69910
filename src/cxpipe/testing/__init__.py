"""The contract test kit for plugin authors.

- :func:`get_source_test_class`, :func:`get_metric_test_class`: a pytest class per source
  or metric, one test per contract rule (:mod:`cxpipe.testing.rules`);
- :func:`assert_plugin_loads`: an installed plugin's entry point loads and registers;
- :func:`make_tickets`, :func:`make_survey_responses`, :func:`make_projects`: canonical
  frames with overrides (also pytest fixtures of the same names);
- the pytest plugin (:mod:`cxpipe.testing.pytest_plugin`, loaded automatically): the
  ``cxpipe_pm``, ``make_*`` and ``run_pipeline`` fixtures.

Names load on first use, so pytest (which loads the plugin in every session) starts fast.
See docs/plugins.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cxpipe.testing.factory import (
        MetricContract,
        SourceContract,
        get_metric_test_class,
        get_source_test_class,
    )
    from cxpipe.testing.fixtures import (
        canonical_inputs,
        make_frame,
        make_projects,
        make_survey_responses,
        make_tickets,
    )
    from cxpipe.testing.loading import assert_plugin_loads
    from cxpipe.testing.rules import METRIC_RULES, SOURCE_RULES, MetricCase, SourceCase
    from cxpipe.testing.rules.metrics import ContractWarning

_WHERE = {
    "MetricContract": "factory",
    "SourceContract": "factory",
    "get_metric_test_class": "factory",
    "get_source_test_class": "factory",
    "canonical_inputs": "fixtures",
    "make_frame": "fixtures",
    "make_projects": "fixtures",
    "make_survey_responses": "fixtures",
    "make_tickets": "fixtures",
    "assert_plugin_loads": "loading",
    "METRIC_RULES": "rules",
    "SOURCE_RULES": "rules",
    "MetricCase": "rules",
    "SourceCase": "rules",
    "ContractWarning": "rules.metrics",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'cxpipe.testing' has no attribute {name!r}")
    return getattr(importlib.import_module(f"cxpipe.testing.{_WHERE[name]}"), name)


__all__ = [
    "METRIC_RULES",
    "SOURCE_RULES",
    "ContractWarning",
    "MetricCase",
    "MetricContract",
    "SourceCase",
    "SourceContract",
    "assert_plugin_loads",
    "canonical_inputs",
    "get_metric_test_class",
    "get_source_test_class",
    "make_frame",
    "make_projects",
    "make_survey_responses",
    "make_tickets",
]
