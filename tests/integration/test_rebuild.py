"""Rebuilds on the real servers while the consumer keeps folding and GraphQL keeps serving."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaProducer
from cloudevents.core.v1.event import CloudEvent

from app.cli.rebuild import with_dependents
from consumers.engine import FoldEngine
from consumers.facts import FactEvent
from consumers.projections import PROJECTIONS
from consumers.projections.account import AccountProjection
from consumers.rebuild.fence import LOCKS, LockHeld, ViewLock, lock_id
from consumers.rebuild.shadow import rebuild
from tests.support import oracle, stored
from tests.support.facts import account_event, at, customer_event, message
from tests.support.stack import Factview, eventually


class Feed:
    """Events for a few customers and their accounts, some arriving late, produced for real."""

    def __init__(self, fv: Factview, prefix: str) -> None:
        self.fv = fv
        self.prefix = prefix
        self.sent = 0
        self._n = itertools.count()
        self._producer: AIOKafkaProducer | None = None

    async def __aenter__(self) -> Feed:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self.fv.settings.kafka_bootstrap_servers
        )
        await self._producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._producer is not None
        await self._producer.stop()

    async def send(self, events: list[tuple[str, CloudEvent]]) -> None:
        assert self._producer is not None
        for topic, event in events:
            msg = message(event)
            key = msg.key.encode() if isinstance(msg.key, str) else msg.key
            await self._producer.send_and_wait(
                topic, msg.value, key=key, headers=list(msg.headers.items())
            )
            self.sent += 1

    def account(self, n: int) -> str:
        return f"{self.prefix}-a{n % 12}"

    def customer(self, n: int) -> str:
        return f"{self.prefix}-c{n % 4}"

    def next_events(self, count: int) -> list[tuple[str, CloudEvent]]:
        """New customers and accounts first, then deposits, withdrawals and late deposits."""
        out: list[tuple[str, CloudEvent]] = []
        for _ in range(count):
            n = next(self._n)
            a, c = self.account(n), self.customer(n % 12)
            accounts, customers = self.fv.accounts_topic, self.fv.customers_topic
            if n < 12:
                out.append(
                    (
                        accounts,
                        account_event("account.opened", a, at(1), customerId=c, currency="EUR"),
                    )
                )
                if n < 4:
                    out.append(
                        (
                            customers,
                            customer_event("customer.registered", c, at(0), name=c, email="x@y"),
                        )
                    )
                continue
            # Every fifth movement is late: its business time is before earlier ones.
            time = at(2 + (n if n % 5 else n - 40))
            kind = "account.withdrawn" if n % 7 == 0 else "account.deposited"
            out.append(
                (
                    accounts,
                    account_event(
                        kind, a, time, transactionId=f"t{n}", amount="1.00", currency="EUR"
                    ),
                )
            )
        return out

    async def logged(self) -> int:
        db = self.fv.runtime.db
        return await db.events.count_documents({"subject": {"$regex": f"^{self.prefix}-"}})

    async def all_logged(self) -> None:
        """Wait until everything sent so far is in the log (and so folded: same transaction)."""
        target = self.sent
        await eventually(self.logged, lambda n: n >= target, timeout=30)


class HookObserver:
    """Produces events at chosen phases of a rebuild, so each path of the catch-up is taken."""

    def __init__(self, feed: Feed) -> None:
        self.feed = feed
        self.phases: list[str] = []

    async def phase(self, name: str, total: int | None) -> None:
        self.phases.append(name)
        if name in ("scan", "verify"):
            # Logged after the change stream opened: caught up, or re-done under the fence.
            await self.feed.send(self.feed.next_events(6))
            await self.feed.all_logged()
        elif name in ("fence", "swap"):
            # In flight while the fence goes up (folded before it, or held back until the swap
            # with the rest), or sent under it (held back).
            await self.feed.send(self.feed.next_events(6))

    def advance(self, n: int) -> None:
        pass


@contextlib.asynccontextmanager
async def steady_producer(feed: Feed) -> AsyncIterator[None]:
    """A producer task sending a few events at a time for as long as the block runs, paced by
    the consumer (it waits for each few to be logged), so the rebuild always has company."""
    stop = asyncio.Event()

    async def produce() -> None:
        while not stop.is_set():
            await feed.send(feed.next_events(3))
            await feed.all_logged()

    task = asyncio.create_task(produce())
    try:
        yield
    finally:
        stop.set()
        await task


async def assert_views_equal_a_fold_from_scratch(fv: Factview) -> None:
    db = fv.runtime.db
    expected = oracle.views(await stored.read_log(db))
    assert oracle.differences(expected, await stored.read_views(db)) == []


async def test_rebuild_while_events_flow_equals_a_fold_from_scratch(factview: Factview) -> None:
    async with Feed(factview, f"flow-{uuid.uuid4().hex[:6]}") as feed:
        await feed.send(feed.next_events(40))
        await feed.all_logged()
        db = factview.runtime.db
        results = []
        async with steady_producer(feed):
            for projection in with_dependents([AccountProjection]):
                observer = HookObserver(feed)
                results.append(await rebuild(db, projection, PROJECTIONS, observer=observer))
                phases = list(dict.fromkeys(observer.phases))
                assert phases == ["scan", "catch-up", "verify", "fence", "swap"]
        await feed.all_logged()
    assert all(r.caught_up > 0 for r in results), results
    # The fence held: nothing reached the old live view after the final catch-up.
    assert all(r.stragglers == 0 for r in results), results
    await assert_views_equal_a_fold_from_scratch(factview)
    assert await db[LOCKS].count_documents({}) == 0
    assert "accounts__rebuild" not in await db.list_collection_names()
    # The swapped-in view has the live view's indexes.
    indexes = [i["key"] async for i in await db.accounts.list_indexes()]
    assert {"customerId": 1} in [dict(k) for k in indexes]


CUSTOMERS = "query($after: String) { customers(first: 100, after: $after) { nodes { id } pageInfo { hasNextPage endCursor } } }"  # noqa: E501
ACCOUNT = "query($id: ID!) { account(id: $id) { id balance version } }"


async def test_reads_during_rebuilds_never_fail_and_never_miss_a_document(
    factview: Factview,
) -> None:
    async with Feed(factview, f"read-{uuid.uuid4().hex[:6]}") as feed:
        await feed.send(feed.next_events(30))
        await feed.all_logged()
    db = factview.runtime.db
    known_customers = {d["_id"] async for d in db.customers.find({"deleted": {"$ne": True}})}
    known_accounts = {d["_id"]: d["version"] async for d in db.accounts.find({})}
    reads = 0
    done = asyncio.Event()

    async def reader() -> None:
        nonlocal reads
        while not done.is_set():
            seen: set[str] = set()
            after = None
            while True:
                body = await factview.graphql(CUSTOMERS, after=after)
                assert "errors" not in body, body
                page = body["data"]["customers"]
                seen.update(n["id"] for n in page["nodes"])
                if not page["pageInfo"]["hasNextPage"]:
                    break
                after = page["pageInfo"]["endCursor"]
            assert known_customers <= seen, known_customers - seen
            for account_id, version in itertools.islice(known_accounts.items(), 5):
                body = await factview.graphql(ACCOUNT, id=account_id)
                assert "errors" not in body, body
                assert body["data"]["account"]["version"] == version
            reads += 1

    task = asyncio.create_task(reader())
    try:
        for _ in range(2):
            for projection in PROJECTIONS:
                await rebuild(db, projection, PROJECTIONS)
                assert not task.done() or task.exception() is None
    finally:
        done.set()
        await task
    assert reads >= 2, "the reader should have read while the rebuilds ran"


async def test_a_second_rebuild_of_the_same_view_is_refused(factview: Factview) -> None:
    db = factview.runtime.db
    held = await ViewLock.acquire(db, "accounts", ttl=30)
    try:
        with pytest.raises(LockHeld, match="already being rebuilt"):
            await rebuild(db, AccountProjection, PROJECTIONS)
    finally:
        await held.release()
    assert await db[LOCKS].find_one({"_id": lock_id("accounts")}) is None


async def test_the_engine_holds_folds_while_a_view_is_fenced(factview: Factview) -> None:
    db = factview.runtime.db
    event = FactEvent(
        source="accounts",
        id=uuid.uuid4().hex,
        type="account.opened",
        subject="fenced-a",
        time=at(1),
        data={"accountId": "fenced-a", "customerId": "fenced-c", "currency": "EUR"},
    )
    lock = await ViewLock.acquire(db, "accounts", ttl=30)
    try:
        await lock.fence()
        task = asyncio.create_task(FoldEngine(db, PROJECTIONS).apply([event]))
        # Asserting something does not happen: half a second is plenty for one fold here.
        done, _ = await asyncio.wait({task}, timeout=0.5)
        assert not done
        assert await db.events.find_one({"_id": event.log_id}) is None
    finally:
        await lock.release()
    await asyncio.wait_for(task, 10)
    assert await db.accounts.find_one({"_id": "fenced-a"}) is not None
