"""Sources: where canonical entities come from. ``base`` is the plugin contract; ``files`` is
the built-in reader for CSV, Parquet, JSON Lines and Excel exports; ``http`` is the shared
machinery of API connectors (credentials from the environment, retries honouring
``Retry-After``, paginators, lineage)."""

from cxpipe.sources.base import Extract, InputFile, Source

__all__ = ["Extract", "InputFile", "Source"]
