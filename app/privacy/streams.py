"""Erasure in the Redis streams: entries waiting to be stored, retries, and dead letters,
for every kind of record (app/privacy/kinds.py: clicks, conversions).

A stream entry cannot be changed, so an entry holding erased data is replaced, in one
script per shard (the stream's keys share its hash tag), checked against the record read
a moment before (an entry that changed or went meanwhile is left to the next step):
- not yet delivered to the worker: deleted, and its erased record added at the end;
- delivered and pending (a worker holds it, or a dead one did): acked, deleted, and its
  erased record added. A worker still holding the old entry may commit its row; its ack
  then takes nothing (the script acked it), so it is not counted (nor retried, nor
  dead-lettered), and the erased entry, stored later, is counted once as stored: a click
  clears that row's personal columns (app.clicks.store.CLEAR_ERASED), a conversion meets
  its own conversion by its (advertiser, txid) and changes nothing. Exactly once, and the
  reconciliation stays at 0;
- delivered and acked (stored, not yet trimmed): deleted only; the row is erased in
  PostgreSQL.
served, stored and in flight (lag + pending) are unchanged by each of these. A dead
letter is replaced by one with the erased record, its original entry ID and its error
with the erased values taken out, so the dead-letter count stays as it was. A retry (a
member of the shard's retry set, app/attribution/consumer.py) is replaced by its erased
record under the same due time, so `retrying` stays as it was.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

from redis.asyncio import Redis

from app.privacy import records
from app.privacy.kinds import RecordKind
from app.privacy.subject import Subject
from app.streams import keys

SCAN_COUNT = 1000

# KEYS[1]: stream. ARGV[1]: group; then per entry: id, record read, erased record.
# Returns {replaced (re-added at the end), dropped (already stored)}.
REPLACE_ENTRIES = """
local group = ARGV[1]
local last = nil
local ok, groups = pcall(redis.call, 'XINFO', 'GROUPS', KEYS[1])
if ok then
  for _, g in ipairs(groups) do
    local name, delivered = nil, nil
    for j = 1, #g, 2 do
      if g[j] == 'name' then name = g[j + 1] end
      if g[j] == 'last-delivered-id' then delivered = g[j + 1] end
    end
    if name == group then last = delivered end
  end
