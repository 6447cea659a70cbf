"""Websocket abuse, as a hostile client sends it over a real socket to a real server.

A socket ends with its token (4403), carries only the identity verified in connection_init,
answers malformed messages with 4400, oversized ones with 1009, runs queries and mutations under
the operation deadline, and one token subject holds a bounded number of sockets and operations.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.auth import token_for
from app.consistency import Facts
from app.embedded import free_port
from app.serving import start_server
from app.topics import ensure_topics
from tests.facts import account_event, at, customer_event, produce
from tests.integration.conftest import Factview, eventually, factview_settings
from tests.integration.stack import running_factview, ws_url

PROTOCOL = ["graphql-transport-ws"]
ACCOUNT_UPDATED = "subscription($id: ID!) { accountUpdated(id: $id) { id balance } }"


class RecordingOwner:
    """A real owner stand-in that records the Authorization each forwarded write carried."""

    def __init__(self) -> None:
        self.authorizations: list[str | None] = []

    def app(self) -> Starlette:
        async def record(request: Request) -> JSONResponse:
            self.authorizations.append(request.headers.get("authorization"))
            return JSONResponse({"error": {"code": "not_found", "message": "recorded"}}, 404)

        return Starlette(routes=[Route("/{path:path}", record, methods=["POST", "PATCH"])])


@pytest.fixture(scope="module")
async def owner() -> AsyncIterator[tuple[RecordingOwner, str]]:
    recording = RecordingOwner()
    server = await start_server(recording.app(), "127.0.0.1", free_port())
    yield recording, server.url
    await server.stop()


@pytest.fixture(scope="module")
async def fv(
    kafka_bootstrap: str, mongo_uri: str, owner: tuple[RecordingOwner, str]
) -> AsyncIterator[Factview]:
    settings = factview_settings(
        kafka_bootstrap,
        mongo_uri,
        uuid.uuid4().hex[:10],
        customers_owner_url=owner[1],
        accounts_owner_url=owner[1],
        auth_leeway_seconds=0,
        operation_timeout_seconds=1.0,
        fold_wait_seconds=5.0,
        max_connections_per_subject=2,
        max_subscriptions_per_subject=3,
    )
    await ensure_topics(kafka_bootstrap, settings.kafka_topics)
    async with running_factview(settings) as instance:
        yield instance


@pytest.fixture(scope="module")
async def ann(fv: Factview) -> dict[str, str]:
    ids = {"customer": f"cus-{uuid.uuid4().hex[:6]}", "account": f"acc-{uuid.uuid4().hex[:6]}"}
    boot = fv.settings.kafka_bootstrap_servers
    await produce(
        boot,
        fv.customers_topic,
        [customer_event("customer.registered", ids["customer"], at(0), name="Ann", email="a@x")],
    )
    await produce(
        boot,
        fv.accounts_topic,
        [
            account_event(
                "account.opened", ids["account"], at(1), customerId=ids["customer"], currency="EUR"
            )
        ],
    )
    await eventually(
        lambda: fv.runtime.db.accounts.find_one({"_id": ids["account"]}),
        lambda doc: doc is not None,
    )
    return ids


def init(token: str) -> str:
    return json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})


def subscribe(op_id: Any, query: str, **variables: Any) -> str:
    payload = {"query": query, "variables": variables}
    return json.dumps({"id": op_id, "type": "subscribe", "payload": payload})


async def recv(ws: websockets.ClientConnection, timeout: float = 10.0) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    return message


async def closed_with(ws: websockets.ClientConnection, timeout: float = 10.0) -> tuple[int, str]:
    """Read until the server closes the socket; its close code and reason."""
    deadline = time.monotonic() + timeout
    with pytest.raises(websockets.ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.monotonic()))
    frame = closed.value.rcvd
    assert frame is not None, f"closed without a close frame: {closed.value!r}"
    return frame.code, frame.reason


async def acked(fv: Factview, token: str, **connect: Any) -> websockets.ClientConnection:
    ws = await websockets.connect(ws_url(fv), subprotocols=PROTOCOL, **connect)  # type: ignore[arg-type]
    await ws.send(init(token))
    assert (await recv(ws))["type"] == "connection_ack"
    return ws


async def test_a_socket_closes_4403_when_its_token_expires_and_its_subscription_ends(
    fv: Factview, ann: dict[str, str]
) -> None:
    short = token_for(fv.settings, "ops-expiring", "staff", ttl_seconds=3)
    opened = time.monotonic()
    ws = await acked(fv, short)
    await ws.send(subscribe("1", ACCOUNT_UPDATED, id=ann["account"]))
    first = await recv(ws)
    assert first["type"] == "next" and first["payload"]["data"]["accountUpdated"]["id"]
    code, reason = await closed_with(ws, timeout=10)
    assert (code, reason) == (4403, "token expired")
    assert time.monotonic() - opened >= 2.0  # the token's life, not an early refusal


@pytest.mark.parametrize(
    "raw", ["[1, 2]", "5", "null", '"text"', '{"type": 7}', '{"type": "complete", "id": [1]}']
)
async def test_a_message_that_is_not_an_object_closes_4400(fv: Factview, raw: str) -> None:
    ws = await acked(fv, token_for(fv.settings, "ops-shapes", "staff"))
    await ws.send(raw)
    code, _ = await closed_with(ws)
    assert code == 4400


@pytest.mark.parametrize("op_id", [5, None, ["a"], "", "x" * 129])
async def test_a_subscription_id_that_is_not_a_short_string_closes_4400(
    fv: Factview, op_id: Any
) -> None:
    ws = await acked(fv, token_for(fv.settings, "ops-ids", "staff"))
    await ws.send(subscribe(op_id, "{ __typename }"))
    code, reason = await closed_with(ws)
    assert code == 4400 and "id" in reason


async def test_a_message_over_the_body_limit_closes_1009(fv: Factview) -> None:
    ws = await acked(fv, token_for(fv.settings, "ops-big", "staff"))
    padding = "x" * (fv.settings.max_body_bytes + 1)
    await ws.send(subscribe("1", "{ __typename }", pad=padding))
    code, reason = await closed_with(ws)
    assert code == 1009 and str(fv.settings.max_body_bytes) in reason


async def test_a_query_over_a_socket_is_cut_off_at_the_operation_deadline(fv: Factview) -> None:
    # Facts that never arrive: the read would wait fold_wait_seconds (5 s); the deadline is 1 s.
    ws = await acked(fv, token_for(fv.settings, "ops-slow", "staff"))
    never = Facts("accounts", (uuid.uuid4().hex,)).token()
    query = 'query($t: String) { account(id: "x", consistencyToken: $t) { id } }'
    started = time.monotonic()
    await ws.send(subscribe("1", query, t=never))
    answer = await recv(ws)
    assert answer["type"] == "error", answer
    assert answer["payload"][0]["extensions"]["code"] == "OPERATION_TIMEOUT"
    assert time.monotonic() - started < 3.0
    await ws.close()


async def test_a_write_forwards_the_connection_init_token_never_the_upgrade_headers(
    fv: Factview, ann: dict[str, str], owner: tuple[RecordingOwner, str]
) -> None:
    recording = owner[0]
    staff = token_for(fv.settings, "ops-upgrade", "staff")
    customer = token_for(fv.settings, ann["customer"], "customer")
    ws = await acked(fv, customer, additional_headers={"Authorization": f"Bearer {staff}"})
    deposit = 'mutation($id: ID!) { deposit(accountId: $id, amount: "1.00") { __typename } }'
    await ws.send(subscribe("1", deposit, id=ann["account"]))
    answer = await recv(ws)
    assert answer["type"] == "next", answer
    assert recording.authorizations[-1] == f"Bearer {customer}"
    assert f"Bearer {staff}" not in recording.authorizations
    await ws.close()


async def test_one_subject_holds_at_most_its_connection_limit(fv: Factview) -> None:
    token = token_for(fv.settings, "ops-sockets", "staff")
    first, second = await acked(fv, token), await acked(fv, token)
    third = await websockets.connect(ws_url(fv), subprotocols=PROTOCOL)  # type: ignore[arg-type]
    await third.send(init(token))
    code, reason = await closed_with(third)
    assert (code, reason) == (4429, "too many connections for this caller (limit 2)")
    # Another subject is not affected, and a closed socket frees its place.
    other = await acked(fv, token_for(fv.settings, "ops-other", "staff"))
    await first.close()
    await eventually(lambda: _try_connect(fv, token), lambda ok: ok)
    await second.close()
    await other.close()


async def _try_connect(fv: Factview, token: str) -> bool:
    async with websockets.connect(ws_url(fv), subprotocols=PROTOCOL) as ws:  # type: ignore[arg-type]
        await ws.send(init(token))
        try:
            return bool((await recv(ws))["type"] == "connection_ack")
        except websockets.ConnectionClosed:
            return False


async def test_one_subject_runs_at_most_its_operation_limit_across_sockets(
    fv: Factview, ann: dict[str, str]
) -> None:
    token = token_for(fv.settings, "ops-operations", "staff")
    a, b = await acked(fv, token), await acked(fv, token)
    for ws, op_id in ((a, "1"), (a, "2"), (b, "3")):
        await ws.send(subscribe(op_id, ACCOUNT_UPDATED, id=ann["account"]))
        assert (await recv(ws))["type"] == "next"
    await b.send(subscribe("4", ACCOUNT_UPDATED, id=ann["account"]))
    refused = await recv(b)
    assert refused["type"] == "error" and refused["id"] == "4"
    assert refused["payload"][0]["extensions"]["code"] == "TOO_MANY_OPERATIONS"
    # Completing one frees its place for the caller's next operation.
    await a.send(json.dumps({"id": "1", "type": "complete"}))

    async def retry() -> dict[str, Any]:
        await b.send(subscribe(uuid.uuid4().hex, ACCOUNT_UPDATED, id=ann["account"]))
        return await recv(b)

    await eventually(retry, lambda m: m["type"] == "next")
    await a.close()
    await b.close()
