"""Forwarded mutations against the real demo owners, read-your-writes, and two instances."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from gql import Client, GraphQLRequest
from gql.transport.websockets import WebsocketsTransport
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.auth import verifier_from
from app.devstack.embedded import free_port
from app.devstack.topics import ensure_topics
from app.http.serving import start_server
from tests.support.stack import (
    Factview,
    bearer,
    factview_settings,
    running_factview,
    subscribe,
    token,
    ws_url,
)
from upstream import accounts as accounts_owner
from upstream import customers as customers_owner

REGISTER = """
mutation($name: String!, $email: String!) {
  registerCustomer(name: $name, email: $email) {
    __typename
    ... on RegisterCustomerSucceeded { customerId folded customer { id name email } }
    ... on UserError { message }
  }
}
"""
OPEN = """
mutation($customerId: ID!, $currency: String!) {
  openAccount(customerId: $customerId, currency: $currency) {
    __typename
    ... on OpenAccountSucceeded { accountId folded account { id balance customerId } }
    ... on UserError { message }
  }
}
"""
DEPOSIT = """
mutation($id: ID!, $amount: Decimal!, $wait: Boolean!) {
  deposit(accountId: $id, amount: $amount, waitForFold: $wait) {
    __typename
    ... on DepositSucceeded {
      transactionId amount balance folded consistencyToken
      account { balance version transactions { nodes { id amount balanceAfter } } }
    }
    ... on UserError { message }
  }
}
"""
WITHDRAW = """
mutation($id: ID!, $amount: Decimal!) {
  withdraw(accountId: $id, amount: $amount) {
    __typename
    ... on WithdrawSucceeded { balance folded }
    ... on UserError { message }
  }
}
"""


@dataclass
class Stack:
    writer: Factview  # consumes and forwards writes (instance B)
    reader: Factview  # serves only, same database (instance A)


@pytest.fixture(scope="module")
async def stack(
    kafka_bootstrap: str, mongo_uri: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    unique = uuid.uuid4().hex[:10]
    base = factview_settings(kafka_bootstrap, mongo_uri, unique)
    await ensure_topics(kafka_bootstrap, base.kafka_topics)
    directory = tmp_path_factory.mktemp(f"owners-{unique}")
    customers_topic, accounts_topic = base.kafka_topics
    # The owners verify the relayed tokens with factview's own settings (one secret).
    verifier = verifier_from(base)
    async with contextlib.AsyncExitStack() as stack:
        customers = await start_server(
            customers_owner.create_app(
                str(directory / "customers.db"), kafka_bootstrap, customers_topic, verifier=verifier
            ),
            "127.0.0.1",
            free_port(),
        )
        stack.push_async_callback(customers.stop)
        accounts = await start_server(
            accounts_owner.create_app(
                str(directory / "accounts.db"), kafka_bootstrap, accounts_topic, verifier=verifier
            ),
            "127.0.0.1",
            free_port(),
        )
        stack.push_async_callback(accounts.stop)
        settings = base.model_copy(
            update={"customers_owner_url": customers.url, "accounts_owner_url": accounts.url}
        )
        writer = await stack.enter_async_context(running_factview(settings, consume=True))
        reader = await stack.enter_async_context(running_factview(settings, consume=False))
        yield Stack(writer, reader)


async def call(
    fv: Factview, query: str, headers: dict[str, str] | None = None, **variables: Any
) -> dict[str, Any]:
    response = await fv.http.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers or {}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    return body["data"]


async def new_account(fv: Factview) -> str:
    name = f"n-{uuid.uuid4().hex[:6]}"
    registered = (await call(fv, REGISTER, name=name, email=f"{name}@example.com"))[
        "registerCustomer"
    ]
    assert registered["__typename"] == "RegisterCustomerSucceeded", registered
    assert registered["folded"] is True
    assert registered["customer"]["name"] == name
    opened = (await call(fv, OPEN, customerId=registered["customerId"], currency="EUR"))[
        "openAccount"
    ]
    assert opened["__typename"] == "OpenAccountSucceeded", opened
    assert opened["folded"] is True and opened["account"]["balance"] == "0.00"
    return str(opened["accountId"])


async def test_deposit_waiting_for_the_fold_returns_a_view_with_the_deposit(stack: Stack) -> None:
    a = await new_account(stack.writer)
    result = (await call(stack.writer, DEPOSIT, id=a, amount="10.00", wait=True))["deposit"]
    assert result["__typename"] == "DepositSucceeded", result
    assert result["folded"] is True
    assert result["balance"] == "10.00"
    nodes = result["account"]["transactions"]["nodes"]
    assert [(n["id"], n["amount"]) for n in nodes] == [(result["transactionId"], "10.00")]
    assert result["account"]["balance"] == "10.00"


async def test_a_consistency_token_makes_a_later_read_include_the_write(stack: Stack) -> None:
    a = await new_account(stack.writer)
    result = (await call(stack.writer, DEPOSIT, id=a, amount="3.00", wait=False))["deposit"]
    assert result["__typename"] == "DepositSucceeded" and result["folded"] is False
    # Read on the other instance: the token carries the facts to wait for, not the instance.
    data = await call(
        stack.reader,
        "query($id: ID!, $t: String) { account(id: $id, consistencyToken: $t) { balance } }",
        id=a,
        t=result["consistencyToken"],
    )
    assert data["account"]["balance"] == "3.00"


async def test_a_bad_consistency_token_is_a_coded_error(stack: Stack) -> None:
    response = await stack.reader.http.post(
        "/graphql",
        json={"query": '{ account(id: "x", consistencyToken: "forged") { id } }'},
    )
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_CONSISTENCY_TOKEN"


async def test_a_retried_mutation_with_the_same_idempotency_key_deposits_once(
    stack: Stack,
) -> None:
    a = await new_account(stack.writer)
    key = {"Idempotency-Key": uuid.uuid4().hex}
    first = (await call(stack.writer, DEPOSIT, key, id=a, amount="5.00", wait=True))["deposit"]
    retry = (await call(stack.writer, DEPOSIT, key, id=a, amount="5.00", wait=True))["deposit"]
    assert first["__typename"] == retry["__typename"] == "DepositSucceeded"
    assert retry["transactionId"] == first["transactionId"]
    assert retry["account"]["balance"] == "5.00"
    assert len(retry["account"]["transactions"]["nodes"]) == 1
    # The same key for a different request is refused, and changes nothing.
    other = (await call(stack.writer, DEPOSIT, key, id=a, amount="6.00", wait=True))["deposit"]
    assert other["__typename"] == "IdempotencyKeyReused", other
    fresh = (await call(stack.writer, DEPOSIT, id=a, amount="1.00", wait=True))["deposit"]
    assert fresh["account"]["balance"] == "6.00"


async def test_owner_refusals_are_typed_results(stack: Stack) -> None:
    a = await new_account(stack.writer)
    short = (await call(stack.writer, WITHDRAW, id=a, amount="1.00"))["withdraw"]
    assert short["__typename"] == "InsufficientFunds", short
    missing = (await call(stack.writer, DEPOSIT, id="no-such-account", amount="1.00", wait=True))[
        "deposit"
    ]
    assert missing["__typename"] == "NotFound", missing
    negative = (await call(stack.writer, DEPOSIT, id=a, amount="-1", wait=True))["deposit"]
    assert negative["__typename"] == "ValidationFailed", negative
    bad_currency = (await call(stack.writer, OPEN, customerId="c", currency="euro"))["openAccount"]
    assert bad_currency["__typename"] == "ValidationFailed", bad_currency


async def test_a_subscriber_on_one_instance_sees_a_write_made_through_another(
    stack: Stack,
) -> None:
    a = await new_account(stack.writer)
    sub = subscribe(
        stack.reader, "subscription($id: ID!) { accountUpdated(id: $id) { balance } }", id=a
    )
    try:
        assert (await sub.next())["accountUpdated"]["balance"] == "0.00"
        result = (await call(stack.writer, DEPOSIT, id=a, amount="7.00", wait=False))["deposit"]
        assert result["__typename"] == "DepositSucceeded"
        assert (await sub.next(timeout=15))["accountUpdated"]["balance"] == "7.00"
    finally:
        await sub.close()


# --- owners that are down or slow -------------------------------------------------------


@dataclass
class SlowOwner:
    url: str
    seen: list[dict[str, str]]


@contextlib.asynccontextmanager
async def slow_owner() -> AsyncIterator[SlowOwner]:
    """A real HTTP server that takes the request and answers only when the test ends."""
    release = asyncio.Event()
    seen: list[dict[str, str]] = []

    async def hang(request: Request) -> JSONResponse:
        seen.append(dict(request.headers))
        await release.wait()
        return JSONResponse({"error": {"code": "late", "message": "too late"}}, status_code=500)

    app = Starlette(routes=[Route("/{path:path}", hang, methods=["POST", "PATCH"])])
    server = await start_server(app, "127.0.0.1", free_port())
    try:
        yield SlowOwner(server.url, seen)
    finally:
        release.set()
        await server.stop()


async def test_a_mutation_s_freshness_is_not_older_than_its_own_folded_write(
    stack: Stack,
) -> None:
    fv = stack.writer
    customer = (await call(fv, REGISTER, name="Fresh", email="fresh@example.com"))[
        "registerCustomer"
    ]
    opened = await call(fv, OPEN, customerId=customer["customerId"], currency="EUR")
    account_id = opened["openAccount"]["accountId"]
    freshness = fv.runtime.freshness
    assert freshness is not None
    cached_for = freshness.max_age
    # A cache that never expires during the test: only a read made for the mutation can
    # show its write (with the default second, a slow fold would hide a stale answer).
    freshness.max_age = 3600
    try:
        primed = await freshness.newest(fresh=True)  # now cached: the account as opened
        response = await fv.http.post(
            "/graphql",
            json={
                "query": 'mutation($id: ID!) { deposit(accountId: $id, amount: "1.00") '
                "{ ... on DepositSucceeded { folded account { updatedAt } } } }",
                "variables": {"id": account_id},
            },
        )
    finally:
        freshness.max_age = cached_for
    body = response.json()
    assert body["data"]["deposit"]["folded"] is True, body
    written = datetime.fromisoformat(body["data"]["deposit"]["account"]["updatedAt"])
    shown = {k: datetime.fromisoformat(v) for k, v in body["extensions"]["freshness"].items()}
    assert primed["account"] < written
    assert shown["account"] >= written, (shown, written)
    assert shown["customer"] >= written, "the customer view embeds the account"


async def test_an_owner_down_or_slow_gives_a_coded_error_within_its_timeout(
    kafka_bootstrap: str, mongo_uri: str, tmp_path: Path
) -> None:
    unique = uuid.uuid4().hex[:10]
    async with slow_owner() as slow:
        settings = factview_settings(
            kafka_bootstrap,
            mongo_uri,
            unique,
            customers_owner_url=f"http://127.0.0.1:{free_port()}",  # nothing listens here
            accounts_owner_url=slow.url,
            owner_connect_timeout_seconds=1.0,
            owner_read_timeout_seconds=0.5,
            owner_deadline_seconds=3.0,
        )
        async with running_factview(settings, consume=False) as fv:
            caller = bearer(fv.settings)
            started = time.monotonic()
            down = await fv.http.post(
                "/graphql",
                json={"query": REGISTER, "variables": {"name": "A", "email": "a@example.com"}},
            )
            assert time.monotonic() - started < 3.0
            error = down.json()["errors"][0]
            assert error["extensions"]["code"] == "OWNER_UNAVAILABLE", error

            started = time.monotonic()
            late = await fv.http.post(
                "/graphql",
                json={"query": DEPOSIT, "variables": {"id": "a1", "amount": "1.00", "wait": True}},
                headers=caller,
            )
            elapsed = time.monotonic() - started
            error = late.json()["errors"][0]
            assert error["extensions"]["code"] == "OWNER_TIMEOUT", error
            assert 0.5 <= elapsed < 3.0, elapsed
            # The owner saw the caller's credentials and a generated idempotency key.
            assert slow.seen[0]["authorization"] == caller["Authorization"]
            assert len(slow.seen[0]["idempotency-key"]) >= 16


# --- what reaches an owner: the verified token, one key per write, bounded input ---------


async def customer_with_account(fv: Factview) -> tuple[str, str]:
    name = f"n-{uuid.uuid4().hex[:6]}"
    registered = (await call(fv, REGISTER, name=name, email=f"{name}@example.com"))[
        "registerCustomer"
    ]
    customer_id = str(registered["customerId"])
    opened = (await call(fv, OPEN, customerId=customer_id, currency="EUR"))["openAccount"]
    assert opened["folded"] is True, opened
    return customer_id, str(opened["accountId"])


async def transactions_of(fv: Factview, account_id: str) -> list[str]:
    """The account's transactions once a marker deposit is folded: every earlier write is too."""
    marker = (await call(fv, DEPOSIT, id=account_id, amount="0.01", wait=True))["deposit"]
    assert marker["folded"] is True, marker
    return [n["amount"] for n in marker["account"]["transactions"]["nodes"]]


