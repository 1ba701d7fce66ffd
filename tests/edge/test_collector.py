"""app.edge.collector: what `tracker serve`'s processes leave out of the collector's passes."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest
from asgi_lifespan import LifespanManager

from app.edge import collector
from app.main import create_app
from app.settings import Settings


@pytest.fixture
def unfrozen() -> Iterator[None]:
    """What a test froze goes back to the collector (the next tests' objects are theirs)."""
    gc.unfreeze()
    yield
    gc.unfreeze()


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def cycle() -> weakref.ref[Node]:
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)


def test_settle_collects_first_then_freezes_what_lives(unfrozen: None) -> None:
    garbage = cycle()  # unreachable already: the pass before the freeze frees it
    kept = Node()
    kept.other = kept  # alive (this frame holds it): frozen, out of every pass
    frozen = collector.settle()
    assert garbage() is None
    assert frozen == gc.get_freeze_count() > 0
    assert not any(o is kept for o in gc.get_objects())
    made_after = Node()
    assert any(o is made_after for o in gc.get_objects())
    # Made after the freeze: the collector's, as before.
    late = cycle()
    gc.collect()
    assert late() is None


def test_frozen_objects_are_still_freed_by_reference_counting(unfrozen: None) -> None:
    node = Node()
    gone = weakref.ref(node)
    collector.settle()
    del node
    assert gone() is None


async def test_serves_lifespan_settles_and_a_plain_app_does_not(
    settings: Settings, unfrozen: None
) -> None:
    async with LifespanManager(create_app(settings)):
        assert gc.get_freeze_count() == 0  # tests' apps (and the default) leave it alone
    async with LifespanManager(create_app(settings, settle=True)) as manager:
        assert gc.get_freeze_count() > 0
        assert not any(o is manager.app for o in gc.get_objects())
