"""The OpenAPI document names the statuses and the error shape the service answers."""

from __future__ import annotations

import httpx

ERROR_REF = {"$ref": "#/components/schemas/Error"}


async def _document(client: httpx.AsyncClient) -> dict:  # type: ignore[type-arg]
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    document: dict = response.json()  # type: ignore[type-arg]
    return document


async def test_every_error_is_the_shared_model_and_no_422_is_left(
    client: httpx.AsyncClient,
) -> None:
    document = await _document(client)

    assert "HTTPValidationError" not in response_text(document)
    for path, item in document["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert "422" not in responses, (method, path)
            for status, response in responses.items():
                if int(status) >= 400 and path != "/ready":
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == ERROR_REF, (method, path, status)


async def test_statuses_follow_from_inputs_and_the_api_key(client: httpx.AsyncClient) -> None:
    paths = (await _document(client))["paths"]

    assert set(paths["/api/v1/offers/{offer_id}"]["patch"]["responses"]) == {
        "200", "400", "401", "403", "404", "409", "503"
    }  # fmt: skip
    assert set(paths["/api/v1/offers"]["get"]["responses"]) == {"200", "400", "401", "403", "503"}
    assert set(paths["/health"]["get"]["responses"]) == {"200"}
    assert "Retry-After" in paths["/api/v1/links"]["post"]["responses"]["503"]["headers"]
    assert set(paths["/pixel.gif"]["get"]["responses"]["200"]["content"]) == {"image/gif"}
    assert set(paths["/pixel.js"]["get"]["responses"]["200"]["content"]) == {
        "application/javascript"
    }


async def test_request_schemas_say_what_the_validators_take(client: httpx.AsyncClient) -> None:
    document = await _document(client)
    schemas = document["components"]["schemas"]

    # PATCH: null only where it clears a value.
    offer_patch = schemas["OfferPatch"]["properties"]
    assert offer_patch["name"].get("type") == "string"
    assert {"type": "null"} in offer_patch["fallback_url"]["anyOf"]
    assert {"type": "null"} in schemas["AffiliatePatch"]["properties"]["email"]["anyOf"]
    # An admin key names no affiliate, an affiliate key names one.
    assert len(schemas["KeyIn"]["oneOf"]) == 2
    cursor = next(
        p for p in document["paths"]["/api/v1/links"]["get"]["parameters"] if p["name"] == "cursor"
    )
    assert cursor["schema"]["anyOf"][0]["pattern"] == "^[0-9]{0,18}$"


def response_text(document: dict) -> str:  # type: ignore[type-arg]
    import json

    return json.dumps(document)
