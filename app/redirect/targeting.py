"""Whether a click fits its offer's targeting (app.catalog.targeting), decided in the
redirect by the lookups enrichment stores (app.clicks.enrich), so a click the stats show
from DE on a mobile is the click the redirect judged so (but for a bot only crawlerdetect
knows: `enrich.device_of` leaves that list out of the hot path).

Built once per link when the link cache loads; a link without targeting has no Gate, and
its clicks pay nothing for the feature.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from app.catalog.targeting import COUNTRY_REASON, DEVICE_REASON
from app.clicks import enrich


@dataclass(frozen=True, slots=True)
class Gate:
    countries: frozenset[str]
    # country_mode "allow": only `countries` fit; "block": all but them.
    allow: bool
    devices: frozenset[str]

    def refusal(self, ip: str, user_agent: str | None, head: bool) -> str | None:
        """Why a click from `ip` with `user_agent` is outside (the diverted reason), or
        None when it fits. A HEAD request is a bot's, as the click writer stores it."""
        if self.countries and (enrich.click_country(ip) in self.countries) != self.allow:
            return COUNTRY_REASON
        if self.devices and (head or enrich.device_of(user_agent or "") not in self.devices):
            return DEVICE_REASON
        return None


def gate_of(row: asyncpg.Record) -> Gate | None:
    """The gate of an offer's stored targeting (columns targeting_*); None without one."""
    countries, devices = row["targeting_countries"], row["targeting_devices"]
    if not countries and not devices:
        return None
    return Gate(
        countries=frozenset(countries),
        allow=row["targeting_country_mode"] == "allow",
        devices=frozenset(devices),
    )
