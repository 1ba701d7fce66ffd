"""app/partners/events.py: the lifecycle's webhook events, once per change, with names,
to the program and to that affiliate's own endpoints only."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx

from tests.helpers import create
from tests.partners.test_lifecycle import act, applicant
from tests.support.webhooks import subscribe, told

STATUS = ["affiliate.applied", "affiliate.status_changed"]


async def test_an_application_and_its_status_changes_are_told_once_each(
    client: httpx.AsyncClient, admin: dict[str, str], pool: asyncpg.Pool
) -> None:
    other = await create(client, "affiliates", {"name": "Other"}, admin)
    program = await subscribe(pool, STATUS)
    of_other = await subscribe(pool, STATUS, affiliate_id=other["id"])
    applied = await applicant(pool, client, "new@aff.example")
    of_applicant = await subscribe(pool, STATUS, affiliate_id=applied)
    assert (await act(client, admin, applied, "approve", reason="good site")).status_code == 200
    assert (await act(client, admin, applied, "approve")).status_code == 200  # no change
    assert (await act(client, admin, applied, "suspend")).status_code == 200

    assert await told(pool, "affiliate.applied") == [
        (
            program,
            {
                "affiliate_id": applied,
                "name": "Applicant",
                "status": "applied",
                "previous_status": None,
                "reason": "applied",
                "actor": "apply",
            },
        )
    ]
    changes = await told(pool, "affiliate.status_changed")
    assert [(w, d["previous_status"], d["status"], d["reason"]) for w, d in changes] == [
        (program, "applied", "active", "good site"),
        (of_applicant, "applied", "active", "good site"),
        (program, "active", "suspended", None),
        (of_applicant, "active", "suspended", None),
    ]
    assert {d["name"] for _, d in changes} == {"Applicant"}
    assert of_other not in {w for w, _ in changes}


async def test_a_group_move_carries_both_groups_and_a_new_affiliates_group_is_none(
    client: httpx.AsyncClient, admin: dict[str, str], pool: asyncpg.Pool
) -> None:
    gold = await create(client, "groups", {"name": "Gold", "rank": 2}, admin)
    silver = await create(client, "groups", {"name": "Silver", "rank": 1}, admin)
    program = await subscribe(pool, ["affiliate.group_changed"])
    alice = await create(client, "affiliates", {"name": "Alice", "group_id": silver["id"]}, admin)
    assert await told(pool, "affiliate.group_changed") == []

    for group_id in (gold["id"], None):
        response = await client.patch(
            f"/api/v1/affiliates/{alice['id']}", json={"group_id": group_id}, headers=admin
        )
        assert response.status_code == 200, response.text

    told_moves = await told(pool, "affiliate.group_changed")
    assert {w for w, _ in told_moves} == {program}
    moves: list[dict[str, Any]] = [d for _, d in told_moves]
    assert [
        (d["previous_group_id"], d["previous_group_name"], d["group_id"], d["group_name"])
        for d in moves
    ] == [(silver["id"], "Silver", gold["id"], "Gold"), (gold["id"], "Gold", None, None)]
    assert {(d["affiliate_id"], d["name"], d["actor"]) for d in moves} == {
        (alice["id"], "Alice", "admin")
    }


async def test_nothing_is_stored_when_no_endpoint_subscribes(
    client: httpx.AsyncClient, admin: dict[str, str], pool: asyncpg.Pool
) -> None:
    await subscribe(pool, ["payout.paid"])
    applied = await applicant(pool, client, "quiet@aff.example")
    await act(client, admin, applied, "approve")
    assert await pool.fetchval("SELECT count(*) FROM deliveries") == 0
