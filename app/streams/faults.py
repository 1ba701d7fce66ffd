"""Fault points of the worker for tests, switched on by TRACKER_FAULT (never set otherwise).

They let a test stop or kill a real worker process at the exact moment it is about:
- `kill-after-commit`: SIGKILL itself once a batch is committed to PostgreSQL, before
  the batch is acked (the crash that leaves committed entries pending);
- `hold-batch:<path>`: once the first batch is read, write its entries (stream key and
  entry ID) to <path> and hold the batch until the worker is told to stop (SIGTERM),
  then finish it.
"""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import dataclass
from pathlib import Path

ENVIRONMENT_NAME = "TRACKER_FAULT"


@dataclass
class Faults:
    spec: str = ""
    _held: bool = False

    @classmethod
    def from_environment(cls) -> Faults:
        return cls(os.environ.get(ENVIRONMENT_NAME, ""))

    def after_commit(self) -> None:
        if self.spec == "kill-after-commit":
            os.kill(os.getpid(), signal.SIGKILL)

    async def holding(
        self, batches: list[tuple[str, list[tuple[str, bytes]]]], stop: asyncio.Event | None
    ) -> None:
        """At `hold-batch`: the batch's entries, a "<stream key> <entry ID>" line each."""
        lines = [f"{key} {entry_id}" for key, entries in batches for entry_id, _ in entries]
        if self._held or not lines or not self.spec.startswith("hold-batch:"):
            return
        self._held = True
        path = Path(self.spec.removeprefix("hold-batch:"))
        partial = path.with_name(path.name + ".partial")
        partial.write_text("\n".join(lines))
        partial.rename(path)  # the test sees the whole list or none of it
        if stop is not None:
            await stop.wait()
