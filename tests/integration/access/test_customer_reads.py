"""Authentication and authorization through real clients: who may read and change what."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
import websockets
from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportQueryError
from gql.transport.websockets import WebsocketsTransport
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.devstack.embedded import free_port
from app.devstack.topics import ensure_topics
from app.http.documents import digest
from app.http.serving import start_server
from app.settings import Settings
from app.writes.consistency import Facts
from tests.integration.test_trusted_documents import LISTED
from tests.support.facts import account_event, at, customer_event, produce
from tests.support.stack import (
    Factview,
    bearer,
    eventually,
    factview_settings,
    running_factview,
    ws_url,
)

ACCOUNT = "query($id: ID!) { account(id: $id) { id balance transactions { nodes { id } } } }"


class RecordingOwner:
    """A real owner stand-in that records every call it gets (it must get none here)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def app(self) -> Starlette:
        async def record(request: Request) -> JSONResponse:
            self.calls.append(f"{request.method} {request.url.path}")
            return JSONResponse({"error": {"code": "not_found", "message": "recorded"}}, 404)

        return Starlette(routes=[Route("/{path:path}", record, methods=["POST", "PATCH"])])


@pytest.fixture(scope="module")
async def owner() -> AsyncIterator[RecordingOwner]:
    recording = RecordingOwner()
    server = await start_server(recording.app(), "127.0.0.1", free_port())
    recording.url = server.url  # type: ignore[attr-defined]
    yield recording
    await server.stop()


@pytest.fixture(scope="module")
async def fv(
    kafka_bootstrap: str, mongo_uri: str, owner: RecordingOwner
) -> AsyncIterator[Factview]:
    unique = uuid.uuid4().hex[:10]
    url = owner.url  # type: ignore[attr-defined]
    settings = factview_settings(
        kafka_bootstrap,
        mongo_uri,
        unique,
        customers_owner_url=url,
        accounts_owner_url=url,
        graphiql=True,  # the IDE page is served without a token; operations never are
        web_app=True,
    )
    await ensure_topics(kafka_bootstrap, settings.kafka_topics)
    async with running_factview(settings) as instance:
        yield instance


@pytest.fixture(scope="module")
async def two_customers(fv: Factview) -> dict[str, str]:
    ids = {"ann": f"cus-{uuid.uuid4().hex[:6]}", "bob": f"cus-{uuid.uuid4().hex[:6]}"}
    ids["ann_acc"], ids["bob_acc"] = f"acc-{uuid.uuid4().hex[:6]}", f"acc-{uuid.uuid4().hex[:6]}"
    boot = fv.settings.kafka_bootstrap_servers
    await produce(
        boot,
        fv.customers_topic,
        [
            customer_event(
                "customer.registered", ids["ann"], at(0), name="Ann", email="ann@example.com"
            ),
            customer_event(
                "customer.registered", ids["bob"], at(0), name="Bob", email="bob@example.com"
            ),
        ],
    )
    await produce(
        boot,
        fv.accounts_topic,
        [
            account_event(
                "account.opened", ids["ann_acc"], at(1), customerId=ids["ann"], currency="EUR"
            ),
            account_event(
                "account.deposited",
                ids["ann_acc"],
                at(2),
                transactionId="t1",
                amount="5.00",
                currency="EUR",
            ),
            account_event(
                "account.opened", ids["bob_acc"], at(1), customerId=ids["bob"], currency="EUR"
            ),
            account_event(
                "account.deposited",
                ids["bob_acc"],
                at(2),
                transactionId="t2",
                amount="900.00",
                currency="EUR",
            ),
        ],
    )
    await eventually(
        lambda: as_role(fv, "staff", "ops", ACCOUNT, id=ids["bob_acc"]),
        lambda b: (b.get("data") or {}).get("account") is not None,
    )
    return ids


async def as_role(
    fv: Factview, role: str, subject: str, query: str, **variables: Any
) -> dict[str, Any]:
    response = await fv.http.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers=bearer(fv.settings, role, subject),  # type: ignore[arg-type]
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


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


