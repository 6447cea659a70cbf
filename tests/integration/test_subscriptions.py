"""Subscriptions over graphql-transport-ws with the gql client, driven by real folds."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets
from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportQueryError
from gql.transport.websockets import WebsocketsTransport
from pymongo import AsyncMongoClient

from app.devstack.topics import ensure_topics
from consumers.projections import PROJECTIONS
from consumers.projections.account import AccountProjection
from consumers.rebuild.shadow import rebuild
from tests.support.facts import account_event, at, customer_event, produce
from tests.support.stack import (
    Factview,
    bearer,
    eventually,
    factview_settings,
    running_factview,
    subscribe,
    ws_url,
)

ACCOUNT_UPDATED = """
subscription($id: ID!) { accountUpdated(id: $id) { id balance version status } }
"""
CUSTOMER_UPDATED = """
subscription($id: ID!) { customerUpdated(id: $id) { id name totalBalance } }
"""


@pytest.fixture(scope="module")
async def live(kafka_bootstrap: str, mongo_uri: str) -> AsyncIterator[Factview]:
    unique = uuid.uuid4().hex[:10]
    settings = factview_settings(
        kafka_bootstrap,
        # appName lets a test aim a MongoDB fail point at this instance's connections only.
        f"{mongo_uri}&appName=fv-{unique}",
        unique,
        subscription_queue_size=4,
        max_subscriptions_per_connection=2,
        connection_init_timeout_seconds=1,
    )
    await ensure_topics(kafka_bootstrap, settings.kafka_topics)
    async with running_factview(settings) as fv:
        yield fv


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def deposit(account_id: str, amount: str, seconds: float) -> Any:
    return account_event(
        "account.deposited",
        account_id,
        at(seconds),
        transactionId=uuid.uuid4().hex,
        amount=amount,
        currency="EUR",
    )


async def opened(fv: Factview, account_id: str) -> None:
    """Open an account and wait until it is in the view."""
    await produce(
        fv.settings.kafka_bootstrap_servers,
        fv.accounts_topic,
        [account_event("account.opened", account_id, at(0), customerId="c", currency="EUR")],
    )

    async def probe() -> Any:
        return await fv.runtime.views.account(account_id)

    await eventually(probe, lambda doc: doc is not None)


async def test_a_folded_fact_reaches_the_subscriber(live: Factview) -> None:
    a = new_id("acc")
    await opened(live, a)
    sub = subscribe(live, ACCOUNT_UPDATED, id=a)
    try:
        # The first message is the state now: it also proves the subscription is registered.
        first = await sub.next()
        assert first["accountUpdated"] == {
            "id": a,
            "balance": "0.00",
            "version": 1,
            "status": "OPEN",
        }
        await produce(
            live.settings.kafka_bootstrap_servers, live.accounts_topic, [deposit(a, "2.50", 1)]
        )
        update = await sub.next(timeout=10)
        assert update["accountUpdated"]["balance"] == "2.50"
        assert update["accountUpdated"]["version"] == 2
    finally:
        await sub.close()
    await eventually(lambda: _stats(live), lambda s: s.subscribers == 0)


async def test_a_subscription_lives_through_a_rebuild_swap(live: Factview) -> None:
    a = new_id("acc")
    await opened(live, a)
    sub = subscribe(live, ACCOUNT_UPDATED, id=a)
    try:
        assert (await sub.next())["accountUpdated"]["version"] == 1
        # The rebuild renames its shadow over `accounts`: the collection the stream watched is
        # replaced under it, and the stream must follow the new one.
        result = await rebuild(live.runtime.db, AccountProjection, PROJECTIONS)
        assert result.documents >= 1
        await produce(
            live.settings.kafka_bootstrap_servers, live.accounts_topic, [deposit(a, "2.50", 1)]
        )

        async def latest() -> dict[str, Any]:
            return (await sub.next(timeout=20))["accountUpdated"]

        # The swap itself may show as an update of the same state; the deposit must follow.
        update = await eventually(latest, lambda u: u["version"] == 2, timeout=30)
        assert update["balance"] == "2.50"
        assert not sub.ended and sub.errors == []
    finally:
        await sub.close()


async def _stats(fv: Factview) -> Any:
    assert fv.runtime.api is not None
    return fv.runtime.api.live.stats


async def test_a_subscription_before_the_account_exists_gets_its_first_state(
    live: Factview,
) -> None:
    a = new_id("acc")
    sub = subscribe(live, ACCOUNT_UPDATED, id=a)
    try:
        # Nothing to send yet; wait until the server has registered the subscriber.
        await eventually(lambda: _stats(live), lambda s: s.subscribers == 1)
        await produce(
            live.settings.kafka_bootstrap_servers, live.accounts_topic, [deposit(a, "1.00", 1)]
        )
        update = await sub.next()
        assert update["accountUpdated"]["balance"] == "1.00"
    finally:
        await sub.close()


async def test_customer_updates_then_completes_when_deleted(live: Factview) -> None:
    c = new_id("cus")
    boot = live.settings.kafka_bootstrap_servers
    await produce(
        boot,
        live.customers_topic,
        [customer_event("customer.registered", c, at(0), name="Ada", email="ada@example.com")],
    )
    await eventually(lambda: live.runtime.views.customer(c), lambda doc: doc is not None)
    sub = subscribe(live, CUSTOMER_UPDATED, id=c)
    try:
        assert (await sub.next())["customerUpdated"]["name"] == "Ada"
        await produce(
            boot,
            live.customers_topic,
            [customer_event("customer.updated", c, at(1), name="Ada L", email="ada@example.com")],
        )
        assert (await sub.next())["customerUpdated"]["name"] == "Ada L"
        await produce(boot, live.customers_topic, [customer_event("customer.deleted", c, at(2))])
        # Deleted: the server completes the subscription, so the client's loop ends cleanly.
        await eventually(lambda: _done(sub), lambda done: done)
        assert sub.errors == [] and sub.results.empty()
    finally:
        await sub.close()


async def _done(sub: Any) -> bool:
    return bool(sub.ended)


async def test_subscriptions_per_connection_are_capped(live: Factview) -> None:
    a = new_id("acc")
    await opened(live, a)
    transport = WebsocketsTransport(
        url=ws_url(live),
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
        init_payload=bearer(live.settings),
    )
    async with Client(transport=transport) as session:
        request = GraphQLRequest(ACCOUNT_UPDATED, variable_values={"id": a})
        streams = [session.subscribe(request) for _ in range(2)]
        firsts = [await anext(s) for s in streams]  # both registered (max is 2 in this fixture)
        assert all(f["accountUpdated"]["id"] == a for f in firsts)
        with pytest.raises(TransportQueryError, match="Subscription limit reached"):
            await anext(session.subscribe(request))
        for s in streams:
            await s.aclose()


async def test_a_connection_without_connection_init_is_closed(live: Factview) -> None:
    async with websockets.connect(ws_url(live), subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4408


async def test_the_feed_resumes_after_a_change_stream_error_without_missing_a_change(
    live: Factview, mongo_uri: str
) -> None:
    a = new_id("acc")
    await opened(live, a)
    sub = subscribe(live, ACCOUNT_UPDATED, id=a)
    admin: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri)
    app_name = live.settings.mongodb_uri.rsplit("appName=", 1)[1]
    try:
        assert (await sub.next())["accountUpdated"]["version"] == 1
        assert live.runtime.api is not None
        hub = live.runtime.api.live
        assert hub is not None
        restarts = hub.stats.restarts
        # Break this instance's change streams: reading and reopening both fail for now.
        await admin.admin.command(
            {
                "configureFailPoint": "failCommand",
                "mode": "alwaysOn",
                "data": {
                    "failCommands": ["getMore", "aggregate"],
                    "errorCode": 2,
                    "appName": app_name,
                },
            }
        )
        try:
            await eventually(lambda: _stats(live), lambda s: s.restarts > restarts)
            # A change folded while the feed is down...
            await produce(
                live.settings.kafka_bootstrap_servers, live.accounts_topic, [deposit(a, "4.00", 1)]
            )
            await eventually(lambda: live.runtime.views.account(a), lambda doc: doc["version"] == 2)
        finally:
            await admin.admin.command({"configureFailPoint": "failCommand", "mode": "off"})
        # ...still reaches the subscriber once the stream is reopened from its resume token.
        update = await sub.next(timeout=15)
        assert update["accountUpdated"]["balance"] == "4.00"
    finally:
        await sub.close()
        await admin.close()
