"""Signals: what the metric values say beyond themselves (trend, anomaly, XmR limits,
expectation gap, hotspot, benchmark). Each kind is a plugin (``cxpipe.analysis.signal``)."""
