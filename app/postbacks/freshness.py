"""The conversion stream's admission: a postback judged against a stale cache is refused.

The intake judges a postback (token, address, signature) against its in-process
advertiser cache without reading Redis first. The record goes to the stream with the
catalog version that cache held; this script, run by the stream producer in the same
round trip as the XADD (app.streams.producer), compares it with the current
`catalog:version` and refuses the record, storing nothing, when they differ: a token
rotated, a signing secret set or an IP allowlist narrowed through the API (which bumps
the version before it answers) never lets a postback through on the old settings. The
web process then reloads its cache and judges the postback again (app.postbacks.service).

The version is read once per batch, and only when a record of the batch carries one
(pixels carry none: they are not judged against an advertiser).

On Redis Cluster the script may read only keys of its shard's slot: the version is
copied under each conversion shard's hash tag (`conversions:{i}:catalog-version`, set
by `catalog.service.notify_changed` after the version itself) and the script reads the
copy of its shard.
"""

from __future__ import annotations

from collections.abc import Callable

from app.catalog.service import CATALOG_VERSION_KEY, version_copy_key

ADMISSION = """
local current
local function admit(rec, first, n)
  if current == nil then current = redis.call('GET', KEYS[3]) or '' end
  if ARGV[first] ~= current then return false, -1 end
  return rec, 1
end
"""
ADMISSION_KEYS = (CATALOG_VERSION_KEY,)


def admission_keys(*, cluster: bool) -> Callable[[str], tuple[str, ...]]:
    """The version key ADMISSION reads, given a shard's key."""
    if cluster:
        return lambda stream_key: (version_copy_key(stream_key),)
    return lambda _stream_key: ADMISSION_KEYS


def admission_args(version: bytes) -> tuple[bytes, bytes]:
    """ADMISSION's arguments for a record judged at catalog `version` (b"": no version
    key yet), their count first, as the producer takes them."""
    return (b"1", version)
