"""A batch the engine cannot apply (a bug, not poison) stalls its partition; it is never dropped."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from pymongo import AsyncMongoClient

from app.devstack.topics import ensure_topics
from app.store import database, make_client
from consumers.engine import FoldEngine
from consumers.facts import FactEvent
from consumers.projection import State, handles
from consumers.projections import PROJECTIONS
from consumers.projections.account import AccountProjection
from consumers.runner import ConsumerConfig, ConsumerRunner
from tests.support.facts import account_event, at, produce
from tests.support.stack import eventually


class BuggyAccounts(AccountProjection):
    """The account view with a handler that fails on every deposit: a programming error."""

    @handles("account.deposited")
    @staticmethod
    def deposited(state: State, event: FactEvent) -> State:
        raise KeyError("balanec")


class CountingEngine(FoldEngine):
    """The real engine, counting how often the runner hands it a batch."""

    attempts = 0

    async def apply(self, events: Any, dead: Any = None, redriven: Any = None) -> Any:
        self.attempts += 1
        return await super().apply(events, dead, redriven)


@pytest.fixture
async def client(mongo_uri: str) -> AsyncIterator[AsyncMongoClient[dict[str, Any]]]:
    client: AsyncMongoClient[dict[str, Any]] = make_client(mongo_uri)
    yield client
    await client.close()


async def committed(bootstrap: str, group: str, topic: str) -> int | None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await consumer.start()
    try:
        offsets = [await consumer.committed(TopicPartition(topic, p)) for p in range(3)]
        known = [o for o in offsets if o is not None]
        return sum(known) if known else None
    finally:
        await consumer.stop()


async def test_a_failing_fold_is_retried_not_skipped(
    client: AsyncMongoClient[dict[str, Any]], kafka_bootstrap: str
) -> None:
    unique = uuid.uuid4().hex[:10]
    topics = [f"customers.facts.{unique}", f"accounts.facts.{unique}"]
    group = f"stuck-{unique}"
    db = database(client, f"stuck_{unique}")
    await ensure_topics(kafka_bootstrap, topics)
    a = f"acc-{unique}"
    await produce(
        kafka_bootstrap,
        topics[1],
        [
            account_event("account.opened", a, at(1), customerId="c", currency="EUR"),
            account_event(
                "account.deposited", a, at(2), transactionId="t1", amount="5.00", currency="EUR"
            ),
        ],
    )
    buggy = tuple(BuggyAccounts if p is AccountProjection else p for p in PROJECTIONS)
    engine = CountingEngine(db, buggy)
    runner = ConsumerRunner(ConsumerConfig(kafka_bootstrap, group, topics), engine)
    stopping = asyncio.Event()
    with structlog.testing.capture_logs() as logs:
        task = asyncio.create_task(runner.run(stopping))
        try:
            # The runner has the batch and keeps failing on it: nothing logged, nothing committed.
            await eventually(_attempts(engine), lambda n: n >= 3, timeout=30)
            assert await committed(kafka_bootstrap, group, topics[1]) is None
            assert await db.events.count_documents({}) == 0
            assert await db.dead_letters.count_documents({}) == 0
            assert not task.done()

            # The fix ships (here: the engine is swapped); the same batch now goes in, once.
            runner.engine = FoldEngine(db)
            view = await eventually(
                lambda: db.accounts.find_one({"_id": a}), lambda v: v is not None, timeout=30
            )
            assert view["balance"] == 5 and view["version"] == 2
        finally:
            # Whatever failed above, a working engine lets the runner finish its batch and stop.
            runner.engine = FoldEngine(db)
            stopping.set()
            await asyncio.wait_for(task, 30)
    # Every failed attempt was logged as an error naming the batch: the stall is visible.
    failures = [e for e in logs if e["event"] == "batch failed, retrying"]
    assert len(failures) == engine.attempts >= 3
    assert all(e["log_level"] == "error" and "KeyError" in e["error"] for e in failures)
    assert all(e["records"] == 2 and len(e["event_ids"]) == 2 for e in failures)
    assert await committed(kafka_bootstrap, group, topics[1]) == 2
    await client.drop_database(db.name)


def _attempts(engine: CountingEngine) -> Callable[[], Awaitable[int]]:
    async def probe() -> int:
        return engine.attempts

    return probe