SHARED_KEY_DOCUMENTS = {
    # The finding: one inline fragment is one top-level selection, but two writes.
    "inline-fragment": """
        mutation($id: ID!) { ... on Mutation {
          a: deposit(accountId: $id, amount: "5.00", waitForFold: false) { __typename }
          b: deposit(accountId: $id, amount: "5.00", waitForFold: false) { __typename } } }""",
    "named-fragment": """
        mutation($id: ID!) { ...Two }
        fragment Two on Mutation {
          a: deposit(accountId: $id, amount: "5.00", waitForFold: false) { __typename }
          b: withdraw(accountId: $id, amount: "1.00", waitForFold: false) { __typename } }""",
    "top-level": """
        mutation($id: ID!) {
          a: deposit(accountId: $id, amount: "5.00", waitForFold: false) { __typename }
          b: deposit(accountId: $id, amount: "7.00", waitForFold: false) { __typename } }""",
}


@pytest.mark.parametrize("document", SHARED_KEY_DOCUMENTS.values(), ids=SHARED_KEY_DOCUMENTS)
async def test_one_client_key_on_several_writes_is_refused_before_any_write(
    stack: Stack, document: str
) -> None:
    a = await new_account(stack.writer)
    response = await stack.writer.http.post(
        "/graphql",
        json={"query": document, "variables": {"id": a}},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    body = response.json()
    codes = {e["extensions"]["code"] for e in body["errors"]}
    assert codes == {"IDEMPOTENCY_KEY_SHARED"}, body
    assert body["data"] is None  # the first field refused, and with it the operation
    assert await transactions_of(stack.writer, a) == ["0.01"]


async def test_the_same_key_argument_on_two_writes_is_refused(stack: Stack) -> None:
    a = await new_account(stack.writer)
    document = """
        mutation($id: ID!, $k: String) {
          a: deposit(accountId: $id, amount: "5.00", waitForFold: false, idempotencyKey: $k) {
            __typename }
          b: deposit(accountId: $id, amount: "5.00", waitForFold: false, idempotencyKey: $k) {
            __typename } }"""
    response = await stack.writer.http.post(
        "/graphql", json={"query": document, "variables": {"id": a, "k": "same"}}
    )
    codes = {e["extensions"]["code"] for e in response.json()["errors"]}
    assert codes == {"IDEMPOTENCY_KEY_SHARED"}
    assert await transactions_of(stack.writer, a) == ["0.01"]


async def test_a_key_per_field_makes_each_write_once_and_a_retry_replays_them(
    stack: Stack,
) -> None:
    a = await new_account(stack.writer)
    document = """
        mutation($id: ID!, $k1: String, $k2: String) {
          a: deposit(accountId: $id, amount: "5.00", waitForFold: false, idempotencyKey: $k1) {
            ... on DepositSucceeded { transactionId } }
          b: deposit(accountId: $id, amount: "5.00", waitForFold: false, idempotencyKey: $k2) {
            ... on DepositSucceeded { transactionId } } }"""
    keys = {"k1": uuid.uuid4().hex, "k2": uuid.uuid4().hex}
    first = await call(stack.writer, document, id=a, **keys)
    retry = await call(stack.writer, document, id=a, **keys)
    assert first["a"]["transactionId"] != first["b"]["transactionId"]
    assert retry == first
    assert await transactions_of(stack.writer, a) == ["5.00", "5.00", "0.01"]


async def test_one_customers_key_does_not_block_or_reveal_anothers_write(stack: Stack) -> None:
    ann, anns = await customer_with_account(stack.writer)
    bob, bobs = await customer_with_account(stack.writer)
    key = uuid.uuid4().hex
    as_ann = {**bearer(stack.writer.settings, "customer", ann), "Idempotency-Key": key}
    as_bob = {**bearer(stack.writer.settings, "customer", bob), "Idempotency-Key": key}
    first = await call(stack.writer, DEPOSIT, as_ann, id=anns, amount="5.00", wait=True)
    # Bob, by chance or on purpose, sends the key Ann used: his write is his own.
    other = await call(stack.writer, DEPOSIT, as_bob, id=bobs, amount="5.00", wait=True)
    assert other["deposit"]["__typename"] == "DepositSucceeded", other
    assert other["deposit"]["transactionId"] != first["deposit"]["transactionId"]
    assert other["deposit"]["account"]["balance"] == "5.00"


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class RecordingOwner:
    url: str
    seen: list[Recorded]


@contextlib.asynccontextmanager
async def recording_owner() -> AsyncIterator[RecordingOwner]:
    """A real HTTP owner that records every request and accepts it like the accounts owner."""
    seen: list[Recorded] = []

    async def accept(request: Request) -> JSONResponse:
        body = await request.body()
        seen.append(Recorded(request.method, request.url.path, dict(request.headers), body))
        return JSONResponse(
            {
                "accountId": request.path_params["path"].split("/")[1],
                "transactionId": uuid.uuid4().hex,
                "amount": "1.00",
                "balance": "1.00",
                "factIds": [],
                "source": "accounts",
            },
            status_code=201,
        )

    app = Starlette(routes=[Route("/{path:path}", accept, methods=["POST", "PATCH"])])
    server = await start_server(app, "127.0.0.1", free_port())
    try:
        yield RecordingOwner(server.url, seen)
    finally:
        await server.stop()


@dataclass
class Recording:
    fv: Factview
    owner: RecordingOwner


@pytest.fixture(scope="module")
async def recording(kafka_bootstrap: str, mongo_uri: str) -> AsyncIterator[Recording]:
    async with recording_owner() as owner:
        settings = factview_settings(
            kafka_bootstrap,
            mongo_uri,
            uuid.uuid4().hex[:10],
            customers_owner_url=owner.url,
            accounts_owner_url=owner.url,
        )
        async with running_factview(settings, consume=False) as fv:
            yield Recording(fv, owner)


MOVE = """
mutation($id: ID!, $amount: Decimal!, $key: String) {
  deposit(accountId: $id, amount: $amount, waitForFold: false, idempotencyKey: $key) {
    __typename ... on ValidationFailed { field message } } }
"""


async def test_over_a_websocket_the_owner_sees_the_verified_token_and_a_key_per_operation(
    recording: Recording,
) -> None:
    recording.owner.seen.clear()
    verified = token(recording.fv.settings, "staff", "ops")
    transport = WebsocketsTransport(
        url=ws_url(recording.fv),
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
        init_payload={"Authorization": f"Bearer {verified}"},
        # Headers on the upgrade request are not part of any operation: never relayed.
        headers={"Authorization": "Bearer forged-by-the-client", "Idempotency-Key": "per-socket"},
    )
    async with Client(transport=transport) as session:
        for variables in ({}, {}, {"key": "op-3"}):
            result = await session.execute(
                GraphQLRequest(MOVE, variable_values={"id": "a1", "amount": "1.00", **variables})
            )
            assert result["deposit"]["__typename"] == "DepositSucceeded", result
    seen = recording.owner.seen
    assert [r.headers["authorization"] for r in seen] == [f"Bearer {verified}"] * 3
    keys = [r.headers["idempotency-key"] for r in seen]
    assert "per-socket" not in keys
    assert keys[0] != keys[1] and keys[2] == "op-3"


@pytest.mark.parametrize(
    "amount",
    ["1E+5000000", "1E-5000000", "1000000000000000", "0.001", "1.001", "1" + "0" * 40],
)
async def test_an_amount_out_of_bounds_is_refused_before_the_owner_is_called(
    recording: Recording, amount: str
) -> None:
    recording.owner.seen.clear()
    result = await call(recording.fv, MOVE, id="a1", amount=amount)
    assert result["deposit"]["__typename"] == "ValidationFailed", result
    assert result["deposit"]["field"] == "amount"
    assert recording.owner.seen == []


async def test_a_bounded_amount_reaches_the_owner_as_two_places(recording: Recording) -> None:
    recording.owner.seen.clear()
    for amount in ("12.5", "1.100", "1E+3", "999999999999999.99"):
        result = await call(recording.fv, MOVE, id="a1", amount=amount)
        assert result["deposit"]["__typename"] == "DepositSucceeded", result
    bodies = [r.body for r in recording.owner.seen]
    assert bodies == [
        b'{"amount":"12.50"}',
        b'{"amount":"1.10"}',
        b'{"amount":"1000.00"}',
        b'{"amount":"999999999999999.99"}',
    ]


BAD_IDS = [".", "..", "a/b", "../customers", "a\x00b", "a b", "%2e%2e", "x" * 129, ""]


@pytest.mark.parametrize("bad", BAD_IDS, ids=lambda v: repr(v)[:20])
async def test_ids_that_would_change_the_owners_path_are_refused(
    recording: Recording, bad: str
) -> None:
    recording.owner.seen.clear()
    deposit = (await call(recording.fv, MOVE, id=bad, amount="1.00"))["deposit"]
    assert (deposit["__typename"], deposit["field"]) == ("ValidationFailed", "accountId")
    update = await call(
        recording.fv,
        """mutation($id: ID!) { updateCustomer(id: $id, name: "x") {
             __typename ... on ValidationFailed { field } } }""",
        id=bad,
    )
    assert update["updateCustomer"] == {"__typename": "ValidationFailed", "field": "id"}
    opened = await call(
        recording.fv,
        """mutation($id: ID!) { openAccount(customerId: $id, currency: "EUR") {
             __typename ... on ValidationFailed { field } } }""",
        id=bad,
    )
    assert opened["openAccount"] == {"__typename": "ValidationFailed", "field": "customerId"}
    assert recording.owner.seen == []
