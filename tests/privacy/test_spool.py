"""Erasure in spool files: records rewritten in place, the files' counts unchanged."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest
from redis.asyncio import Redis

from app.clickid import new_click_id
from app.clicks import record as click_record
from app.clicks import store
from app.errors import Conflict
from app.privacy import kinds, spool
from app.privacy.subject import Subject
from app.streams.spool import Spool, read_records

IP = "198.51.100.40"
BROWSER = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 Safari/605.1.15"


def a_click(ip: str, user_agent: str | None = BROWSER) -> bytes:
    click_id, ms = new_click_id()
    subs = {"sub1": "kw"}
    return click_record.encode(
        click_id, ms, 1, 1, 1, "USD", None, subs, ip, user_agent, None, None, False
    )


def bare_click(ip: str) -> bytes:
    """A click record with no user agent, referrer or language members at all: too short
    to hold its enrichment in its own place once the address is gone."""
    rec = orjson.loads(a_click(ip))
    return orjson.dumps({k: v for k, v in rec.items() if k not in ("ua", "ref", "al")})


async def spooled(directory: Path, records: list[bytes]) -> Path:
    writer = Spool(directory, "clicks")
    writer.start()
    for rec in records:
        await writer.append(rec)
    await writer.stop()
    return writer.path


async def test_records_are_erased_in_place(tmp_path: Path, redis: Redis) -> None:
    records = [a_click("203.0.113.1"), a_click(IP), a_click("203.0.113.2")]
    path = await spooled(tmp_path, records)
    size = os.stat(path).st_size
    assert await spool.erase_spool(redis, tmp_path, Subject.of_ip(IP), kinds.CLICKS) == 1
    assert os.stat(path).st_size == size
    after = list(read_records(path))
    assert [after[0], after[2]] == [records[0], records[2]]
    assert IP.encode() not in b"".join(after)
    assert BROWSER.encode() in after[0]
    erased = click_record.decode(after[1])
    assert (erased.ip, erased.user_agent) == (None, None)
    assert erased.erased is not None
    assert erased.erased.browser == "Safari"
    assert store.decode(after[1]).row[store.COLUMNS.index("is_unique")] is True
    # Nothing left: a second erasure changes nothing.
    assert await spool.erase_spool(redis, tmp_path, Subject.of_ip(IP), kinds.CLICKS) == 0


async def test_a_closed_file_is_written_anew_when_a_record_does_not_fit(
    tmp_path: Path, redis: Redis
) -> None:
    records = [a_click("203.0.113.1"), bare_click(IP)]
    path = await spooled(tmp_path, records)
    rotated = path.with_name(path.name + ".0a1b2c3d")
    path.rename(rotated)
    assert await spool.erase_spool(redis, tmp_path, Subject.of_ip(IP), kinds.CLICKS) == 1
    after = list(read_records(rotated))
    assert len(after) == 2
    assert after[0] == records[0]
    assert click_record.decode(after[1]).erased is not None
    assert sorted(p.name for p in os.scandir(tmp_path)) == [rotated.name]


async def test_a_live_active_file_is_refused_when_a_record_does_not_fit(
    tmp_path: Path, redis: Redis
) -> None:
    path = await spooled(tmp_path, [bare_click(IP)])
    assert path.name == f"clicks-{os.getpid()}.spool"
    before = path.read_bytes()
    with pytest.raises(Conflict, match="retry"):
        await spool.erase_spool(redis, tmp_path, Subject.of_ip(IP), kinds.CLICKS)
    assert path.read_bytes() == before
