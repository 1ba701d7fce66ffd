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
    """The worker's counters of one shard: same hash tag, so MULTI with XACK is legal."""
    return stream_key + ":metrics"


def web_metrics_key(stream: str) -> str:
    return f"metrics:{stream}:web"


def retry_key(stream_key: str) -> str:
    """Entries waiting to be retried later (a sorted set by due time): same hash tag as the
    shard, so one script can move them back onto it."""
    return stream_key + ":retry"
