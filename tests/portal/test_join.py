"""The application form at /join: POST /apply's own rules, for a person with a browser."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from app.db import Pool
from tests.support.portal import browser, csrf_of

FORM = {
    "name": "Zed Media",
    "email": "zed@example.com",
    "website": "https://zed.example",
    "traffic_sources": "newsletter, 40k readers",
    "message": "",
}


async def _send(person: httpx.AsyncClient, fields: dict[str, str]) -> httpx.Response:
    page = await person.get("/join")
    assert page.status_code == 200
    return await person.post("/join", data={"csrf_token": csrf_of(page), **fields})


async def test_an_application_from_the_form_waits_in_the_queue(app: FastAPI, pool: Pool) -> None:
    async with browser(app) as person:
        answer = await _send(person, FORM)
    assert answer.status_code == 200
    assert 'id="join-sent"' in answer.text
    row = await pool.fetchrow(
        "SELECT name, status, website, application FROM affiliates WHERE email = $1",
        FORM["email"],
    )
    assert row is not None
    assert (row["name"], row["status"], row["website"]) == ("Zed Media", "applied", FORM["website"])
    assert row["application"]["traffic_sources"] == FORM["traffic_sources"]
    assert row["application"]["message"] is None  # a blank field is "not given"


async def test_a_known_address_reads_the_same_and_changes_nothing(app: FastAPI, pool: Pool) -> None:
    async with browser(app) as person:
        await _send(person, FORM)
        again = await _send(person, {**FORM, "name": "Someone Else"})
    assert 'id="join-sent"' in again.text
    names = await pool.fetch("SELECT name FROM affiliates WHERE email = $1", FORM["email"])
    assert [r["name"] for r in names] == ["Zed Media"]


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [("email", "not an address", "email"), ("website", "ftp://zed.example", "website")],
)
async def test_bad_input_shows_the_form_again_with_what_was_typed(
    app: FastAPI, pool: Pool, field: str, value: str, said: str
) -> None:
    async with browser(app) as person:
        answer = await _send(person, {**FORM, field: value})
    assert answer.status_code == 400
    assert 'id="join-error"' in answer.text
    assert said in answer.text.split('id="join-error"', 1)[1].split("</p>", 1)[0]
    assert 'value="Zed Media"' in answer.text
    assert await pool.fetchval("SELECT count(*) FROM affiliates") == 0


async def test_a_form_without_its_token_is_refused(app: FastAPI, pool: Pool) -> None:
    async with browser(app) as person:
        await person.get("/join")
        refused = await person.post("/join", data=FORM)
    assert refused.status_code == 403
    assert await pool.fetchval("SELECT count(*) FROM affiliates") == 0
