"""The demo: seeded data with planted effects, and the config that maps it.

``cxpipe demo`` writes the files with :func:`write_demo_files` and runs the pipeline on
them with the shipped config, so anyone can see what cxpipe finds without their own data.
"""

from __future__ import annotations

from cxpipe.demo.generator import (
    DEMO_END,
    DEMO_START,
    PLANTED,
    DemoData,
    generate,
    write_demo_files,
)

__all__ = ["DEMO_END", "DEMO_START", "PLANTED", "DemoData", "generate", "write_demo_files"]