async def test_a_customer_reading_anothers_account_by_id_gets_null_and_forbidden(
    fv: Factview, two_customers: dict[str, str]
) -> None:
    body = await as_role(fv, "customer", two_customers["ann"], ACCOUNT, id=two_customers["bob_acc"])
    assert body["data"] == {"account": None}
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert "900" not in str(body)
    own = await as_role(fv, "customer", two_customers["ann"], ACCOUNT, id=two_customers["ann_acc"])
    assert own["data"]["account"]["balance"] == "5.00"


EVENTS = "query($s: ID!) { events(subject: $s) { nodes { type data } } }"
ACCOUNT_AS_OF = "query($id: ID!, $t: DateTime) { account(id: $id, asOf: $t) { id balance } }"
CUSTOMER_AS_OF = (
    "query($id: ID!, $t: DateTime) { customer(id: $id, asOf: $t) { name accounts { balance } } }"
)


@pytest.mark.parametrize(
    ("query", "subject", "field"),
    [
        (EVENTS, "bob_acc", "events"),
        (EVENTS, "bob", "events"),
        (ACCOUNT_AS_OF, "bob_acc", "account"),
        (CUSTOMER_AS_OF, "bob", "customer"),
    ],
    ids=["events of its account", "events of the customer", "account asOf", "customer asOf"],
)
async def test_a_customer_reading_anothers_history_gets_forbidden(
    fv: Factview, two_customers: dict[str, str], query: str, subject: str, field: str
) -> None:
    ann, target = two_customers["ann"], two_customers[subject]
    t = at(10).isoformat()
    body = await as_role(fv, "customer", ann, query, s=target, id=target, t=t)
    assert body["data"] is None or body["data"] == {field: None}, body
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"], body
    assert "900" not in str(body) and "Bob" not in str(body)
    # The same question about its own data is answered (the refusal is about whose data it is).
    mine = two_customers["ann_acc" if subject.endswith("_acc") else "ann"]
    own = await as_role(fv, "customer", ann, query, s=mine, id=mine, t=t)
    assert "errors" not in own and own["data"][field], own


