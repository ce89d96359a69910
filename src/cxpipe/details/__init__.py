"""Detail tables: row-level outputs people act on (the call-back list, feedback themes).
Each is a plugin (``cxpipe.analysis.table``)."""
