"""A fold that raises (a bug, data no handler foresaw) quarantines its document, not the partition;
a transient database error is retried, never quarantined, and nothing is ever skipped."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from pymongo import AsyncMongoClient, monitoring
from pymongo.asynchronous.database import AsyncDatabase

from app.devstack.topics import ensure_topics
from app.operations import Operations
from app.store import database
from consumers.engine import FoldEngine
from consumers.facts import FactEvent
from consumers.projection import State, handles
from consumers.projections import PROJECTIONS
from consumers.projections.account import AccountProjection
from consumers.quarantine import QUARANTINE
from consumers.runner import ConsumerConfig, ConsumerRunner
from tests.support.facts import account_event, at, produce
from tests.support.stack import Factview, eventually, factview_settings, running_factview


class BuggyAccounts(AccountProjection):
    """The account view with a handler that fails on data it did not foresee: a bug."""

    @handles("account.deposited")
    @staticmethod
    def deposited(state: State, event: FactEvent) -> State:
        if event.data["transactionId"].startswith("boom"):
            raise KeyError("balanec")
        return AccountProjection.deposited(state, event)


# A subclass declares only its own handlers; the others are the real view's.
BuggyAccounts.handlers = {
    **AccountProjection.handlers,
    "account.deposited": BuggyAccounts.deposited,
}


class FailedFinds(monitoring.CommandListener):
    """Counts the consumer's `find` commands that failed, to prove the fault really hit."""

    def __init__(self) -> None:
        self.count = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        pass

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        if event.command_name == "find":
            self.count += 1


async def committed(bootstrap: str, group: str, topic: str, partitions: int) -> int | None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await consumer.start()
    try:
        offsets = [await consumer.committed(TopicPartition(topic, p)) for p in range(partitions)]
        known = [o for o in offsets if o is not None]
        return sum(known) if known else None
    finally:
        await consumer.stop()


def deposit(a: str, seconds: float, tx: str, amount: str) -> Any:
    return account_event(
        "account.deposited", a, at(seconds), transactionId=tx, amount=amount, currency="EUR"
    )


QUERY = """
query($a: ID!, $b: ID!) {
  bad: account(id: $a) { balance version quarantine { error eventIds } }
  good: account(id: $b) { balance version quarantine { error } }
  quarantined { nodes { view id quarantine { error } } }
}
"""


async def test_a_raising_fold_quarantines_its_document_and_the_partition_moves_on(
    client: AsyncMongoClient[dict[str, Any]], kafka_bootstrap: str, mongo_uri: str
) -> None:
    unique = uuid.uuid4().hex[:10]
    settings = factview_settings(kafka_bootstrap, mongo_uri, unique)
    topics, group = settings.kafka_topics, settings.kafka_group_id
    db = database(client, settings.mongodb_database)
    # One partition: the bad account's events sit before and after the good one's.
    await ensure_topics(kafka_bootstrap, topics, partitions=1)
    a, b = f"acc-a-{unique}", f"acc-b-{unique}"
    await produce(
        kafka_bootstrap,
        topics[1],
        [
            account_event("account.opened", a, at(1), customerId="c", currency="EUR"),
            deposit(a, 2, "t1", "5.00"),
            deposit(a, 3, "boom", "1.00"),
            account_event("account.opened", b, at(1), customerId="c", currency="EUR"),
            deposit(b, 2, "t1", "7.00"),
            deposit(a, 4, "t3", "2.00"),
        ],
    )
    buggy = tuple(BuggyAccounts if p is AccountProjection else p for p in PROJECTIONS)
    runner = ConsumerRunner(ConsumerConfig(kafka_bootstrap, group, topics), FoldEngine(db, buggy))
    stopping = asyncio.Event()
    task = asyncio.create_task(runner.run(stopping))
    try:
        async with running_factview(settings, consume=False, http_timeout=10) as fv:
            await quarantined_then_fixed(fv, runner, db, task, a, b)
    finally:
        stopping.set()
        await asyncio.wait_for(task, 30)
    await client.drop_database(db.name)


