"""Run the pipeline in a child process that stops itself when a ``cxpipe.run`` step is
entered: ``kill`` SIGKILLs itself (no ``finally``, no ``atexit``), ``hold`` touches a ready
file and sleeps, so a test can act while this run holds the output root.

Usage: child.py CONFIG_JSON DATA_DIR OUTPUT STEP kill|hold [READY_FILE SECONDS]
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import cxpipe.run
from cxpipe.config import parse_config


def main() -> None:
    config, data_dir, output, step, action, *rest = sys.argv[1:]
    original = getattr(cxpipe.run, step)

    def stop_here(*args: Any, **kwargs: Any) -> Any:
        if action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        Path(rest[0]).touch()
        time.sleep(float(rest[1]))
        return original(*args, **kwargs)

    setattr(cxpipe.run, step, stop_here)  # run_pipeline looks its steps up in the module
    cxpipe.run.run_pipeline(
        parse_config(json.loads(config), base_dir=Path(data_dir)), output=output
    )
    if action == "kill":
        sys.exit("the run finished: the kill never happened")


if __name__ == "__main__":
    main()
