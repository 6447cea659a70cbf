"""The GraphQL-over-HTTP specification on a real server, with production settings
(introspection off): media types, status codes, `data` before execution, 405 and 401."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.integration.conftest import Factview

GRAPHQL_RESPONSE = "application/graphql-response+json"
BROKEN = {
    "parse": ({"query": "{"}, "Syntax Error"),
    "validation": ({"query": "{ nothingHere }"}, "Cannot query field"),
    "variables": (
        {"query": "query($id: ID!) { account(id: $id) { id } }", "variables": {"id": {}}},
        "Variable '$id'",
    ),
}


async def post(fv: Factview, body: dict[str, Any], accept: str | None) -> httpx.Response:
    headers = {"accept": accept} if accept is not None else {}
    return await fv.http.post("/graphql", json=body, headers=headers)


@pytest.mark.parametrize("accept", [GRAPHQL_RESPONSE, f"{GRAPHQL_RESPONSE}, application/json"])
async def test_the_spec_s_media_type_when_the_client_accepts_it(
    factview: Factview, accept: str
) -> None:
    response = await post(factview, {"query": "{ __typename }"}, accept)
    assert response.status_code == 200
    assert response.headers["content-type"] == f"{GRAPHQL_RESPONSE}; charset=utf-8"
    assert response.json()["data"] == {"__typename": "Query"}


@pytest.mark.parametrize(
    "accept", [None, "*/*", "application/json", f"application/json, {GRAPHQL_RESPONSE};q=0.5"]
)
async def test_application_json_otherwise(factview: Factview, accept: str | None) -> None:
    response = await post(factview, {"query": "{ __typename }"}, accept)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"


@pytest.mark.parametrize("kind", list(BROKEN))
async def test_a_request_error_is_400_under_the_spec_s_media_type_without_data(
    factview: Factview, kind: str
) -> None:
    body, message = BROKEN[kind]
    response = await post(factview, body, GRAPHQL_RESPONSE)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    answer = response.json()
    assert "data" not in answer, answer  # nothing was executed
    assert message in answer["errors"][0]["message"], answer


@pytest.mark.parametrize("kind", list(BROKEN))
async def test_a_request_error_is_200_under_application_json_still_without_data(
    factview: Factview, kind: str
) -> None:
    body, message = BROKEN[kind]
    response = await post(factview, body, "application/json")
    assert response.status_code == 200, response.text
    answer = response.json()
    assert "data" not in answer, answer
    assert message in answer["errors"][0]["message"], answer


async def test_an_error_during_execution_keeps_data_and_200(factview: Factview) -> None:
    # A field error (it has a path) after execution began: `data` is there, null or not.
    response = await post(
        factview, {"query": "{ customers(first: -1) { nodes { id } } }"}, GRAPHQL_RESPONSE
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert "data" in answer and answer["errors"][0]["path"] == ["customers"], answer


async def test_a_mutation_over_get_is_405_with_allow(factview: Factview) -> None:
    mutation = 'mutation { deposit(accountId: "a", amount: "1.00") { __typename } }'
    for accept in ("application/json", GRAPHQL_RESPONSE):
        response = await factview.http.get(
            "/graphql", params={"query": mutation}, headers={"accept": accept}
        )
        assert response.status_code == 405, response.text
        assert response.headers["allow"] == "POST"
        assert response.headers["content-type"].startswith(accept)
        assert response.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"
    # A query over GET still runs.
    query = await factview.http.get("/graphql", params={"query": "{ __typename }"})
    assert query.status_code == 200 and query.json()["data"] == {"__typename": "Query"}


async def test_401_carries_a_bearer_challenge(factview: Factview) -> None:
    async with httpx.AsyncClient(base_url=factview.server.url, timeout=10) as anonymous:
        missing = await anonymous.post("/graphql", json={"query": "{ __typename }"})
        refused = await anonymous.post(
            "/graphql",
            json={"query": "{ __typename }"},
            headers={"authorization": "Bearer not-a-jwt", "accept": GRAPHQL_RESPONSE},
        )
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"  # RFC 6750 §3: no error code
    assert missing.headers["content-type"] == "application/json"
    assert missing.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert refused.headers["content-type"].startswith(GRAPHQL_RESPONSE)
