"""URL templates with {macro} placeholders: validation when saved, filling at use."""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import quote, urlsplit

MACRO = re.compile(r"\{([^{}]*)\}")
SUB_IDS = ("sub1", "sub2", "sub3", "sub4", "sub5")
OFFER_MACROS = frozenset(
    {"click_id", "affiliate_id", "offer_id", *SUB_IDS, "source", "aff_click_id"}
)
AFFILIATE_POSTBACK_MACROS = frozenset(
    {"click_id", "aff_click_id", *SUB_IDS, "payout", "status", "event", "txid", "offer_id"}
)
MAX_URL_LENGTH = 2048
_CONTROL = re.compile(r"[\x00-\x20\x7f]")


def validate_url_template(url: str, allowed: frozenset[str]) -> str:
    """Check an absolute http(s) URL whose macros are all known and sit outside its host.

    Raises ValueError with a message fit for the API client.
    """
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"must be at most {MAX_URL_LENGTH} characters")
    if _CONTROL.search(url):
        raise ValueError("must not contain spaces or control characters")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError("must be an absolute http:// or https:// URL")
    if not parts.hostname or "{" in parts.netloc or "}" in parts.netloc:
        # A macro in the host would let visitor input pick where the redirect goes.
        raise ValueError("must have a fixed host name (macros may not appear in the host)")
    unknown = sorted({m for m in MACRO.findall(url) if m not in allowed})
    if unknown:
        names = ", ".join("{" + m + "}" for m in unknown)
        raise ValueError(f"unknown macro {names}; allowed: {', '.join(sorted(allowed))}")
    return url


def fill(template: str, values: Mapping[str, str]) -> str:
    """Replace each {macro} with its URL-encoded value (empty when absent).

    Templates are validated when saved, so every macro here is a known one.
    """
    return MACRO.sub(lambda m: quote(values.get(m.group(1), ""), safe=""), template)
