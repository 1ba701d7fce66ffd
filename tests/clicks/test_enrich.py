import pytest

from app.clicks.enrich import country_of, describe_agent, device_of

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)
IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/16.6 Mobile/15E148 Safari/604.1"
)
PIXEL = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36"
)
GALAXY_TAB = (
    "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
WINDOWS_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
MAC_SAFARI = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Safari/605.1.15"
)
LINUX_FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"


@pytest.mark.parametrize(
    ("user_agent", "device", "os", "browser"),
    [
        (IPHONE, "mobile", "iOS", "Mobile Safari"),
        (IPAD, "tablet", "iOS", "Mobile Safari"),
        (PIXEL, "mobile", "Android", "Chrome Mobile"),
        (GALAXY_TAB, "tablet", "Android", "Chrome"),
        (WINDOWS_CHROME, "desktop", "Windows", "Chrome"),
        (MAC_SAFARI, "desktop", "Mac OS X", "Safari"),
        (LINUX_FIREFOX, "desktop", "Linux", "Firefox"),
    ],
)
def test_real_browsers(user_agent: str, device: str, os: str, browser: str) -> None:
    agent = describe_agent(user_agent)
    assert (agent.device, agent.os, agent.browser, agent.is_bot) == (device, os, browser, False)
    # The redirect's lookup (offer targeting) finds the same device.
    assert device_of(user_agent) == device


@pytest.mark.parametrize(
    "user_agent",
    [
        "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
        "Twitterbot/1.0",
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "WhatsApp/2.23.20.0",
        "TelegramBot (like TwitterBot)",
        "curl/8.4.0",
        "python-requests/2.31.0",
        "Go-http-client/1.1",
        "",
        "   ",
    ],
)
def test_bots_link_previews_and_scripts(user_agent: str) -> None:
    agent = describe_agent(user_agent)
    assert agent.is_bot
    assert agent.device == "bot"
    # Without the crawler list, none of them passes for a desktop, mobile or tablet.
    assert device_of(user_agent) in ("bot", "other")


@pytest.mark.parametrize(
    ("ip", "country"),
    [
        ("81.2.69.142", "GB"),
        ("8.8.8.8", "US"),
        ("2a00:1450:4001::1", "IE"),
        ("127.0.0.1", None),
        ("10.1.2.3", None),
        ("not an ip", None),
        ("", None),
    ],
)
def test_country_from_ip(ip: str, country: str | None) -> None:
    assert country_of(ip) == country
