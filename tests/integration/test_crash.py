"""`factview consume` SIGKILLed again and again while events flow: nothing lost or doubled.

Every life joins the same consumer group, so each one starts from the offsets the previous
ones committed, and after each kill those offsets are read back: every record below a
committed offset must already be in the log (at-least-once). One kill lands while a fold
transaction is provably open: a fail point holds the consumer's `commitTransaction` and the
process dies while the server sits on it.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from pymongo import AsyncMongoClient

from app.devstack.topics import ensure_topics
from app.store import database
from consumers.document import Document
from tests.conftest import LOG_DIR
from tests.support import oracle, stored
from tests.support.burst import Burst, Ids
from tests.support.processes import FactviewProcess, factview_env
from tests.support.stack import eventually
from tests.support.workload import workload

KILLS = 5
# The life whose fold transaction is killed while it commits (counting from 1).
BLOCKED_LIFE = 3
# Long enough to observe the held commit, kill and read the offsets; it then runs anyway.
BLOCK_MS = 8000


async def committed(observer: AIOKafkaConsumer, topics: list[str]) -> dict[tuple[str, int], int]:
    """The group's committed offsets (what a new member would resume from)."""
    offsets: dict[tuple[str, int], int] = {}
    for topic in topics:
        for partition in range(3):
            offset = await observer.committed(TopicPartition(topic, partition))
            if offset is not None:
                offsets[(topic, partition)] = offset
    return offsets


def skipped(offsets: dict[tuple[str, int], int], sent: Burst, logged: set[Ids]) -> list[str]:
    """Records below their partition's committed offset that the log does not hold."""
    return [
        f"{topic}/{partition}@{offset}"
        for (topic, partition, offset), ids in sorted(sent.at.items())
        if offset < offsets.get((topic, partition), 0) and ids not in logged
    ]


async def commit_held(admin: AsyncMongoClient[Document], app: str) -> bool:
    """Whether a connection of `app` is in `commitTransaction` (the fail point holds every one)."""
    ops = (await admin.admin.command("currentOp"))["inprog"]
    return any(
        op.get("op") == "commitTransaction"
        and (op.get("clientMetadata") or {}).get("application", {}).get("name") == app
        for op in ops
    )


async def fail_point(admin: AsyncMongoClient[Document], mode: Any, data: Document) -> None:
    await admin.admin.command({"configureFailPoint": "failCommand", "mode": mode, "data": data})


def crash_env(
    kafka_bootstrap: str, topics: list[str], group: str, mongo_uri: str, db: str
) -> dict[str, str]:
    return factview_env(
        kafka_bootstrap,
        topics,
        mongo_uri,
        db,
        KAFKA_GROUP_ID=group,
        # A killed member's partitions move to its successor after this long.
        KAFKA_SESSION_TIMEOUT_MS="2000",
    )


async def live_and_die(
    consumer: FactviewProcess,
    burst: Burst,
    client: AsyncMongoClient[Document],
    rng: random.Random,
    life: int,
    app: str,
    topic: str,
) -> None:
    """One consumer life while its slice flows, SIGKILLed mid-flow."""
    if life == BLOCKED_LIFE:
        # Every commit of this life waits BLOCK_MS on the server before it runs; its
        # records go out first, so its first batch holds some the log lacks.
        data = {"failCommands": ["commitTransaction"], "appName": app}
        data |= {"blockConnection": True, "blockTimeMS": BLOCK_MS}
        await fail_point(client, "alwaysOn", data)
        await burst.send(topic, burst.slice(life - 1))
        consumer.start(app)
        await eventually(lambda: commit_held(client, app), bool, timeout=90)
    else:
        consumer.start(app)
        await burst.send(topic, burst.slice(life - 1))
        # Kill after a random amount of progress: mid-batch, mid-commit, anywhere.
        await burst.progress(rng, 20, 400, 90)
    consumer.kill()


def doubled(expected: oracle.Views, views: oracle.Views) -> int:
    """Events folded twice: each shows as a document version above its distinct events."""
    return sum(
        max(0, getattr(views, name)[key].version - doc.version)
        for name in ("accounts", "customers")
        for key, doc in getattr(expected, name).items()
        if key in getattr(views, name)
    )


async def test_sigkill_at_random_moments_loses_and_doubles_nothing(
    kafka_bootstrap: str, mongo_uri: str, client: AsyncMongoClient[Document], tmp_path: Path
) -> None:
    unique = uuid.uuid4().hex[:10]
    topics = [f"customers.facts.{unique}", f"accounts.facts.{unique}"]
    group = f"crash-{unique}"
    db = database(client, f"crash_{unique}")
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    load = workload(seed, prefix=unique, accounts=50, events=3000)
    expected = oracle.views(load.facts())
    await ensure_topics(kafka_bootstrap, topics)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    env = crash_env(kafka_bootstrap, topics, group, mongo_uri, db.name)
    consumer = FactviewProcess(env, LOG_DIR / f"crash-{unique}.log", cwd=tmp_path)
    # Reads the group's offsets without joining it.
    observer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group)
    await observer.start()
    checked: list[int] = []
    async with Burst(kafka_bootstrap, db, load, lives=KILLS + 1) as burst:
        await burst.send(topics[0], load.customers)
        try:
            for life in range(1, KILLS + 1):
                app = f"crash-{unique}-life-{life}"
                await live_and_die(consumer, burst, client, rng, life, app, topics[1])
                # Offsets first, the log second: the log only grows, so nothing here hides a skip.
                offsets = await committed(observer, topics)
                logged = await burst.logged_ids()
                assert skipped(offsets, burst, logged) == [], f"seed {seed}, life {life}"
                checked.append(sum(offsets.values()))
                await fail_point(client, "off", {})
                # A transaction the dead process left open holds its writes until the server
                # reaps it (transactionLifetimeLimitSeconds, 60 s): end it now, as an operator
                # would.
                await client.admin.command("killAllSessions", [])
            consumer.start(f"crash-{unique}-last")
            await burst.send(topics[1], burst.slice(KILLS))
            assert burst.ids == load.unique_ids
            await burst.folded(expected)
            # In the end the group has committed every record, and each is in the log.
            tps = [TopicPartition(t, p) for t in topics for p in range(3)]
            ends = await observer.end_offsets(tps)
            final = await eventually(
                lambda: committed(observer, topics),
                lambda o: o == {(tp.topic, tp.partition): n for tp, n in ends.items() if n},
                timeout=30,
            )
            assert skipped(final, burst, await burst.logged_ids()) == []
        finally:
            await fail_point(client, "off", {})
            code = consumer.stop()
            await observer.stop()
    # The offsets checked after the kills were real progress, not an empty group.
    assert checked[-1] > 0, checked
    log = Counter((e.source, e.id) for e in await stored.read_log(db))
    lost = len(load.unique_ids - set(log))
    twice = doubled(expected, await stored.read_views(db))
    assert (lost, twice, len(log)) == (0, 0, len(load.unique_ids)), f"seed {seed}"
    assert code == 0, consumer.log.read_text()[-2000:]
    await client.drop_database(db.name)
