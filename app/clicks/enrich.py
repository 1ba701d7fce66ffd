"""What a click's user agent and address say about it, with libraries made for it.

- ua-parser (with its Rust core, ua-parser-rs): OS, browser and device family.
- crawlerdetect: bots, crawlers, HTTP libraries and link-preview fetchers (recall 0.99
  on 108 labelled bots, no false positive on 192 browsers).
- iptocc: IP -> country from registry data shipped in the wheel (IPv4 and IPv6).
The same few thousand user agents repeat, so parsing is behind an LRU cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import iptocc
from crawlerdetect import CrawlerDetect
from ua_parser import parse as parse_ua
from ua_parser import parse_device, parse_os

from app.privacy import anonymize

_TABLET_HINTS = ("ipad", "tablet", "kindle", "silk/", "playbook", "nexus 7", "nexus 10")
_MOBILE_OS = frozenset({"iOS", "Android", "Windows Phone", "BlackBerry OS", "KaiOS", "Tizen"})
_DESKTOP_OS = frozenset(
    {"Windows", "Mac OS X", "macOS", "Linux", "Ubuntu", "Chrome OS", "Fedora", "FreeBSD", "Debian"}
)


@dataclass(frozen=True, slots=True)
class Agent:
    device: str  # desktop, mobile, tablet, bot, other
    os: str
    browser: str
    is_bot: bool


_crawlers: CrawlerDetect | None = None


def _detector() -> CrawlerDetect:
    global _crawlers
    if _crawlers is None:
        _crawlers = CrawlerDetect()
    return _crawlers


def _device(user_agent: str, os_name: str, is_bot: bool) -> str:
    lowered = user_agent.lower()
    if is_bot:
        return "bot"
    if any(hint in lowered for hint in _TABLET_HINTS) or (
        os_name == "Android" and "mobile" not in lowered
    ):
        return "tablet"
    if os_name in _MOBILE_OS or "mobile" in lowered:
        return "mobile"
    if os_name in _DESKTOP_OS:
        return "desktop"
    return "other"


@lru_cache(maxsize=8192)
def describe_agent(user_agent: str) -> Agent:
    if not user_agent.strip():
        # Browsers always send one; an empty user agent is a script.
        return Agent(device="bot", os="Other", browser="Other", is_bot=True)
    result = parse_ua(user_agent)
    os_name = result.os.family if result.os else "Other"
    browser = result.user_agent.family if result.user_agent else "Other"
    device_family = result.device.family if result.device else "Other"
    is_bot = device_family == "Spider" or _detector().isCrawler(user_agent)
    return Agent(
        device=_device(user_agent, os_name, is_bot), os=os_name, browser=browser, is_bot=is_bot
    )


@lru_cache(maxsize=8192)
def device_of(user_agent: str) -> str:
    """The device `describe_agent` finds, by the user agent's OS and device family alone,
    for the redirect (offer targeting): without the crawler list, which costs about a
    millisecond per new user agent, so a bot that only crawlerdetect knows, sending a
    browser's user agent, is judged by the device that user agent names."""
    if not user_agent.strip():
        return "bot"
    os_found, device_found = parse_os(user_agent), parse_device(user_agent)
    os_name = os_found.family if os_found else "Other"
    is_bot = device_found is not None and device_found.family == "Spider"
    return _device(user_agent, os_name, is_bot)


@lru_cache(maxsize=65536)
def country_of(ip: str) -> str | None:
    if not ip:
        return None
    try:
        code = iptocc.country_code(ip)
    except ValueError:
        return None
    return code if isinstance(code, str) and len(code) == 2 else None


def click_country(ip: str) -> str | None:
    """The country of a click's stored address (an address, or the network IP_ANONYMIZE
    keeps)."""
    return country_of(anonymize.lookup_address(ip)) if ip else None


def warm_up() -> None:
    """The first parse loads the regexes (~170 ms): pay that at start, not on a click."""
    describe_agent("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0 Safari/537.36")
    device_of("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0 Safari/537.36")
    country_of("8.8.8.8")
