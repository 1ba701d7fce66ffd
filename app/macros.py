"""URL templates with {macro} placeholders: validation when saved, filling at use."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Annotated
from urllib.parse import SplitResult, quote, urlsplit

from pydantic import AfterValidator, WithJsonSchema

from app import patterns

MACRO = re.compile(r"\{([^{}]*)\}")
SUB_IDS = ("sub1", "sub2", "sub3", "sub4", "sub5")
OFFER_MACROS = frozenset(
    {"click_id", "affiliate_id", "offer_id", *SUB_IDS, "source", "aff_click_id"}
)
AFFILIATE_POSTBACK_MACROS = frozenset(
    {"click_id", "aff_click_id", *SUB_IDS, "payout", "status", "event", "txid", "offer_id"}
)
MAX_URL_LENGTH = 2048
# The URLs each kind of template may be, as the API schema states them (app/patterns.py).
OFFER_URL = patterns.url(OFFER_MACROS)
AFFILIATE_POSTBACK_URL = patterns.url(AFFILIATE_POSTBACK_MACROS)
_URL_PATTERNS = {OFFER_MACROS: OFFER_URL, AFFILIATE_POSTBACK_MACROS: AFFILIATE_POSTBACK_URL}
_CONTROL = re.compile(r"[\x00-\x20\x7f]")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
# A DNS label: letters, digits and hyphens, 1-63 characters, no hyphen at either end.
# Underscores are not in the standard but are in real names, and browsers take them.
_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)")


def validate_url_template(url: str, allowed: frozenset[str]) -> str:
    """Check an absolute http(s) URL whose macros are all known and sit outside its host.

    Raises ValueError with a message fit for the API client.
    """
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"must be at most {MAX_URL_LENGTH} characters")
    pattern = _URL_PATTERNS.get(allowed) or patterns.url(allowed)
    if not patterns.matches(pattern, url):
        # The checks below name what is wrong; what they let through is still refused.
        _check(url, allowed)
        raise ValueError(
            "is not a URL the service takes (see the pattern in /openapi.json): a host of "
            "labels in letters, digits, - and _ (another script than Latin in its xn-- "
            "form), { and } only around a macro, emoji and the like percent-encoded"
        )
    _check(url, allowed)
    return url


def _check(url: str, allowed: frozenset[str]) -> None:
    if _CONTROL.search(url):
        raise ValueError("must not contain spaces or control characters")
    if "\\" in url:
        # Browsers read a backslash as a slash (in "https://a.example\\@b.example" too).
        raise ValueError("must not contain a backslash (write it as %5C)")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise ValueError(f"must be a valid URL ({exc})") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError("must be an absolute http:// or https:// URL")
    if not parts.hostname or "{" in parts.netloc or "}" in parts.netloc:
        # A macro in the host would let visitor input pick where the redirect goes.
        raise ValueError("must have a fixed host name (macros may not appear in the host)")
    _check_authority(parts)
    if _BAD_ESCAPE.search(url):
        raise ValueError("has a % that is not followed by two hex digits (write % as %25)")
    unknown = sorted({m for m in MACRO.findall(url) if m not in allowed})
    if unknown:
        names = ", ".join("{" + m + "}" for m in unknown)
        raise ValueError(f"unknown macro {names}; allowed: {', '.join(sorted(allowed))}")


def _check_authority(parts: SplitResult) -> None:
    """A URL's user part, host and port as a browser and an HTTP client will read them."""
    if "@" in parts.netloc:
        # "https://shop.example@evil.example/" goes to evil.example: refused outright.
        raise ValueError("must not contain a user name or password (an @ before the host)")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("has a port that is not a number from 1 to 65535") from None
    if port == 0 or parts.netloc.endswith(":"):
        raise ValueError("has a port that is not a number from 1 to 65535")
    host = parts.hostname or ""
    if parts.netloc.startswith("["):
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"has an invalid IPv6 address {host!r}") from None
        return
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(f"has an invalid host name {host!r}") from None
    labels = ascii_host.removesuffix(".").split(".")
    if len(ascii_host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ValueError(f"has an invalid host name {host!r}")
    if all(label.isdigit() for label in labels):
        try:
            ipaddress.IPv4Address(ascii_host)
        except ValueError:
            raise ValueError(f"has an invalid IPv4 address {host!r}") from None


def fill(template: str, values: Mapping[str, str]) -> str:
    """Replace each {macro} with its URL-encoded value (empty when absent).

    Templates are validated when saved, so every macro here is a known one.
    """
    return MACRO.sub(lambda m: quote(values.get(m.group(1), ""), safe=""), template)


# The API's URL fields: the validator above, and the pattern it applies first, stated.
def _offer_url(url: str) -> str:
    return validate_url_template(url, OFFER_MACROS)


def _postback_url(url: str) -> str:
    return validate_url_template(url, AFFILIATE_POSTBACK_MACROS)


def _url_schema(pattern: str) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", "maxLength": MAX_URL_LENGTH, "pattern": pattern})


OfferUrl = Annotated[str, AfterValidator(_offer_url), _url_schema(OFFER_URL)]
PostbackUrl = Annotated[str, AfterValidator(_postback_url), _url_schema(AFFILIATE_POSTBACK_URL)]