async def quarantined_then_fixed(
    fv: Factview,
    runner: ConsumerRunner,
    db: AsyncDatabase[Any],
    task: asyncio.Task[None],
    a: str,
    b: str,
) -> None:
    """The bad document `a` quarantined while the rest of its partition folds; then the fix."""
    http, settings = fv.http, fv.settings
    kafka_bootstrap, topics = settings.kafka_bootstrap_servers, settings.kafka_topics
    group = settings.kafka_group_id

    async def read() -> dict[str, Any]:
        body = (
            await http.post("/graphql", json={"query": QUERY, "variables": {"a": a, "b": b}})
        ).json()
        assert "errors" not in body, body
        result: dict[str, Any] = body["data"]
        return result

    # The rest of the partition folds; every event is logged; the offsets move on.
    await eventually(
        lambda: committed(kafka_bootstrap, group, topics[1], 1), lambda n: n == 6, timeout=30
    )
    assert await db.events.count_documents({}) == 6
    seen = await read()
    assert seen["good"] == {"balance": "7.00", "version": 2, "quarantine": None}
    assert seen["bad"]["quarantine"]["error"] == "KeyError: 'balanec'"
    assert seen["bad"]["quarantine"]["eventIds"]  # which events the failing fold had
    assert seen["quarantined"]["nodes"] == [
        {"view": "account", "id": a, "quarantine": {"error": "KeyError: 'balanec'"}}
    ]
    metrics = (await http.get("/metrics")).text
    assert 'factview_quarantined_documents{view="account"} 1.0' in metrics
    assert not task.done()

    # The fix ships (here: the engine is swapped); refold brings the document back, exactly.
    runner.engine = FoldEngine(db, PROJECTIONS)
    await Operations(db, PROJECTIONS, group, "test").refold(AccountProjection, [a])
    seen = await read()
    assert seen["bad"] == {"balance": "8.00", "version": 4, "quarantine": None}
    assert seen["quarantined"]["nodes"] == []
    stored = await db.accounts.find_one({"_id": a})
    assert stored is not None and QUARANTINE not in stored
    # And it folds live again.
    await produce(kafka_bootstrap, topics[1], [deposit(a, 5, "t5", "1.00")])
    await eventually(read, lambda s: s["bad"]["balance"] == "9.00", timeout=30)
    metrics = (await http.get("/metrics")).text
    assert 'factview_quarantined_documents{view="account"} 0.0' in metrics


async def _count(failed: FailedFinds) -> int:
    return failed.count


async def test_a_transient_database_error_is_retried_never_quarantined(
    client: AsyncMongoClient[dict[str, Any]], mongo_uri: str, kafka_bootstrap: str
) -> None:
    unique = uuid.uuid4().hex[:10]
    topics = [f"customers.facts.{unique}", f"accounts.facts.{unique}"]
    group = f"stuck-{unique}"
    app = f"stuck-{unique}"
    # The consumer's own client; the test reads through another, which the fault spares.
    failed = FailedFinds()
    faulty: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        mongo_uri, appname=app, tz_aware=True, event_listeners=[failed]
    )
    db = database(client, f"stuck_{unique}")
    await ensure_topics(kafka_bootstrap, topics)
    a = f"acc-{unique}"
    runner = ConsumerRunner(
        ConsumerConfig(kafka_bootstrap, group, topics),
        FoldEngine(database(faulty, db.name), PROJECTIONS),
    )
    stopping = asyncio.Event()
    task = asyncio.create_task(runner.run(stopping))
    await asyncio.wait_for(runner.ownership.claimed.wait(), 30)
    # The consumer's reads (the log, the view documents) fail, transiently, until turned off.
    await client.admin.command(
        {
            "configureFailPoint": "failCommand",
            "mode": "alwaysOn",
            "data": {"failCommands": ["find"], "appName": app, "errorCode": 112},
        }
    )
    try:
        await produce(
            kafka_bootstrap,
            topics[1],
            [
                account_event("account.opened", a, at(1), customerId="c", currency="EUR"),
                deposit(a, 2, "t1", "5.00"),
            ],
        )
        # Stuck: retried again and again, and meanwhile no offset is committed (at-least-once).
        await eventually(lambda: _count(failed), lambda n: n >= 3, timeout=60)
        assert await committed(kafka_bootstrap, group, topics[1], 3) is None
        assert await db.events.count_documents({}) == 0
        await client.admin.command({"configureFailPoint": "failCommand", "mode": "off"})
        view = await eventually(
            lambda: db.accounts.find_one({"_id": a}),
            lambda v: v is not None and v["version"] == 2,
            timeout=60,
        )
        assert str(view["balance"]) == "5.00" and QUARANTINE not in view
        assert await db.events.count_documents({}) == 2
        assert await db.accounts.count_documents({QUARANTINE: {"$exists": True}}) == 0
    finally:
        await client.admin.command({"configureFailPoint": "failCommand", "mode": "off"})
        stopping.set()
        await asyncio.wait_for(task, 30)
    assert await committed(kafka_bootstrap, group, topics[1], 3) == 2
    await client.drop_database(db.name)
    await faulty.close()
