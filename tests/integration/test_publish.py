"""factview as an upstream: the customer overviews it publishes rebuild its views downstream.

A burst flows through `factview consume` (publishing on), which is SIGKILLed several times.
Downstream, two readers of the published topic alone must end up with factview's views: a plain
aiokafka consumer written here, and a second factview (the real consumer runner and fold engine)
whose only projection folds `customer-overview.changed`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from app.devstack.topics import ensure_topics
from app.store import database
from consumers.document import Document
from consumers.engine import FoldEngine
from consumers.facts import FactEvent
from consumers.outbox import OUTBOX
from consumers.projection import Projection, State, handles
from consumers.projections import PROJECTIONS
from consumers.projections.customer_overview import overview
from consumers.rebuild.shadow import rebuild
from consumers.relay import Lease
from consumers.runner import ConsumerConfig, ConsumerRunner
from tests.conftest import LOG_DIR
from tests.support import oracle
from tests.support.burst import Burst
from tests.support.processes import FACTVIEW, FactviewProcess, factview_env
from tests.support.stack import eventually
from tests.support.topics import from_the_start
from tests.support.workload import workload

KILLS = 2


class OverviewProjection(Projection):
    """What a second factview declares to fold the published topic: the newest overview wins
    (a Fact Event carries the whole state), in the business-time order every fold uses."""

    name = "overview"
    version = 1
    collection = "overviews"
    key_field = "customerId"

    @handles("customer-overview.changed")
    @staticmethod
    def changed(state: State, event: FactEvent) -> State:
        state["overview"] = event.data
        return state


@dataclass
class Downstream:
    """A plain aiokafka consumer that rebuilds customer overviews from the topic alone."""

    consumer: AIOKafkaConsumer
    overviews: dict[str, dict[str, Any]] = field(default_factory=dict)
    values_by_id: dict[str, set[bytes]] = field(default_factory=lambda: defaultdict(set))
    # Per customer, the versions in the order their ids were first seen.
    first_seen: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    records: list[Any] = field(default_factory=list)

    async def poll(self) -> None:
        for batch in (await self.consumer.getmany(timeout_ms=100)).values():
            for record in batch:
                self.records.append(record)
                event = json.loads(record.value)
                known = event["id"] in self.values_by_id
                self.values_by_id[event["id"]].add(record.value)
                if known:
                    continue  # a resend after a relay crash: same id, already applied
                data = event["data"]
                self.first_seen[event["subject"]].append(data["version"])
                held = self.overviews.get(event["subject"])
                if held is None or data["version"] > held["version"]:
                    self.overviews[event["subject"]] = data


async def expected_overviews(db: AsyncDatabase[Document]) -> dict[str, dict[str, Any]]:
    """What factview's own views say each customer's overview is."""
    return {doc["_id"]: overview(doc).data async for doc in db.customers.find({})}


@contextlib.asynccontextmanager
async def second_factview(
    kafka_bootstrap: str, group: str, published: str, db: AsyncDatabase[Document]
) -> AsyncIterator[None]:
    """The second factview: the real runner and engine, folding the published topic alone."""
    stop = asyncio.Event()
    runner = ConsumerRunner(
        ConsumerConfig(kafka_bootstrap, group, [published]),
        FoldEngine(db, projections=(OverviewProjection,)),
    )
    task = asyncio.create_task(runner.run(stop))
    try:
        yield
    finally:
        stop.set()
        await task


async def until_downstream_agrees(
    db: AsyncDatabase[Document], second: AsyncDatabase[Document], downstream: Downstream
) -> dict[str, dict[str, Any]]:
    """Until both downstream readers hold factview's overviews; those overviews."""
    expected = await expected_overviews(db)

    async def downstream_differs() -> list[str]:
        await downstream.poll()
        pending = await db[OUTBOX].count_documents({})
        return [f"{pending} rows pending"] * bool(pending) + [
            k for k in expected if downstream.overviews.get(k) != expected[k]
        ]

    await eventually(downstream_differs, lambda d: d == [], timeout=60)

    async def second_differs() -> list[str]:
        docs = {d["_id"]: d["overview"] async for d in second.overviews.find({})}
        return sorted(k for k in expected.keys() | docs.keys() if docs.get(k) != expected[k])

    await eventually(second_differs, lambda d: d == [], timeout=60)
    return expected


def assert_published_as_fact_events(downstream: Downstream, source: str) -> None:
    # Each id names one content: a resend after a kill carries the very same event.
    assert all(len(values) == 1 for values in downstream.values_by_id.values())
    # Per customer, versions arrive in order (duplicates aside).
    for key, versions in downstream.first_seen.items():
        assert versions == sorted(set(versions)), (key, versions)
    for record in downstream.records:
        event = json.loads(record.value)
        assert dict(record.headers)["content-type"] == b"application/cloudevents+json"
        assert event["specversion"] == "1.0" and event["source"] == source
        assert event["type"] == "customer-overview.changed"
        assert record.key.decode() == event["subject"] == event["data"]["customerId"]
        version = event["data"]["version"]
        assert event["id"] == f"customer-overview:{event['subject']}:{version:010d}"