end
local function parts(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function after(a, b)
  local am, as = parts(a)
  local bm, bs = parts(b)
  return am > bm or (am == bm and as > bs)
end
local replaced, dropped = 0, 0
for i = 2, #ARGV, 3 do
  local id = ARGV[i]
  local found = redis.call('XRANGE', KEYS[1], id, id)
  if #found == 1 then
    local fields, rec = found[1][2], nil
    for j = 1, #fields, 2 do
      if fields[j] == 'r' then rec = fields[j + 1] end
    end
    if rec == ARGV[i + 1] then
      local pending = false
      if last ~= nil then
        pending = #redis.call('XPENDING', KEYS[1], group, id, id, 1) == 1
      end
      local undelivered = last == nil or after(id, last)
      if pending then redis.call('XACK', KEYS[1], group, id) end
      redis.call('XDEL', KEYS[1], id)
      if pending or undelivered then
        redis.call('XADD', KEYS[1], '*', 'r', ARGV[i + 2])
        replaced = replaced + 1
      else
        dropped = dropped + 1
      end
    end
  end
end
return {replaced, dropped}
"""

# KEYS[1]: dead-letter stream. ARGV per entry: id, record read, new record, new error.
REPLACE_DEAD_LETTERS = """
local changed = 0
for i = 1, #ARGV, 4 do
  local id = ARGV[i]
  local found = redis.call('XRANGE', KEYS[1], id, id)
  if #found == 1 then
    local fields, rec, entry = found[1][2], nil, ''
    for j = 1, #fields, 2 do
      if fields[j] == 'record' then rec = fields[j + 1] end
      if fields[j] == 'entry' then entry = fields[j + 1] end
    end
    if rec == ARGV[i + 1] then
      redis.call('XDEL', KEYS[1], id)
      redis.call('XADD', KEYS[1], '*', 'entry', entry, 'record', ARGV[i + 2],
                 'error', ARGV[i + 3])
      changed = changed + 1
    end
  end
end
return changed
"""

# KEYS[1]: retry set. ARGV per member: member read, erased member (same due time).
REPLACE_RETRIES = """
local changed = 0
for i = 1, #ARGV, 2 do
  local due = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if due then
    redis.call('ZREM', KEYS[1], ARGV[i])
    redis.call('ZADD', KEYS[1], due, ARGV[i + 1])
    changed = changed + 1
  end
end
return changed
"""


async def _chunks(
    redis: Redis, stream_keys: Iterable[str]
) -> AsyncIterator[tuple[str, list[tuple[str, dict[bytes, bytes]]]]]:
    """Every entry of each stream, oldest first, a chunk at a time, with its stream's key
    (a stream may be long while PostgreSQL is away: it is never held whole)."""
    for key in stream_keys:
        start = "-"
        while True:
            batch: Any = await redis.xrange(key, min=start, max="+", count=SCAN_COUNT)
            if batch:
                yield key, [(_text(entry_id), fields) for entry_id, fields in batch]
            if len(batch) < SCAN_COUNT:
                break
            start = "(" + _text(batch[-1][0])


async def erase_stream(
    redis: Redis, stream_keys: list[str], subject: Subject, kind: RecordKind
) -> int:
    """Replace the subject's waiting entries; the count replaced or dropped."""
    changed = 0
    script = redis.register_script(REPLACE_ENTRIES)
    async for key, chunk in _chunks(redis, stream_keys):
        found = [
            (entry_id, fields.get(b"r", b""))
            for entry_id, fields in chunk
            if kind.wants_erasure(subject, fields.get(b"r", b""))
        ]
        if not found:
            continue
        erased = await kind.erase(redis, subject, [raw for _, raw in found])
        args: list[str | bytes] = [keys.GROUP]
        for (entry_id, raw), new in zip(found, erased, strict=True):
            args += [entry_id, raw, new]
        # Replaced entries go to the end, where this scan meets them again and, erased
        # already, passes them over.
        replaced, dropped = await script(keys=[key], args=args)
        changed += int(replaced) + int(dropped)
    return changed


async def erase_retries(
    redis: Redis, stream_keys: list[str], subject: Subject, kind: RecordKind
) -> int:
    """Replace the subject's records in the shards' retry sets; the count replaced. ZSCAN
    returns every member that is there all along at least once: one replaced meanwhile by
    its erased self, met again, is passed over (it is erased)."""
    changed = 0
    script = redis.register_script(REPLACE_RETRIES)
    for key in stream_keys:
        retry = keys.retry_key(key)
        found: list[bytes] = []
        async for member, _ in redis.zscan_iter(retry, count=SCAN_COUNT):
            if kind.wants_erasure(subject, member):
                found.append(member)
            if len(found) >= SCAN_COUNT:
                changed += await _replace_retries(redis, script, retry, subject, kind, found)
                found = []
        if found:
            changed += await _replace_retries(redis, script, retry, subject, kind, found)
    return changed


async def _replace_retries(
    redis: Redis, script: Any, key: str, subject: Subject, kind: RecordKind, found: list[bytes]
) -> int:
    erased = await kind.erase(redis, subject, found)
    args = [part for pair in zip(found, erased, strict=True) for part in pair]
    return int(await script(keys=[key], args=args))


def _dead_letter_erased(
    subject: Subject, kind: RecordKind, raw: bytes, rec: dict[str, Any] | None, error: str
) -> tuple[bytes, str] | None:
    """A dead letter's error without the subject's data, and its record when that holds
    none of the kind's personal members (those are erased as the stream's are); None if
    neither names the subject."""
    if rec is not None and kind.matches(subject, rec):
        needles = [n.decode() for n in subject.needles()] + kind.personal_texts(rec)
        cleaned = records.scrub_text(error, needles)
        return None if cleaned == error else (raw, cleaned)
    if any(needle in raw for needle in subject.needles()):
        # A record that cannot be read cannot be told apart: all of it goes.
        return b"", records.scrub_text(error, [n.decode() for n in subject.needles()])
    cleaned = records.scrub_text(error, [n.decode() for n in subject.needles()])
    return None if cleaned == error else (raw, cleaned)


async def erase_dead_letters(
    redis: Redis, stream_keys: list[str], subject: Subject, kind: RecordKind
) -> int:
    """Replace the dead letters holding the subject's data; the count replaced."""
    changed = 0
    script = redis.register_script(REPLACE_DEAD_LETTERS)
    async for dead, chunk in _chunks(redis, map(keys.dead_letter_key, stream_keys)):
        args: list[str | bytes] = []
        personal: list[tuple[str, bytes, str]] = []  # erased as the stream's entries
        for entry_id, fields in chunk:
            raw = fields.get(b"record", b"")
            error = fields.get(b"error", b"").decode("utf-8", "replace")
            rec = records.parse(raw)
            if (
                rec is not None
                and kind.matches(subject, rec)
                and any(name in rec for name in kind.personal)
            ):
                needles = [n.decode() for n in subject.needles()] + kind.personal_texts(rec)
                personal.append((entry_id, raw, records.scrub_text(error, needles)))
                continue
            erased = _dead_letter_erased(subject, kind, raw, rec, error)
            if erased is not None:
                args += [entry_id, raw, erased[0], erased[1]]
        if personal:
            news = await kind.erase(redis, subject, [raw for _, raw, _ in personal])
            for (entry_id, raw, cleaned), new in zip(personal, news, strict=True):
                args += [entry_id, raw, new, cleaned]
        if args:
            changed += int(await script(keys=[dead], args=args))
    return changed


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
