"""The collector's passes of a process, for `bench_redirect.py --collector`: put on the
web process's PYTHONPATH, it times each pass (gc.callbacks) and writes them, at exit, to
the file TRACKER_COLLECTOR_LOG names: one JSON list of [wall time, generation, seconds]."""

from __future__ import annotations

import atexit
import gc
import json
import os
import time
from typing import Any

_LOG = os.environ.get("TRACKER_COLLECTOR_LOG")
_passes: list[tuple[float, int, float]] = []
_started = [0.0]


def _timed(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started[0] = time.perf_counter()
    else:
        _passes.append((time.time(), info["generation"], time.perf_counter() - _started[0]))


def _write() -> None:
    if _LOG:
        with open(f"{_LOG}.{os.getpid()}", "w") as out:
            json.dump(_passes, out)


if _LOG:
    gc.callbacks.append(_timed)
    atexit.register(_write)
