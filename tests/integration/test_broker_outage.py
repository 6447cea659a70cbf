"""The broker down at start, then restarting mid-run: the consumer retries and catches up."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from pymongo import AsyncMongoClient

from app.devstack.embedded import ServerProcess, free_port, start_tansu
from app.devstack.topics import ensure_topics
from app.store import database, make_client
from consumers.engine import FoldEngine
from consumers.projections import PROJECTIONS
from consumers.runner import ConsumerConfig, ConsumerRunner
from tests.conftest import LOG_DIR
from tests.support import oracle, stored
from tests.support.facts import produce
from tests.support.stack import eventually
from tests.support.workload import workload


@pytest.fixture
async def client(mongo_uri: str) -> AsyncIterator[AsyncMongoClient[dict[str, object]]]:
    client = make_client(mongo_uri)
    yield client
    await client.close()


async def test_a_broker_that_comes_up_late_and_restarts_is_caught_up_with(
    client: AsyncMongoClient[dict[str, object]],
) -> None:
    unique = uuid.uuid4().hex[:10]
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    topics = [f"customers.facts.{unique}", f"accounts.facts.{unique}"]
    db = database(client, f"outage_{unique}")
    config = ConsumerConfig(bootstrap, f"outage-{unique}", topics, startup_timeout=30)
    runner = ConsumerRunner(config, FoldEngine(db, PROJECTIONS))
    stopping = asyncio.Event()
    first, second = (workload(n, f"{unique}-{n}", accounts=3, events=30) for n in (1, 2))
    LOG_DIR.mkdir(parents=True, exist_ok=True)

    async def logged() -> int:
        return await db.events.count_documents({})

    # No broker on the port yet, only a listener that hangs up on every connection: the runner
    # must keep trying (and be seen trying) until the broker starts.
    tries = 0

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal tries
        tries += 1
        writer.close()

    async def attempts() -> int:
        return tries

    refuser = await asyncio.start_server(hang_up, "127.0.0.1", port)
    task = asyncio.create_task(runner.run(stopping))
    broker: ServerProcess | None = None
    try:
        await eventually(attempts, lambda n: n >= 3, timeout=30)
        assert not task.done()
        refuser.close()
        await refuser.wait_closed()
        broker = await asyncio.to_thread(start_tansu, port, LOG_DIR)
        await ensure_topics(bootstrap, topics)
        await produce(bootstrap, topics[0], first.customers)
        await produce(bootstrap, topics[1], first.accounts)
        await eventually(logged, lambda n: n == len(first.unique_ids), timeout=60)

        # The broker restarts with memory storage: topics, records and offsets are gone.
        await asyncio.to_thread(broker.kill)
        broker = await asyncio.to_thread(start_tansu, port, LOG_DIR)
        await ensure_topics(bootstrap, topics)
        await produce(bootstrap, topics[0], first.customers + second.customers)
        await produce(bootstrap, topics[1], first.accounts + second.accounts)
        total = len(first.unique_ids | second.unique_ids)
        await eventually(logged, lambda n: n == total, timeout=90)
        expected = oracle.views(first.facts() + second.facts())
        assert oracle.differences(expected, await stored.read_views(db)) == []
        assert not task.done()
    finally:
        refuser.close()
        stopping.set()
        await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), 30)
        if broker is not None:
            broker.stop()
        await client.drop_database(db.name)
