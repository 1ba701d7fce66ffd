"""What a stream handler did with each entry of a batch, and how the worker settles it.

Every entry read is settled by one script call that acks it and, only if that XACK took
it off the pending list, counts it (`stored`, `dead_lettered`, ...), dead-letters it or
puts it in the retry set. An entry is therefore counted once however often it was
delivered: after a crash between the PostgreSQL commit and the ack, the redelivered entry
finds its row already there and is counted as stored then; two consumers that both
processed a reclaimed entry count it once, since only one XACK takes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# KEYS: stream, dead-letter stream, retry set, counters hash (one hash tag: Cluster-safe).
# ARGV: group, then per entry: id, outcome, a, b. Outcomes: "dead_lettered" (a record,
# b error), "retrying" (a member, b due time; counted by the retry set itself), any other
# name is a counter of the hash ("stored", ...). Returns {acked, [outcome, n]...}.
SETTLE = """
local group = ARGV[1]
local counts, names, acked = {}, {}, 0
for i = 2, #ARGV, 4 do
  local id, kind = ARGV[i], ARGV[i + 1]
  if redis.call('XACK', KEYS[1], group, id) == 1 then
    acked = acked + 1
    if kind == 'dead_lettered' then
      redis.call('XADD', KEYS[2], '*', 'entry', id, 'record', ARGV[i + 2], 'error', ARGV[i + 3])
    elseif kind == 'retrying' then
      redis.call('ZADD', KEYS[3], ARGV[i + 3], ARGV[i + 2])
    end
    if counts[kind] == nil then
      counts[kind] = 0
      names[#names + 1] = kind
    end
    counts[kind] = counts[kind] + 1
  end
end
table.sort(names)
local out = {acked}
for _, kind in ipairs(names) do
  if kind ~= 'retrying' then redis.call('HINCRBY', KEYS[4], kind, counts[kind]) end
  out[#out + 1] = kind
  out[#out + 1] = counts[kind]
end
return out
"""

STORED = "stored"
DEAD_LETTERED = "dead_lettered"
RETRYING = "retrying"
# Acked without a row: pixels refused by their offer, or whose click never came.
DISCARDED = "discarded"


@dataclass
class BatchOutcome:
    """A handler's answer for a batch. An entry named nowhere here was stored: a new row,
    or a row that was already there (a replay, a repeat), which counts the same."""

    # Rows newly written (the worker's own log; the balance counts entries, not rows).
    inserted: int = 0
    # (entry ID, error): never storable; to the dead-letter stream.
    poison: list[tuple[str, str]] = field(default_factory=list)
    # (entry ID, record, due time in Unix seconds): to try again later (the retry set).
    retry: list[tuple[str, bytes, float]] = field(default_factory=list)
    # (entry ID, counter): settled under a counter of its own instead of `stored` (the
    # counter must be one the reconciliation subtracts: see app.ops.pipeline.SETTLED).
    settled: list[tuple[str, str]] = field(default_factory=list)

    def merge(self, other: BatchOutcome) -> None:
        self.inserted += other.inserted
        self.poison += other.poison
        self.retry += other.retry
        self.settled += other.settled


def settle_args(
    group: str, entries: list[tuple[str, bytes]], outcome: BatchOutcome
) -> list[str | bytes]:
    """SETTLE's ARGV for a batch: each entry once, with its outcome."""
    raw = dict(entries)
    special: dict[str, list[str | bytes]] = {}
    for entry_id, error in outcome.poison:
        special[entry_id] = [DEAD_LETTERED, raw.get(entry_id, b""), error[:1000]]
    for entry_id, record, due in outcome.retry:
        special[entry_id] = [RETRYING, record, repr(due)]
    for entry_id, counter in outcome.settled:
        special[entry_id] = [counter, b"", b""]
    args: list[str | bytes] = [group]
    for entry_id, _ in entries:
        args += [entry_id, *special.get(entry_id, [STORED, b"", b""])]
    return args
