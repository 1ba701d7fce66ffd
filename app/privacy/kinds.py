"""The kinds of records that wait in a stream, a retry set, a spool or dead letters, and
how each is recognised as a subject's and erased: one mechanism (app/privacy/streams.py,
spool.py) for every stream, parameterised by this.

- clicks (`clicks:{n}`): the visitor's IP, user agent, referrer and Accept-Language go, and
  the enrichment the worker would have made of them comes instead (app/privacy/records.py);
- conversions (`conversions:{n}`): the advertiser's own ID of the buyer (`cu`) goes, and
  the service's ID of the customer comes instead (`cux`), so the conversion still counts
  for that customer when it is stored (app/customers/attribution.py), without naming it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis

from app.clicks import record as click_record
from app.postbacks import records as conversion_record
from app.privacy import records
from app.privacy.subject import Subject
from app.streams import keys

# The erased form of each of a subject's records (each parses: see `wants_erasure`).
Erase = Callable[[Redis, Subject, list[bytes]], Awaitable[list[bytes]]]


@dataclass(frozen=True, slots=True)
class RecordKind:
    name: str  # the stream's, and its spool files'

    # The members holding personal data, and the one an erased record has instead.
    personal: tuple[str, ...]
    erased_member: str
    matches: Callable[[Subject, dict[str, Any]], bool]
    erase: Erase

    def wants_erasure(self, subject: Subject, raw: bytes) -> bool:
        """Whether a waiting record is the subject's and still holds personal data."""
        rec = records.parse(raw)
        if rec is None or self.erased_member in rec:
            return False
        return self.matches(subject, rec)

    def without_personal(self, rec: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in rec.items() if k not in self.personal}

    def personal_texts(self, rec: dict[str, Any]) -> list[str]:
        """The personal values of a record, as text that may be quoted elsewhere (an error)."""
        values = (rec.get(name) for name in self.personal)
        return [v for v in values if isinstance(v, str) and len(v) >= 4]


async def _erase_clicks(redis: Redis, subject: Subject, raws: list[bytes]) -> list[bytes]:
    return await records.erase_clicks(redis, raws)


async def _erase_conversions(redis: Redis, subject: Subject, raws: list[bytes]) -> list[bytes]:
    assert subject.customer_id is not None
    erased: list[bytes] = []
    for raw in raws:
        kept = CONVERSIONS.without_personal(records.parse(raw) or {})
        erased.append(orjson.dumps({**kept, CONVERSIONS.erased_member: subject.customer_id}))
    return erased


CLICKS = RecordKind(
    keys.CLICKS,
    click_record.PERSONAL_MEMBERS,
    click_record.ERASED_MEMBER,
    Subject.matches_click,
    _erase_clicks,
)
CONVERSIONS = RecordKind(
    keys.CONVERSIONS,
    (conversion_record.CUSTOMER_MEMBER,),
    conversion_record.ERASED_CUSTOMER,
    Subject.matches_conversion,
    _erase_conversions,
)
