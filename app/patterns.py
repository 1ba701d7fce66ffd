"""Text formats the API takes, each as one regular expression that the validator applies
first and the OpenAPI document states, so that both say the same thing.

A pattern is ECMA-262 and Python `re` alike (no inline flags); the checks that follow it
(email-validator, ipaddress, datetime) accept every string it matches, as
tests/openapi/test_patterns.py checks on generated strings.
"""

from __future__ import annotations

import re

# The largest ID the API takes: JavaScript's largest exact integer, so that a client
# reading JSON numbers as doubles (and a schema checker comparing them so) holds it exactly;
# bigserial IDs never get near it.
MAX_ID = 2**53 - 1

# --- e-mail addresses --------------------------------------------------------------

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
# Letters and digits with single hyphens inside: no "--" (RFC 5890's R-LDH labels), so no
# Punycode either. The bounds keep the local part within 64 characters and the address
# within 254, as email-validator wants, without lookaheads that generators cannot meet.
_LABEL = r"[A-Za-z0-9]{1,20}(?:-[A-Za-z0-9]{1,20})?"
# The special-use names email-validator refuses (RFC 6761 and the like), in any case.
_SPECIAL_USE = ("arpa", "invalid", "local", "localhost", "onion", "test")


def _any_case(word: str) -> str:
    return "".join(f"[{c.upper()}{c}]" for c in word)


EMAIL = (
    rf"^{_ATEXT}{{1,32}}(?:\.{_ATEXT}{{1,15}}){{0,2}}@(?:{_LABEL}\.){{1,3}}"
    rf"(?!(?:{'|'.join(_any_case(w) for w in _SPECIAL_USE)})$)[A-Za-z]{{2,24}}$"
)

# --- IP networks -------------------------------------------------------------------

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_IPV4 = rf"{_OCTET}(?:\.{_OCTET}){{3}}"
_H = r"[0-9A-Fa-f]{1,4}"
_IPV6 = (
    "(?:"
    + "|".join(
        (
            rf"(?:{_H}:){{7}}{_H}",
            rf"(?:{_H}:){{1,7}}:",
            rf"(?:{_H}:){{1,6}}:{_H}",
            rf"(?:{_H}:){{1,5}}(?::{_H}){{1,2}}",
            rf"(?:{_H}:){{1,4}}(?::{_H}){{1,3}}",
            rf"(?:{_H}:){{1,3}}(?::{_H}){{1,4}}",
            rf"(?:{_H}:){{1,2}}(?::{_H}){{1,5}}",
            rf"{_H}:(?::{_H}){{1,6}}",
            rf":(?:(?::{_H}){{1,7}}|:)",
            rf"(?:{_H}:){{6}}{_IPV4}",
            rf"::(?:[Ff]{{4}}:)?{_IPV4}",
        )
    )
    + ")"
)
# An address, or a network with a prefix length (host bits are dropped: 203.0.113.7/24 is
# 203.0.113.0/24).
NETWORK = (
    rf"^(?:{_IPV4}(?:/(?:3[0-2]|[12]?[0-9]))?"
    rf"|{_IPV6}(?:/(?:12[0-8]|1[01][0-9]|[1-9]?[0-9]))?)$"
)

# --- dates and times ---------------------------------------------------------------

# Years 1970-2999: a conversion or a report bound outside them is a typo, and a time
# zone offset can move any of these past neither end of Python's or PostgreSQL's range.
_YEAR = r"(?:19[7-9][0-9]|2[0-9]{3})"
_LEAP_YEAR = r"(?:19(?:7[26]|8[048]|9[26])|2[0-9](?:0[48]|[2468][048]|[13579][26])|2[048]00)"
_DAY = (
    rf"(?:{_YEAR}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])"
    r"|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)"
    rf"|{_LEAP_YEAR}-02-29)"
)
_TIME = r"(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{1,6})?)?"
_OFFSET = r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
DAY = _DAY  # a calendar date, years 1970-2999
# A query bound: a date, or a date and time (without an offset: UTC, or the report's
# `tz`); empty is the default.
DATE_OR_TIME = rf"^(?:{_DAY}(?:[T ]{_TIME}{_OFFSET}?)?)?$"


