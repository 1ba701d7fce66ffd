from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest

from app import sealing
from app.partners import payment as payment_crypto
from app.partners import profile
from app.settings import Settings
from tests.helpers import affiliate_headers, assert_error, create

API = "/api/v1/affiliates"
BANK = {
    "method": "bank",
    "account_holder": "Jane Doe",
    "iban": "DE89 3704 0044 0532 0130 00",
    "bic": "COBADEFFXXX",
}


async def put_payment(
    client: httpx.AsyncClient, headers: dict[str, str], affiliate_id: int, body: dict[str, Any]
) -> httpx.Response:
    return await client.put(f"{API}/{affiliate_id}/payment", json=body, headers=headers)


async def test_the_profile_fields_are_stored_and_returned(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    key = await create(client, "keys", {"role": "admin", "name": "manager"}, admin)
    body = {
        "name": "Alice",
        "company": "Alice Media GmbH",
        "website": "https://alice.example",
        "country": "DE",
        "contact": {"channel": "telegram", "handle": "@alice"},
        "tags": ["vip", "seo", "vip"],
        "manager_id": key["id"],
    }

    made = await create(client, "affiliates", body, admin)

    assert made["country"] == "DE"
    assert made["tags"] == ["vip", "seo"]
    assert made["contact"] == {"channel": "telegram", "handle": "@alice"}
    assert (made["company"], made["website"], made["manager_id"]) == (
        "Alice Media GmbH",
        "https://alice.example",
        key["id"],
    )
    assert made["payment"] is None
    got = (await client.get(f"{API}/{made['id']}", headers=admin)).json()
    assert got == made


@pytest.mark.parametrize(
    "fields",
    [
        {"country": "XX"},
        {"country": "de"},
        {"country": "DEU"},
        {"contact": {"channel": "fax", "handle": "1"}},
        {"contact": {"channel": "email"}},
        {"website": "ftp://alice.example"},
        {"tags": ["no,commas"]},
        {"manager_id": "1"},
    ],
)
async def test_bad_profile_fields_are_400(
    client: httpx.AsyncClient, admin: dict[str, str], pool: asyncpg.Pool, fields: dict[str, Any]
) -> None:
    response = await client.post(API, json={"name": "Alice", **fields}, headers=admin)
    assert_error(response, 400)
    assert await pool.fetchval("SELECT count(*) FROM affiliates") == 0


async def test_manager_must_be_an_admin_key_and_group_must_exist(
    client: httpx.AsyncClient, admin: dict[str, str], affiliate: dict[str, Any]
) -> None:
    affiliate_key = await create(
        client, "keys", {"role": "affiliate", "affiliate_id": affiliate["id"]}, admin
    )
    path = f"{API}/{affiliate['id']}"
    for fields in ({"manager_id": affiliate_key["id"]}, {"manager_id": 999}, {"group_id": 999}):
        response = await client.patch(path, json=fields, headers=admin)
        assert_error(response, 409, "invalid_reference")
    assert (await client.get(path, headers=admin)).json() == affiliate


async def test_tags_filter_the_list(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    vip = await create(client, "affiliates", {"name": "A", "tags": ["vip", "seo"]}, admin)
    await create(client, "affiliates", {"name": "B", "tags": ["seo"]}, admin)

    page = (await client.get(API, params={"tag": "vip"}, headers=admin)).json()

    assert page["items"] == [vip]
    assert (await client.get(API, params={"tag": "none"}, headers=admin)).json()["items"] == []


@pytest.mark.parametrize(
    ("body", "shown"),
    [
        (
            BANK,
            {
                "method": "bank",
                "account_holder": "J*** D***",
                "iban": "DE89 **** **** 3000",
                "bic": "COBADEFFXXX",
            },
        ),
        (
            {"method": "paypal", "email": "jane@example.com"},
            {"method": "paypal", "email": "j***@example.com"},
        ),
        (
            {"method": "wise", "account_holder": "Jane", "account_number": "12345678"},
            {"method": "wise", "account_holder": "J***", "account_number": "****5678"},
        ),
    ],
)
async def test_payment_details_are_encrypted_at_rest_and_shown_masked(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    affiliate: dict[str, Any],
    pool: asyncpg.Pool,
    settings: Settings,
    body: dict[str, Any],
    shown: dict[str, Any],
) -> None:
    own = await affiliate_headers(client, admin, affiliate["id"])

    response = await put_payment(client, own, affiliate["id"], body)

    assert response.status_code == 200, response.text
    expected = {
        "email": None,
        "account_holder": None,
        "iban": None,
        "account_number": None,
        "bic": None,
        **shown,
    }
    assert response.json() == expected
    for headers in (admin, own):
        got = (await client.get(f"{API}/{affiliate['id']}", headers=headers)).json()
        assert got["payment"] == expected
    raw = await pool.fetchval("SELECT payment_encrypted FROM affiliates")
    stored_mask = await pool.fetchval("SELECT payment_masked::text FROM affiliates")
    # Every secret value as given and as stored (an IBAN compact), but not the BIC or method.
    secrets = {v for k, v in body.items() if k not in ("method", "bic")}
    secrets |= {v.replace(" ", "") for v in secrets}
    for plain in secrets:
        assert plain.encode() not in raw
        assert plain not in stored_mask
    assert "bic" not in body or body["bic"] in stored_mask
    # The key (made in the development data folder) opens it again.
    cipher = payment_crypto.PaymentCipher.of_key(
        sealing.decode_key((settings.tracker_data_dir / sealing.KEY_FILE).read_text())
    )
    details = await profile.payment_details(pool, affiliate_ids=[affiliate["id"]], cipher=cipher)
    assert details == {
        affiliate["id"]: {
            k: (str(v).replace(" ", "") if k == "iban" else v) for k, v in body.items()
        }
    }


async def test_ciphertext_is_bound_to_its_affiliate(
    client: httpx.AsyncClient, admin: dict[str, str], catalog: dict[str, Any], pool: asyncpg.Pool
) -> None:
    alice, bob = catalog["alice"]["id"], catalog["bob"]["id"]
    assert (await put_payment(client, admin, alice, BANK)).status_code == 200
    blob = await pool.fetchval("SELECT payment_encrypted FROM affiliates WHERE id = $1", alice)
    cipher = payment_crypto.PaymentCipher.of_key(b"k" * 32)
    other = cipher.encrypt(alice, {"x": 1})

    with pytest.raises(sealing.DataKeyWrong, match="does not open"):
        cipher.decrypt(bob, other)
    assert cipher.decrypt(alice, other) == {"x": 1}
    assert blob[:1] == b"\x01"


async def test_a_put_replaces_the_payment(
    client: httpx.AsyncClient, admin: dict[str, str], affiliate: dict[str, Any]
) -> None:
    await put_payment(client, admin, affiliate["id"], BANK)
    response = await put_payment(
        client, admin, affiliate["id"], {"method": "paypal", "email": "jane@example.com"}
    )
    assert response.json()["iban"] is None
    got = (await client.get(f"{API}/{affiliate['id']}", headers=admin)).json()
    assert got["payment"]["method"] == "paypal"
    assert got["payment"]["iban"] is None


@pytest.mark.parametrize(
    "body",
    [
        {**BANK, "iban": "DE89 3704 0044 0532 0130 01"},  # checksum
        {**BANK, "bic": "NOTABIC"},
        {"method": "bank", "iban": BANK["iban"], "bic": BANK["bic"]},
        {"method": "wise", "account_holder": "Jane"},
        {"method": "wise"},
        {"method": "paypal", "email": "nope"},
        {"method": "cash"},
        {"method": "paypal", "email": "jane@example.com", "extra": 1},
    ],
)
async def test_bad_payment_details_are_400_and_keep_the_old(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    affiliate: dict[str, Any],
    pool: asyncpg.Pool,
    body: dict[str, Any],
) -> None:
    await put_payment(client, admin, affiliate["id"], BANK)
    before = await pool.fetchrow("SELECT payment_encrypted, payment_masked FROM affiliates")

    assert_error(await put_payment(client, admin, affiliate["id"], body), 400)

    assert await pool.fetchrow("SELECT payment_encrypted, payment_masked FROM affiliates") == before


async def test_an_affiliate_edits_only_its_own_allowed_fields(
    client: httpx.AsyncClient, admin: dict[str, str], catalog: dict[str, Any], pool: asyncpg.Pool
) -> None:
    alice, bob = catalog["alice"]["id"], catalog["bob"]["id"]
    own = await affiliate_headers(client, admin, alice)
    allowed = {
        "company": "Alice Ltd",
        "website": "https://alice.example",
        "country": "FR",
        "contact": {"channel": "email", "handle": "alice@aff.example"},
        "postback_url": "https://alice.example/pb?cid={click_id}",
        "postback_method": "POST",
        "postback_on": "all",
    }

    edited = await client.patch(f"{API}/{alice}", json=allowed, headers=own)

    assert edited.status_code == 200, edited.text
    assert {k: edited.json()[k] for k in allowed} == allowed
    before = await pool.fetch("SELECT * FROM affiliates ORDER BY id")
    for refused in (
        {"status": "suspended"},
        {"tags": ["vip"]},
        {"group_id": None},
        {"manager_id": None},
        {"name": "Mallory"},
        {"company": "X", "tags": []},
        {"signing_secret": "s" * 32},
    ):
        response = await client.patch(f"{API}/{alice}", json=refused, headers=own)
        assert_error(response, 403, "forbidden")
    assert_error(await client.patch(f"{API}/{bob}", json=allowed, headers=own), 403)
    assert_error(await put_payment(client, own, bob, BANK), 403)
    assert_error(await put_payment(client, own, 999, BANK), 403)
    assert_error(await put_payment(client, admin, 999, BANK), 404)
    assert await pool.fetch("SELECT * FROM affiliates ORDER BY id") == before


async def test_production_without_a_key_refuses_to_start_once_payments_are_stored(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    affiliate: dict[str, Any],
    pool: asyncpg.Pool,
    settings: Settings,
) -> None:
    production = settings.model_copy(update={"environment": "production"})
    async with pool.acquire() as conn:
        kinds = [payment_crypto.SEALED]
        assert await sealing.open_sealer(settings=production, conn=conn, kinds=kinds) is None
        await put_payment(client, admin, affiliate["id"], BANK)
        with pytest.raises(RuntimeError, match="DATA_KEY is not set"):
            await sealing.open_sealer(settings=production, conn=conn, kinds=kinds)
    with pytest.raises(payment_crypto.PaymentKeyMissing):
        payment_crypto.require(None)
