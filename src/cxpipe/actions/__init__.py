"""The Customer Service Action Plan: rules under five principles, each a plugin
(``cxpipe.analysis.action_rule``), with targets from the config."""
