"""The maps, pure: JSON pointers as RFC 6901 reads them, stages to outcomes, values."""

from __future__ import annotations

import pytest

from app.integrations.mapping import (
    InvalidCall,
    Outcome,
    field_map_for,
    generic_problem,
    lookup_property,
    outcome_of,
    resolve_pointer,
    scalar,
)

# RFC 6901, section 5.
DOCUMENT = {
    "foo": ["bar", "baz"],
    "": 0,
    "a/b": 1,
    "c%d": 2,
    "e^f": 3,
    "g|h": 4,
    "i\\j": 5,
    'k"l': 6,
    " ": 7,
    "m~n": 8,
}


@pytest.mark.parametrize(
    ("pointer", "value"),
    [
        ("/foo", ["bar", "baz"]),
        ("/foo/0", "bar"),
        ("/", 0),
        ("/a~1b", 1),
        ("/c%d", 2),
        ("/e^f", 3),
        ("/g|h", 4),
        ("/i\\j", 5),
        ('/k"l', 6),
        ("/ ", 7),
        ("/m~0n", 8),
    ],
)
def test_pointers_resolve_as_the_rfc_says(pointer: str, value: object) -> None:
    assert resolve_pointer(DOCUMENT, pointer) == value


@pytest.mark.parametrize("pointer", ["/nope", "/foo/2", "/foo/01", "/foo/-", "/foo/x", "/a~1b/c"])
def test_a_pointer_to_nothing_is_none(pointer: str) -> None:
    assert resolve_pointer(DOCUMENT, pointer) is None


def test_stages_match_exactly_then_ignoring_case() -> None:
    stages = {"Closed Won": {"goal": "sale", "status": "approved"}, "closed won": "pending"}
    assert outcome_of(stages, "closed won") == Outcome("pending", None)
    assert outcome_of(stages, "Closed Won") == Outcome("approved", "sale")
    assert outcome_of(stages, "CLOSED WON") == Outcome("approved", "sale")
    assert outcome_of(stages, "Closed Lost") is None


def test_values_and_properties() -> None:
    assert scalar("amount", {"value": "5", "versions": []}) == "5"
    assert scalar("amount", 5.5) == 5.5
    for bad in (True, [1], {"x": 1}):
        with pytest.raises(InvalidCall):
            scalar("amount", bad)
    body = {"amount": "1", "properties": {"dealstage": "won"}}
    assert lookup_property(body, "amount") == "1"
    assert lookup_property(body, "dealstage") == "won"
    assert lookup_property(body, "/properties/dealstage") == "won"
    assert lookup_property(body, "missing") is None


def test_field_maps() -> None:
    assert field_map_for("hubspot", {"click_id": "cid"})["click_id"] == "cid"
    assert field_map_for("hubspot", {})["stage"] == "dealstage"
    assert generic_problem({"click_id": "/c", "txid": "/t", "stage": "/s"}) is None
    assert generic_problem({"click_id": "/c", "txid": "/t"}) is not None
    assert generic_problem({"click_id": "c", "txid": "/t", "stage": "/s"}) is not None
