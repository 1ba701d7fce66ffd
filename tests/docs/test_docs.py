"""/docs and every other page this service serves load nothing from another origin."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from app.docs.routes import POLICY
from tests import browser
from tests.browser import needs_browser, run_script

PAGES = ["/", "/dashboard", "/docs"]
_REFERENCE = re.compile(r"""\b(?:src|href)\s*=\s*["']([^"']*)["']""", re.IGNORECASE)


@pytest.mark.parametrize("path", PAGES)
async def test_a_page_and_its_assets_come_from_this_origin(
    client: httpx.AsyncClient, path: str
) -> None:
    page = await client.get(path)

    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    references = _REFERENCE.findall(page.text)
    assert references
    for reference in references:
        if reference.startswith("#"):
            continue  # a place in the page itself (a skip link): nothing is loaded
        # Same-origin paths only: no scheme, no host, no protocol-relative //cdn.
        assert reference.startswith("/"), reference
        assert not reference.startswith("//"), reference
        if reference.startswith(("/dashboard", "/docs", "/portal")) and "." in reference:
            asset = await client.get(reference)
            assert asset.status_code == 200, reference
            assert "http://" not in asset.headers.get("content-security-policy", "")
            assert "https://" not in asset.headers.get("content-security-policy", "")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self';" in policy
    assert not re.search(r"https?:|\*", policy), policy


async def test_the_docs_page_runs_swagger_ui_from_this_origin(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")

    assert page.headers["content-security-policy"] == POLICY
    assert '<script src="/docs/swagger-ui-bundle.js"' in page.text
    assert '<link rel="stylesheet" href="/docs/swagger-ui.css">' in page.text
    # No inline script for the policy to allow.
    assert page.text.count("<script") == 2
    assert "<script>" not in page.text
    bundle = await client.get("/docs/swagger-ui-bundle.js")
    assert bundle.headers["content-type"] == "text/javascript; charset=utf-8"
    assert "SwaggerUIBundle" in bundle.text
    init = await client.get("/docs/docs.js")
    assert '"/openapi.json"' in init.text
    assert "validatorUrl: null" in init.text
    style = await client.get("/docs/swagger-ui.css")
    assert style.headers["content-type"] == "text/css; charset=utf-8"
    assert ".swagger-ui" in style.text
    # FastAPI's own pages, which load Swagger UI and ReDoc from a CDN, are not served.
    assert (await client.get("/redoc")).status_code == 404
    assert (await client.get("/docs/oauth2-redirect")).status_code == 404


# The app on a loopback port, for the browser (tests/browser.py).
tracker = browser.tracker


@needs_browser
async def test_from_the_sign_in_page_to_working_docs_with_other_origins_blocked(
    tracker: str,
) -> None:
    seen = await run_script(Path(__file__).with_name("browser.js"), tracker)

    assert seen["problems"] == []
    assert seen["blocked"] == []
    # The landing page is the portal's sign-in page, with its way to the docs.
    assert seen["heading"] == "Sign in"
    assert [(link["href"], link["seen"]) for link in seen["links"]] == [
        ("/forgot", True),
        ("/join", True),
        ("/docs", True),
    ]
    docs = seen["docs"]
    assert docs["url"] == "/docs"
    assert docs["title"].startswith("Tracker")
    assert {"/api/v1/offers", "/api/v1/stats", "/postback"} <= set(docs["paths"])
    width, height = docs["firstBox"]
    assert width > 0
    assert height > 0
    assert docs["methodBackground"] not in ("rgba(0, 0, 0, 0)", "transparent")
    assert {"/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css", "/openapi.json"} <= set(
        seen["loaded"]
    )
