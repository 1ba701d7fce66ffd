"""Everything the service keeps, as text: to show that an erased value is nowhere.

Every table of the public schema (each row cast to text, all columns), every Redis key
with its value (strings, hashes, lists, sets, sorted sets, stream entries: dead letters
included), and every file under the data folder (the spools).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from app.db import Pool

TABLES = """
SELECT format('%I.%I', schemaname, tablename) FROM pg_tables WHERE schemaname = 'public'
"""


async def database_text(pool: Pool) -> str:
    parts: list[str] = []
    for (table,) in await pool.fetch(TABLES):
        rows = await pool.fetch(f"SELECT t::text FROM {table} t")
        parts += [f"{table}: {r[0]}" for r in rows]
    return "\n".join(parts)


async def redis_bytes(redis: Redis) -> bytes:
    parts: list[bytes] = []
    async for key in redis.scan_iter(count=1000):
        kind = _text(await redis.type(key))
        value: Any
        if kind == "string":
            value = await redis.get(key)
        elif kind == "hash":
            value = await redis.hgetall(key)
        elif kind == "list":
            value = await redis.lrange(key, 0, -1)
        elif kind == "set":
            value = await redis.smembers(key)
        elif kind == "zset":
            value = await redis.zrange(key, 0, -1, withscores=True)
        elif kind == "stream":
            value = await redis.xrange(key)
        else:
            value = kind
        parts.append(key + b" " + repr(value).encode())
    return b"\n".join(parts)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def files_bytes(directory: Path) -> bytes:
    return b"\n".join(p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file())


async def everything(pool: Pool, redis: Redis, data_dir: Path) -> bytes:
    return b"\n".join(
        [(await database_text(pool)).encode(), await redis_bytes(redis), files_bytes(data_dir)]
    )
