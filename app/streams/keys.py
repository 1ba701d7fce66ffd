"""Stream and group names. Each shard key has its own hash tag, so shards spread over the
slots of a Redis Cluster and one batch (one key) never crosses slots."""

from __future__ import annotations

GROUP = "tracker"
CLICKS = "clicks"
DEAD_LETTER_SUFFIX = ":dead"


def shard_keys(stream: str, shards: int) -> list[str]:
    return [f"{stream}:{{{i}}}" for i in range(shards)]


def dead_letter_key(stream_key: str) -> str:
    return stream_key + DEAD_LETTER_SUFFIX
