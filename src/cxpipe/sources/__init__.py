"""Sources: where canonical entities come from. ``base`` is the plugin contract; ``files`` is
the built-in reader for CSV, Parquet, JSON Lines and Excel exports."""

from cxpipe.sources.base import Extract, InputFile, Source

__all__ = ["Extract", "InputFile", "Source"]
