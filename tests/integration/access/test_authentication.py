"""Authentication through real clients: no valid token gets nothing, over HTTP (whatever the
request looks like) or a websocket, and the refusal never says which check failed."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import jwt
import pytest
import websockets
from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportQueryError
from gql.transport.websockets import WebsocketsTransport

from app.http.documents import digest
from app.settings import Settings
from tests.integration.test_trusted_documents import LISTED
from tests.support.stack import Factview, bearer, ws_url


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer garbage"}, {"Authorization": "Basic b3BzOm9wcw=="}],
    ids=["none", "garbage", "basic"],
)
async def test_no_valid_token_gets_nothing(fv: Factview, headers: dict[str, str]) -> None:
    async with httpx.AsyncClient(base_url=fv.server.url) as anonymous:
        response = await anonymous.post(
            "/graphql", json={"query": "{ customers { nodes { id } } }"}, headers=headers
        )
    assert response.status_code == 401
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "data" not in body


async def test_a_get_operation_is_gated_whatever_it_accepts(fv: Factview) -> None:
    # A browser-like Accept must not turn an operation into "the IDE page" and skip the gate.
    async with httpx.AsyncClient(base_url=fv.server.url) as anonymous:
        response = await anonymous.get(
            "/graphql",
            params={"query": "{ customers { nodes { id name } } }"},
            headers={"Accept": "text/html,application/xhtml+xml"},
        )
    assert response.status_code == 401
    assert "data" not in response.json()
    # Nor does naming the operation by its persisted hash instead of its text.
    async with httpx.AsyncClient(base_url=fv.server.url) as anonymous:
        persisted = await anonymous.get(
            "/graphql",
            params={"extensions": json.dumps(persisted_customers())},
            headers={"Accept": "text/html"},
        )
    assert persisted.status_code == 401
    async with httpx.AsyncClient(base_url=fv.server.url) as anonymous:
        page = await anonymous.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()


def persisted_customers() -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": digest(LISTED["Customers"])}}


async def test_subscriptions_authenticate_in_connection_init(
    fv: Factview, two_customers: dict[str, str]
) -> None:
    async with websockets.connect(ws_url(fv), subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send('{"type": "connection_init", "payload": {"Authorization": "Bearer nope"}}')
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403

    transport = WebsocketsTransport(
        url=ws_url(fv),
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
        init_payload=bearer(fv.settings, "customer", two_customers["ann"]),
    )
    query = "subscription($id: ID!) { accountUpdated(id: $id) { id balance } }"
    async with Client(transport=transport) as session:
        own = session.subscribe(
            GraphQLRequest(query, variable_values={"id": two_customers["ann_acc"]})
        )
        first = await anext(own)
        assert first["accountUpdated"]["balance"] == "5.00"
        await own.aclose()
        with pytest.raises(TransportQueryError) as refused:
            await anext(
                session.subscribe(
                    GraphQLRequest(query, variable_values={"id": two_customers["bob_acc"]})
                )
            )
        assert refused.value.errors is not None
        assert refused.value.errors[0]["extensions"]["code"] == "FORBIDDEN"


def _signed(settings: Settings, **claims: Any) -> str:
    payload = {
        "sub": "ops",
        "role": "staff",
        "aud": settings.auth_audience,
        "iss": settings.auth_issuer,
        **claims,
    }
    secret = settings.auth_jwt_secret
    assert secret is not None
    return jwt.encode(payload, secret.get_secret_value(), algorithm="HS256")


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": str(int(time.time()) + 600)},  # a numeric string
        {"exp": int(time.time()) + 10**20},  # lives forever
        {"iat": int(time.time()), "exp": int(time.time()) + 2 * 24 * 3600},
    ],
    ids=["string-exp", "forever", "two-days"],
)
async def test_tokens_with_odd_dates_or_long_lives_are_refused_generically(
    fv: Factview, claims: dict[str, Any]
) -> None:
    forged = _signed(fv.settings, **claims)
    async with httpx.AsyncClient(base_url=fv.server.url) as client:
        response = await client.post(
            "/graphql",
            json={"query": "{ __typename }"},
            headers={"Authorization": f"Bearer {forged}"},
        )
    assert response.status_code == 401
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    # The client learns that it is refused, not which check it tripped.
    assert error["message"] == "a valid bearer token is required"

    async with websockets.connect(ws_url(fv), subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(
            json.dumps(
                {"type": "connection_init", "payload": {"Authorization": f"Bearer {forged}"}}
            )
        )
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
