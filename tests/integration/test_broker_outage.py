"""The broker down at start, then restarting mid-run: the consumer retries and catches up."""

from __future__ import annotations

import asyncio
import uuid

from pymongo import AsyncMongoClient

from app.devstack.embedded import ServerProcess, free_port, start_tansu
from app.devstack.topics import ensure_topics
from app.store import database
from consumers.engine import FoldEngine
from consumers.projections import PROJECTIONS
from consumers.runner import ConsumerConfig, ConsumerRunner
from tests.conftest import LOG_DIR
from tests.support import oracle, stored
from tests.support.facts import produce
from tests.support.stack import eventually
from tests.support.workload import Workload, workload


async def send(bootstrap: str, topics: list[str], *loads: Workload) -> None:
    """The workloads' customers to the first topic, then their accounts to the second."""
    await produce(bootstrap, topics[0], [e for load in loads for e in load.customers])
    await produce(bootstrap, topics[1], [e for load in loads for e in load.accounts])


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
        await send(bootstrap, topics, first)
        await eventually(logged, lambda n: n == len(first.unique_ids), timeout=60)

        # The broker restarts with memory storage: topics, records and offsets are gone.
        await asyncio.to_thread(broker.kill)
        broker = await asyncio.to_thread(start_tansu, port, LOG_DIR)
        await ensure_topics(bootstrap, topics)
        await send(bootstrap, topics, first, second)
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
