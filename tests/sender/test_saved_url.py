"""An affiliate's postback_url is checked against the SSRF rules when it is saved."""

from __future__ import annotations

import httpx
import pytest

from app.settings import Settings
from tests.fixtures.receiver import LOOPBACK
from tests.helpers import assert_error, create

API = "/api/v1/affiliates"

REFUSED_URLS = [
    pytest.param("http://127.0.0.1/pb?t={txid}", id="loopback-v4"),
    pytest.param("http://[::1]:8080/pb", id="loopback-v6"),
    pytest.param("http://10.1.2.3/pb", id="private"),
    pytest.param("http://169.254.169.254/latest/meta-data", id="metadata"),
    pytest.param("http://[::ffff:127.0.0.1]/pb", id="v4-mapped"),
    pytest.param("http://0.0.0.0/pb", id="unspecified"),
    pytest.param("http://100.64.0.1/pb", id="cgnat"),
    pytest.param("http://localhost:9000/pb", id="name-resolving-to-loopback"),
]


@pytest.mark.parametrize("url", REFUSED_URLS)
async def test_create_refuses_internal_postback_url(
    client: httpx.AsyncClient, admin: dict[str, str], url: str
) -> None:
    response = await client.post(API, json={"name": "Eve", "postback_url": url}, headers=admin)

    error = assert_error(response, 400, "invalid_request")
    assert error["message"].startswith("postback_url: ")
    assert "not a public address" in error["message"]


@pytest.mark.parametrize("url", REFUSED_URLS)
async def test_update_refuses_internal_postback_url(
    client: httpx.AsyncClient, admin: dict[str, str], url: str
) -> None:
    affiliate = await create(client, "affiliates", {"name": "Eve"}, admin)

    response = await client.patch(
        f"{API}/{affiliate['id']}", json={"postback_url": url}, headers=admin
    )

    assert_error(response, 400, "invalid_request")
    stored = (await client.get(f"{API}/{affiliate['id']}", headers=admin)).json()
    assert stored["postback_url"] is None


async def test_public_or_unresolvable_names_are_saved(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    for url in ("https://aff.example/pb?t={txid}", "http://93.184.216.34/pb"):
        created = await create(client, "affiliates", {"name": "Ann", "postback_url": url}, admin)
        assert created["postback_url"] == url


class TestAllowedNetworks:
    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        return settings.model_copy(update={"sender_allowed_networks": LOOPBACK})

    async def test_allowed_network_may_be_saved(
        self, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        url = "http://127.0.0.1:9000/pb?t={txid}"
        created = await create(client, "affiliates", {"name": "Onprem", "postback_url": url}, admin)
        assert created["postback_url"] == url
        other = await client.post(
            API, json={"name": "Eve", "postback_url": "http://10.0.0.1/"}, headers=admin
        )
        assert_error(other, 400, "invalid_request")
