"""GroupCommit's callbacks (`submit_then`): one pass per batch, after its flush, in order."""

from __future__ import annotations

import asyncio

from app.streams.batching import CommitFailed, GroupCommit


async def test_a_batchs_callbacks_hear_its_outcome_in_order_after_its_flush() -> None:
    heard: list[tuple[object, object]] = []
    release = asyncio.Event()

    async def flush(items: list[int]) -> list[int | Exception]:
        heard.append(("flush", list(items)))
        await release.wait()
        if 13 in items:
            raise OSError("Redis is down")
        return [item * 10 if item != 2 else ValueError("refused") for item in items]

    def broken(outcome: object) -> None:
        heard.append(("broken", outcome))
        raise RuntimeError("a caller's bug")

    commit: GroupCommit[int, int] = GroupCommit(flush, max_batch=10)
    commit.start()
    try:
        commit.submit_then(1, lambda outcome: heard.append((1, outcome)))
        commit.submit_then(2, broken)
        commit.submit_then(3, lambda outcome: heard.append((3, outcome)))
        future = commit.submit(4)
        while not heard:  # noqa: ASYNC110 - the flusher has taken the batch
            await asyncio.sleep(0)
        commit.submit_then(13, lambda outcome: heard.append((13, outcome)))
        assert heard == [("flush", [1, 2, 3, 4])]  # nothing heard before the flush ends
        release.set()
        assert await future == 40
        while len(heard) < 6:  # noqa: ASYNC110
            await asyncio.sleep(0)
    finally:
        await commit.stop()
    assert heard[1] == (1, 10)
    assert heard[2][0] == "broken"
    assert isinstance(heard[2][1], ValueError)
    assert heard[3] == (3, 30)  # after a callback that raised
    assert heard[4] == ("flush", [13])
    assert heard[5][0] == 13
    assert isinstance(heard[5][1], CommitFailed)
