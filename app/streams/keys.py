"""Stream and group names. Each shard key has its own hash tag, so shards spread over the
slots of a Redis Cluster and one batch (one key) never crosses slots."""

from __future__ import annotations

GROUP = "tracker"
CLICKS = "clicks"
CONVERSIONS = "conversions"
DEAD_LETTER_SUFFIX = ":dead"


def shard_keys(stream: str, shards: int) -> list[str]:
    return [f"{stream}:{{{i}}}" for i in range(shards)]


def dead_letter_key(stream_key: str) -> str:
    return stream_key + DEAD_LETTER_SUFFIX


def metrics_key(stream_key: str) -> str:
    """The counters of one shard (`enqueued`, `replayed` by the producer's scripts,
    `stored`, `dead_lettered` by the worker's ack): same hash tag, so one script may
    write it with the stream."""
    return stream_key + ":metrics"


def replay_marker_key(stream_key: str, chunk: str) -> str:
    """Set once a spool chunk is in the stream: same hash tag as the shard."""
    return f"{stream_key}:replayed:{chunk}"


def retry_key(stream_key: str) -> str:
    """Entries waiting to be retried later (a sorted set by due time): same hash tag as the
    shard, so one script can move them back onto it."""
    return stream_key + ":retry"
