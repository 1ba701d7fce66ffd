"""What a /stats report can ask for: its dimensions, filters and metrics (the only names
app/stats/queries.py splices into SQL)."""

from __future__ import annotations

from app.rollups import registry

TIME_DIMENSIONS = ("hour", "day", "week", "month")
# Grouped by, never filtered on: a week is its Monday, a month its first day (local dates).
GROUP_ONLY = frozenset({"week", "month"})
ID_DIMENSIONS = ("affiliate", "offer", "link")
SUB_DIMENSIONS = ("sub1", "sub2", "sub3", "sub4", "sub5", "source")
AGENT_DIMENSIONS = ("country", "device", "os", "browser")
DIMENSIONS = (*TIME_DIMENSIONS, *ID_DIMENSIONS, *SUB_DIMENSIONS, *AGENT_DIMENSIONS)
FILTERS = tuple(d for d in DIMENSIONS if d not in GROUP_ONLY)

# The rollups' amounts (app/rollups/registry.py), then those derived from them, then the
# diverted clicks (added by migration 0073: last, so that CSV columns keep their places).
METRICS = (*registry.METRICS, "profit", "cr", "epc", *registry.DIVERTED_METRICS)
# The network's side of the money, which an affiliate key never sees.
NETWORK_METRICS = frozenset({"revenue", "profit", "customer_revenue"})

# The name shown next to an ID dimension: (table, column).
NAME_COLUMNS = {
    "affiliate": ("affiliates", "name"),
    "offer": ("offers", "name"),
    "link": ("links", "code"),
}