async def assert_tail_shows_the_chain(env: dict[str, str], published: str) -> None:
    """The project's own tool for watching the chain: `factview tail TOPIC`."""
    tail = await asyncio.create_subprocess_exec(
        FACTVIEW,
        "tail",
        published,
        "--count",
        "3",
        "--idle",
        "10",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(tail.communicate(), 60)
    assert tail.returncode == 0, err.decode()
    lines = [json.loads(line) for line in out.decode().splitlines()]
    assert [line["value"]["type"] for line in lines] == ["customer-overview.changed"] * 3
    assert all(line["key"] == line["value"]["subject"] for line in lines)


async def test_published_overviews_rebuild_the_views_downstream_across_sigkills(
    kafka_bootstrap: str,
    mongo_uri: str,
    client: AsyncMongoClient[dict[str, object]],
    tmp_path: Path,
) -> None:
    unique = uuid.uuid4().hex[:10]
    topics = [f"customers.facts.{unique}", f"accounts.facts.{unique}"]
    published = f"customer-overview.facts.{unique}"
    source = f"factview-test-{unique}"
    db = database(client, f"publish_{unique}")
    second = database(client, f"publish_downstream_{unique}")
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    load = workload(seed, prefix=unique, accounts=30, events=900)
    await ensure_topics(kafka_bootstrap, [*topics, published])
    env = factview_env(
        kafka_bootstrap,
        topics,
        mongo_uri,
        db.name,
        PUBLISH_TOPIC=published,
        PUBLISH_SOURCE=source,
        # A killed relay's lease lapses quickly, so the next process publishes soon.
        PUBLISH_LEASE_SECONDS="2",
        # Each life rejoins the same group: the dead member is dropped after this long.
        KAFKA_SESSION_TIMEOUT_MS="2000",
    )
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    consumer = FactviewProcess(env, LOG_DIR / f"publish-{unique}.log", cwd=tmp_path)
    async with (
        second_factview(kafka_bootstrap, f"second-{unique}", published, second),
        from_the_start(kafka_bootstrap, published) as reader,
        Burst(kafka_bootstrap, db, load, lives=KILLS + 1) as burst,
    ):
        downstream = Downstream(reader)
        await burst.send(topics[0], load.customers)
        try:
            consumer.start(f"publish-{unique}-0")
            for kill in range(1, KILLS + 1):
                await burst.send(topics[1], burst.slice(kill - 1))
                await burst.progress(rng, 20, 300, 90)
                consumer.kill()  # mid-fold, mid-commit or mid-publish: anywhere
                await client.admin.command("killAllSessions", [])
                consumer.start(f"publish-{unique}-{kill}")
            await burst.send(topics[1], burst.slice(KILLS))
            await burst.folded(oracle.views(load.facts()))
            expected = await until_downstream_agrees(db, second, downstream)
        finally:
            code = consumer.stop()

    assert downstream.overviews == expected, f"seed {seed}"
    assert_published_as_fact_events(downstream, source)
    assert code == 0, consumer.log.read_text()[-2000:]
    await assert_tail_shows_the_chain(env, published)
    await client.drop_database(db.name)
    await client.drop_database(second.name)


async def test_redelivery_and_rebuild_publish_nothing_new(
    mongo_client: AsyncMongoClient[dict[str, object]],
) -> None:
    db = database(mongo_client, f"publish_quiet_{uuid.uuid4().hex[:10]}")
    load = workload(7, prefix="q", accounts=6, events=60)
    engine = FoldEngine(db, PROJECTIONS, publish=True)
    events = load.decoded()
    await engine.apply(events)
    rows = {d["_id"]: d async for d in db[OUTBOX].find({})}
    customers = {d["_id"]: d async for d in db.customers.find({})}
    # One row per customer version the batch produced: here each customer's final version.
    assert sorted(rows) == sorted(
        f"customer-overview:{k}:{overview(d).version:010d}" for k, d in customers.items()
    )
    assert all(rows[r]["data"] == overview(customers[rows[r]["key"]]).data for r in rows)

    again = await engine.apply(events)  # redelivered: already logged, nothing folds
    assert again.published == 0
    for projection in PROJECTIONS:
        await rebuild(db, projection, PROJECTIONS)
    assert {d["_id"]: d async for d in db[OUTBOX].find({})} == rows
    # The rebuilt views publish the same versions: ids are a pure function of the log.
    rebuilt = {d["_id"]: overview(d) async for d in db.customers.find({})}
    assert {k: (p.version, p.data) for k, p in rebuilt.items()} == {
        k: (overview(d).version, overview(d).data) for k, d in customers.items()
    }
    # Publishing off: the engine writes no outbox rows.
    quiet = database(mongo_client, f"{db.name}_off")
    await FoldEngine(quiet, PROJECTIONS).apply(events)
    assert await quiet[OUTBOX].count_documents({}) == 0
    await mongo_client.drop_database(db.name)
    await mongo_client.drop_database(quiet.name)


async def test_one_relay_publishes_at_a_time_and_a_standby_takes_over(
    mongo_client: AsyncMongoClient[dict[str, object]],
) -> None:
    db = database(mongo_client, f"publish_lease_{uuid.uuid4().hex[:10]}")
    first, standby = Lease(db, "publisher:t", 1.0), Lease(db, "publisher:t", 1.0)
    assert await first.hold()
    assert not await standby.hold()  # held, not expired
    assert await first.hold()  # the holder renews
    # The holder dies without releasing: the standby takes over once the lease lapses.
    await eventually(standby.hold, lambda held: held, timeout=5)
    assert not await first.hold()
    await standby.release()
    assert await first.hold()  # a released lease is free at once
    await mongo_client.drop_database(db.name)
