"""Database faults (SecantusDB `failCommand`) on insert, update and commit: no loss, no doubling.

Fail points are server-wide, so this module runs its own SecantusDB, scopes every fail point to
the consumer's `appName`, and switches it off in `finally` whatever happens.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from pymongo import AsyncMongoClient, monitoring
from pymongo.asynchronous.database import AsyncDatabase

from app.devstack.embedded import ServerProcess, mongodb_uri, start_secantus
from app.devstack.topics import ensure_topics
from app.store import CODEC_OPTIONS, database
from consumers.document import Document
from consumers.engine import FoldEngine
from consumers.projections import PROJECTIONS
from consumers.runner import ConsumerConfig, ConsumerRunner
from tests.conftest import LOG_DIR
from tests.support import oracle, stored
from tests.support.facts import produce
from tests.support.stack import eventually
from tests.support.workload import workload

APP = "factview-under-fault"
FAULTS: dict[str, Document] = {
    "closeConnection": {"closeConnection": True},
    # 112 WriteConflict: the server labels it TransientTransactionError inside a transaction.
    "transientError": {"errorCode": 112},
    # The server sits on the command past the client's socket timeout, then runs it anyway:
    # for commitTransaction that is a commit whose answer the client never sees.
    "blockConnection": {"blockConnection": True, "blockTimeMS": 1200},
}


class Failures(monitoring.CommandListener):
    """Counts the commands the consumer's client saw fail, to prove the fault really hit."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        pass

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self.counts[event.command_name] = self.counts.get(event.command_name, 0) + 1


@pytest.fixture(scope="module")
def faulty_server() -> Iterator[ServerProcess]:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    server = start_secantus(log_dir=LOG_DIR)
    yield server
    server.stop()


@pytest.fixture(scope="module")
async def admin(faulty_server: ServerProcess) -> AsyncIterator[AsyncMongoClient[Document]]:
    client: AsyncMongoClient[Document] = AsyncMongoClient(mongodb_uri(faulty_server.port))
    yield client
    await client.close()


@dataclass
class Consumer:
    topics: list[str]
    db: AsyncDatabase[Document]
    failures: Failures


@pytest.fixture(scope="module")
async def consumer(faulty_server: ServerProcess, kafka_bootstrap: str) -> AsyncIterator[Consumer]:
    """One consumer for the module (joining a group takes seconds); each test its own entities."""
    unique = uuid.uuid4().hex[:10]
    topics = [f"customers.facts.{unique}", f"accounts.facts.{unique}"]
    await ensure_topics(kafka_bootstrap, topics)
    failures = Failures()
    client: AsyncMongoClient[Document] = AsyncMongoClient(
        mongodb_uri(faulty_server.port),
        appname=APP,
        # Shorter than the blocked command, so a block is a timeout the client must survive.
        socketTimeoutMS=600,
        event_listeners=[failures],
        tz_aware=True,
        type_registry=CODEC_OPTIONS.type_registry,
    )
    db = database(client, f"faults_{unique}")
    # Small batches: a workload takes several transactions, so the fault lands mid-stream.
    config = ConsumerConfig(kafka_bootstrap, f"faults-{unique}", topics, max_batch=10)
    runner = ConsumerRunner(config, FoldEngine(db, PROJECTIONS))
    stopping = asyncio.Event()
    await runner.connect()
    task = asyncio.create_task(runner.run(stopping))
    yield Consumer(topics, db, failures)
    stopping.set()
    await asyncio.wait_for(task, 30)
    await client.drop_database(db.name)
    await client.close()


async def fail_point(admin: AsyncMongoClient[Document], mode: Any, data: Document) -> None:
    await admin.admin.command({"configureFailPoint": "failCommand", "mode": mode, "data": data})


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("command", ["insert", "update", "commitTransaction"])
async def test_a_database_fault_loses_and_doubles_nothing(
    command: str,
    fault: str,
    admin: AsyncMongoClient[Document],
    consumer: Consumer,
    kafka_bootstrap: str,
) -> None:
    prefix = uuid.uuid4().hex[:8]
    load = workload(seed=sum(map(ord, command + fault)), prefix=prefix, accounts=4, events=60)
    failed_before = consumer.failures.counts.get(command, 0)
    try:
        # The consumer's next three matching commands fail.
        data = {"failCommands": [command], "appName": APP, **FAULTS[fault]}
        await fail_point(admin, {"times": 3}, data)
        await produce(kafka_bootstrap, consumer.topics[0], load.customers)
        await produce(kafka_bootstrap, consumer.topics[1], load.accounts)
        await eventually(
            lambda: _count(consumer.failures, command),
            lambda n: n > failed_before,
            timeout=30,
        )
    finally:
        await fail_point(admin, "off", {})

    expected = oracle.views(load.facts())
    await eventually(
        lambda: _mismatch(consumer.db, prefix, expected, load.unique_ids),
        lambda m: m == [],
        timeout=60,
    )


async def _count(failures: Failures, command: str) -> int:
    return failures.counts.get(command, 0)


async def _mismatch(
    db: AsyncDatabase[Document], prefix: str, expected: oracle.Views, ids: set[tuple[str, str]]
) -> list[str]:
    """What differs from the from-scratch fold, among this test's entities (empty when none)."""
    problems = oracle.differences(expected, await stored.read_views(db, prefix))
    logged = [
        (e.source, e.id)
        for e in await stored.read_log(db)
        if str(e.data.get("accountId") or e.data.get("customerId")).startswith(prefix)
    ]
    if sorted(logged) != sorted(ids):
        problems.append(f"log: {len(logged)} events, {len(set(logged))} distinct, {len(ids)} sent")
    return problems
