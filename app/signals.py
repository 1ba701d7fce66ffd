"""Graceful stop for the long-running processes."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Any


def stop_on_signals(stop: asyncio.Event) -> None:
    """SIGTERM or SIGINT sets `stop`: the loop finishes the work in hand, then exits."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)


async def cancel(task: asyncio.Task[Any] | None) -> None:
    """Stop a background task and wait until it has (its cancellation is no error)."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
