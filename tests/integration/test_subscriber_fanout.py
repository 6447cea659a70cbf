"""200 subscribers to one account, one of them never reading: the others get every update,
the slow one is dropped, and once all disconnect nothing is left behind."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from websockets.asyncio.client import ClientConnection, connect

from app.devstack.topics import ensure_topics
from tests.support.facts import account_event, at, message
from tests.support.stack import (
    Factview,
    LiveSubscription,
    bearer,
    eventually,
    factview_settings,
    running_factview,
    subscribe,
    ws_url,
)

FAST = 199
SMALL = "subscription($id: ID!) { accountUpdated(id: $id) { version balance } }"
# The slow client asks for a large document, so its unread updates fill every buffer quickly.
_TXS = "transactions(first: 100) { nodes { id kind amount occurredAt balanceAfter corrected } }"
LARGE = (
    "subscription($id: ID!) { accountUpdated(id: $id) { version "
    + " ".join(f"t{i}: {_TXS}" for i in range(30))
    + " } }"
)


@pytest.fixture(scope="module")
async def fv(kafka_bootstrap: str, mongo_uri: str) -> AsyncIterator[Factview]:
    unique = uuid.uuid4().hex[:10]
    # The slow client asks for a large document with many aliases (to fill its socket fast).
    # 200 subscribers share one staff token here: the per-subject caps must let them all in.
    settings = factview_settings(
        kafka_bootstrap,
        mongo_uri,
        unique,
        subscription_queue_size=4,
        max_aliases=40,
        max_connections_per_subject=FAST + 1,
        max_subscriptions_per_subject=FAST + 1,
    )
    await ensure_topics(kafka_bootstrap, settings.kafka_topics)
    async with running_factview(settings) as instance:
        yield instance


async def slow_client(fv: Factview, account_id: str) -> ClientConnection:
    """A real websocket client that subscribes, reads the first result, then stops reading."""
    host, port = fv.server.host, fv.server.port
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # A tiny receive window: once the client stops reading, the server's sends block soon.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (host, port))
    ws = await connect(
        ws_url(fv), sock=sock, subprotocols=["graphql-transport-ws"], max_queue=1, compression=None
    )  # type: ignore[list-item]
    await ws.send(json.dumps({"type": "connection_init", "payload": bearer(fv.settings)}))
    assert json.loads(await ws.recv())["type"] == "connection_ack"
    await ws.send(
        json.dumps(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": LARGE, "variables": {"id": account_id}},
            }
        )
    )
    first = json.loads(await ws.recv())
    assert first["type"] == "next", first
    return ws


class Deposits:
    """Deposits of 1.00 to one account, a second apart in business time, through a real producer."""

    def __init__(self, fv: Factview, account_id: str) -> None:
        self.fv, self.a, self.seconds = fv, account_id, 0
        self.producer = AIOKafkaProducer(bootstrap_servers=fv.settings.kafka_bootstrap_servers)

    async def send(self, events: list[Any]) -> None:
        for event in events:
            msg = message(event)
            key = msg.key.encode() if isinstance(msg.key, str) else msg.key
            await self.producer.send(
                self.fv.accounts_topic, msg.value, key=key, headers=list(msg.headers.items())
            )
        await self.producer.flush()

    async def version(self) -> int:
        doc = await self.fv.runtime.views.account(self.a)
        return int(doc["version"]) if doc else 0

    async def burst(self, n: int) -> int:
        """`n` deposits, once folded: the account's version then."""
        events = []
        for _ in range(n):
            self.seconds += 1
            events.append(
                account_event(
                    "account.deposited",
                    self.a,
                    at(self.seconds),
                    transactionId=uuid.uuid4().hex,
                    amount="1.00",
                    currency="EUR",
                )
            )
        target = await self.version() + n
        await self.send(events)
        await eventually(self.version, lambda v: v == target)
        return target


async def until_the_slow_one_is_dropped(deposits: Deposits, hub: Any) -> int:
    """Deposits in bursts until the slow subscriber has been cut off, then a few more; the final
    version."""
    final = 1
    for _ in range(40):
        final = await deposits.burst(20)
        if hub.stats.dropped:
            break
    assert hub.stats.dropped == 1, "the slow subscriber was never dropped"
    for _ in range(3):
        final = await deposits.burst(5)
    return final


async def assert_the_slow_one_is_told_why(slow: ClientConnection) -> None:
    """Reading again, the slow client finds what was buffered, then the reason it was cut off."""
    while True:
        msg = json.loads(await asyncio.wait_for(slow.recv(), 15))
        if msg["type"] != "next" or "errors" in msg["payload"]:
            break
    assert msg["payload"]["errors"][0]["extensions"]["code"] == "SLOW_SUBSCRIBER", msg
    assert json.loads(await asyncio.wait_for(slow.recv(), 15))["type"] == "complete"


async def test_one_slow_subscriber_never_stalls_199_fast_ones(fv: Factview) -> None:
    assert fv.runtime.api is not None
    hub = fv.runtime.api.live
    a = f"acc-{uuid.uuid4().hex[:8]}"
    deposits = Deposits(fv, a)
    await deposits.producer.start()
    fast: list[LiveSubscription] = []
    slow = None
    reference: list[int] = []
    watcher: asyncio.Task[None] | None = None
    stream = None
    try:
        opened = account_event("account.opened", a, at(0), customerId="c", currency="EUR")
        await deposits.send([opened])
        await eventually(deposits.version, lambda v: v == 1)

        # The versions the view goes through, seen straight from MongoDB: what each fast
        # subscriber must receive, in order.
        stream = await fv.runtime.db.accounts.watch(
            [{"$match": {"documentKey._id": a}}], full_document="updateLookup"
        )

        async def watch() -> None:
            async for change in stream:
                reference.append(int(change["fullDocument"]["version"]))

        watcher = asyncio.create_task(watch())
        slow = await slow_client(fv, a)
        fast = [subscribe(fv, SMALL, id=a) for _ in range(FAST)]
        firsts = await asyncio.gather(*(s.next(timeout=30) for s in fast))
        assert {f["accountUpdated"]["version"] for f in firsts} == {1}
        assert hub.stats.subscribers == FAST + 1
        assert hub.stats.open_streams == 2  # one per view collection, whatever the subscribers

        final = await until_the_slow_one_is_dropped(deposits, hub)
        await eventually(lambda: _last(reference), lambda v: v == final)
        for s in fast:
            got: list[int] = []
            while not got or got[-1] != final:
                got.append((await s.next(timeout=15))["accountUpdated"]["version"])
            assert got == reference, "a fast subscriber missed or reordered an update"
        assert hub.stats.dropped == 1
        assert hub.stats.subscribers == FAST
        await assert_the_slow_one_is_told_why(slow)
    finally:
        await asyncio.gather(*(s.close() for s in fast))
        if slow is not None:
            slow.transport.abort()
        if watcher is not None:
            watcher.cancel()
        if stream is not None:
            await stream.close()
        await deposits.producer.stop()

    # Every connection gone: no subscriber, no operation task, still only the hub's two streams.
    await eventually(lambda: _snapshot(hub), lambda s: s == (0, 0, 2), timeout=20)


async def _last(values: list[int]) -> int | None:
    return values[-1] if values else None


async def _snapshot(hub: Any) -> tuple[int, int, int]:
    operations = [
        t for t in asyncio.all_tasks() if getattr(t.get_coro(), "__name__", "") == "run_operation"
    ]
    return hub.stats.subscribers, len(operations), hub.stats.open_streams