async def test_a_customer_sees_only_itself_through_connections_and_edges(
    fv: Factview, two_customers: dict[str, str]
) -> None:
    ann, bob = two_customers["ann"], two_customers["bob"]
    listing = await as_role(
        fv, "customer", ann, "{ customers(first: 100) { nodes { id accounts { id balance } } } }"
    )
    assert listing["data"]["customers"]["nodes"] == [
        {"id": ann, "accounts": [{"id": two_customers["ann_acc"], "balance": "5.00"}]}
    ]
    other = await as_role(
        fv,
        "customer",
        ann,
        "query($id: ID!) { customer(id: $id) { id name accounts { id } } }",
        id=bob,
    )
    assert other["data"] == {"customer": None}
    assert other["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert "Bob" not in str(other)
    staff = await as_role(fv, "staff", "ops", "{ customers(first: 100) { nodes { id } } }")
    seen = {n["id"] for n in staff["data"]["customers"]["nodes"]}
    assert {ann, bob} <= seen


async def test_a_customer_mutating_anothers_account_is_refused_before_the_owner(
    fv: Factview, two_customers: dict[str, str], owner: RecordingOwner
) -> None:
    ann = two_customers["ann"]
    attempts = [
        (
            'mutation($id: ID!) { withdraw(accountId: $id, amount: "1.00") { __typename } }',
            {"id": two_customers["bob_acc"]},
        ),
        (
            'mutation($id: ID!) { deposit(accountId: $id, amount: "1.00") { __typename } }',
            {"id": "acc-unknown"},
        ),
        (
            'mutation($id: ID!) { openAccount(customerId: $id, currency: "EUR") { __typename } }',
            {"id": two_customers["bob"]},
        ),
        (
            'mutation($id: ID!) { updateCustomer(id: $id, name: "Mallory") { __typename } }',
            {"id": two_customers["bob"]},
        ),
        ('mutation { registerCustomer(name: "M", email: "m@example.com") { __typename } }', {}),
    ]
    for query, variables in attempts:
        body = await as_role(fv, "customer", ann, query, **variables)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", body
        assert body["data"] is None
    assert owner.calls == []
    # Staff may, so the owner is called (and answers with its recorded refusal).
    body = await as_role(fv, "staff", "ops", attempts[0][0], **attempts[0][1])
    assert body["data"]["withdraw"]["__typename"] == "NotFound"
    assert owner.calls == [f"POST /accounts/{two_customers['bob_acc']}/withdrawals"]


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


def persisted_customers() -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": digest(LISTED["Customers"])}}


def without(body: dict[str, Any], *ids: str) -> str:
    text = json.dumps(body, sort_keys=True)
    for one in ids:
        text = text.replace(one, "ID")
    return text


async def test_a_customer_cannot_tell_anothers_id_from_a_missing_one(
    fv: Factview, two_customers: dict[str, str]
) -> None:
    ann, foreign, missing = two_customers["ann"], two_customers["bob_acc"], "acc-nobody"
    for query in (
        ACCOUNT,
        'query($id: ID!) { account(id: $id, asOf: "2026-01-01T00:00:09Z") { id } }',
        "query($id: ID!) { events(subject: $id) { nodes { id } } }",
    ):
        of_foreign = await as_role(fv, "customer", ann, query, id=foreign)
        of_missing = await as_role(fv, "customer", ann, query, id=missing)
        assert of_foreign["errors"][0]["extensions"]["code"] == "FORBIDDEN", of_foreign
        assert without(of_foreign, foreign) == without(of_missing, missing)
    # Staff still tell them apart: a missing account is simply null.
    staff = await as_role(fv, "staff", "ops", ACCOUNT, id=missing)
    assert staff == {"data": {"account": None}} or "errors" not in staff


async def test_a_consistency_token_on_a_foreign_account_is_refused_before_any_wait(
    fv: Factview, two_customers: dict[str, str]
) -> None:
    never = Facts("accounts", (uuid.uuid4().hex,)).token()  # would wait fold_wait_seconds (5 s)
    started = time.monotonic()
    body = await as_role(
        fv,
        "customer",
        two_customers["ann"],
        "query($id: ID!, $t: String) { account(id: $id, consistencyToken: $t) { id } }",
        id=two_customers["bob_acc"],
        t=never,
    )
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert time.monotonic() - started < 2.0


@pytest.mark.parametrize("path", ["/app", "/app/", "/app/index.html", "/app/app.js"])
async def test_every_web_app_file_carries_the_security_headers(fv: Factview, path: str) -> None:
    async with httpx.AsyncClient(base_url=fv.server.url) as browser:
        response = await browser.get(path)
    assert response.status_code == 200
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"


async def test_freshness_tells_a_customer_only_about_what_it_may_read(
    fv: Factview, two_customers: dict[str, str]
) -> None:
    # Bob acts later than anything of Ann's: staff see it, Ann must not.
    await produce(
        fv.settings.kafka_bootstrap_servers,
        fv.accounts_topic,
        [
            account_event(
                "account.deposited",
                two_customers["bob_acc"],
                at(500),
                transactionId=f"t-{uuid.uuid4().hex[:6]}",
                amount="1.00",
                currency="EUR",
            )
        ],
    )
    staff = await eventually(
        lambda: as_role(fv, "staff", "ops", "{ __typename }"),
        lambda b: b["extensions"]["freshness"].get("account", "") >= at(500).isoformat(),
    )
    assert staff["extensions"]["freshness"]["account"] >= at(500).isoformat()
    ann = await as_role(fv, "customer", two_customers["ann"], "{ __typename }")
    # Her customer view embeds her account, so it is as fresh as that account: still no later.
    assert ann["extensions"]["freshness"] == {
        "account": at(2).isoformat(),
        "customer": at(2).isoformat(),
    }
