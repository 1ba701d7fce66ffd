"""The app, its workers and a client on a real Redis Cluster (tests.cluster.nodes)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from app.redis import create_redis
from app.settings import Settings
from tests.cluster.nodes import LocalCluster

# Four shards: their hash tags fall on all three masters (test_cluster checks it).
SHARDS = 4


@pytest.fixture
def redis_cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    cluster = LocalCluster(tmp_path / "cluster").start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def settings(settings: Settings, redis_cluster: LocalCluster) -> Settings:
    settings.redis_url = redis_cluster.url
    settings.stream_shards = SHARDS
    # Conversions waiting for their click come back almost at once in tests.
    settings.attribution_retry_base_s = 0.01
    return settings


@pytest.fixture
async def cluster_client(settings: Settings) -> AsyncIterator[Redis]:
    client = create_redis(str(settings.redis_url))
    try:
        yield client
    finally:
        await client.aclose()
