"""The cyclic garbage collector in a web process of `tracker serve`: out of the edge's tail.

A postback keeps a few dozen container objects alive while its batch waits for Redis (its
sources, its record, the callbacks), 64 connections' worth at once, so the young
generations fill and are collected every few hundred requests, and each pass of the
middle one promotes the requests in flight into the oldest. Once those promotions reach a
quarter of what the oldest holds, CPython runs a full pass over everything the process
has: the modules, FastAPI's routes, the caches, about 200,000 objects, 20-30 ms on a
quiet core (far more on a busy one) during which no request is answered. That was the
postback's p99 (loadtests/RESULTS.md, issue 17, 2026-12-04).

`settle()`, once the app has started: one full pass, then everything alive moved to the
permanent generation (`gc.freeze()`), which the collector never walks. The objects made
afterwards are collected as before; a full pass walks only them. Frozen objects are still
freed by reference counting (a cache replaced at its reload goes as before); what a
freeze keeps for good is cyclic garbage that already was in the permanent generation,
and the collect before it leaves none.
"""

from __future__ import annotations

import gc


def settle() -> int:
    """Collect, then freeze everything alive; returns how many objects are now frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