# --- money -------------------------------------------------------------------------

_ASCII_SPACE = r"[ \t\n\r\f\v]*"
# An amount written as text: ASCII digits, at most four decimals and 14 whole digits
# (NUMERIC(18, 4)), leading zeros and ASCII spaces around it aside; app/money.py takes
# exactly these.
MONEY = rf"^{_ASCII_SPACE}(?:0*[0-9]{{1,14}}(?:\.[0-9]{{0,4}})?|\.[0-9]{{1,4}}){_ASCII_SPACE}$"
# A percent rule's value: the same text, from 0 to 100.
PERCENT = (
    rf"^{_ASCII_SPACE}(?:0*(?:100(?:\.0{{0,4}})?|[0-9]{{1,2}}(?:\.[0-9]{{0,4}})?)|\.[0-9]{{1,4}})"
    rf"{_ASCII_SPACE}$"
)

# --- URL templates -----------------------------------------------------------------


# A host name's label as the IDNA codec and the DNS take it: letters, digits, hyphens
# (none at either end) and underscores (not in the standard, but in real names).
def _host_label(most: int) -> str:
    return rf"[A-Za-z0-9_](?:[A-Za-z0-9_-]{{0,{most - 2}}}[A-Za-z0-9_])?"


# An internationalised label: Latin letters (Latin-1's, which IDNA maps to themselves or,
# for ß, to "ss"); at most 10 characters keep its xn-- form under 30. Other scripts are
# written in their xn-- form.
_LATIN = r"A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u00ff"
_IDN_LABEL = rf"[{_LATIN}0-9](?:[{_LATIN}0-9-]{{0,8}}[{_LATIN}0-9])?"
# The last label starts with a letter, so that a name is never all digits (an IPv4
# address, checked as one).
_TOP_LABEL = (
    rf"(?:[A-Za-z](?:[A-Za-z0-9_-]{{0,28}}[A-Za-z0-9_])?"
    rf"|[{_LATIN}](?:[{_LATIN}0-9-]{{0,8}}[{_LATIN}0-9])?)"
)
# One label of up to 63 characters (a bucket's or an app's name), five more of up to 30
# and the top one: at most 250 characters in ASCII form, within the DNS's 253.
_HOST_NAME = (
    rf"(?:{_host_label(63)}\.)?(?:(?:{_host_label(30)}|{_IDN_LABEL})\.){{0,5}}{_TOP_LABEL}\.?"
)
_PORT = r"(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
# Path, query and fragment: printable ASCII but space, backslash (read as a slash by
# browsers), % (only as an escape) and braces (only around a macro); text beyond ASCII in
# the Basic Multilingual Plane, which the redirect percent-encodes.
_URL_TEXT = r"[!-$&-\x5b\x5d-z|~\u00a0-\ud7ff\ue000-\ufffd]"


def url(macros: frozenset[str]) -> str:
    """An absolute http(s) URL with a fixed host, holding only the given {macros}."""
    macro = rf"\{{(?:{'|'.join(sorted(macros))})\}}"
    return (
        rf"^[Hh][Tt][Tt][Pp][Ss]?://(?:{_HOST_NAME}|{_IPV4}|\[{_IPV6}\])(?::{_PORT})?"
        rf"(?:[/?#](?:{_URL_TEXT}|%[0-9A-Fa-f]{{2}}|{macro})*)?$"
    )


def names(allowed: tuple[str, ...], *, sign: bool = False) -> str:
    """A comma-separated list of the allowed names (each optionally `-`), or nothing."""
    one = rf"\s*{'-?' if sign else ''}(?:{'|'.join(allowed)})\s*"
    return rf"^(?:{one}(?:,{one})*)?$"


_COMPILED: dict[str, re.Pattern[str]] = {}


def matches(pattern: str, text: str) -> bool:
    compiled = _COMPILED.get(pattern)
    if compiled is None:
        compiled = _COMPILED[pattern] = re.compile(pattern)
    return compiled.fullmatch(text) is not None
