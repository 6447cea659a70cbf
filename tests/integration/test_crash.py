"""`factview consume` SIGKILLed again and again while events flow: nothing lost or doubled.

Every life joins the same consumer group, so each one starts from the offsets the previous
ones committed, and after each kill those offsets are read back: every record below a
committed offset must already be in the log (at-least-once). One kill lands while a fold
transaction is provably open: a fail point holds the consumer's `commitTransaction` and the
process dies while the server sits on it.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from cloudevents.core.v1.event import CloudEvent
from pymongo import AsyncMongoClient

from app.store import database, make_client
from app.topics import ensure_topics
from tests.conftest import LOG_DIR
from tests.facts import message
from tests.integration.conftest import eventually
from tests.support import oracle, stored
from tests.workload import workload

FACTVIEW = str(Path(sys.executable).with_name("factview"))
KILLS = 5
# The life whose fold transaction is killed while it commits (counting from 1).
BLOCKED_LIFE = 3
# Long enough to observe the held commit, kill and read the offsets; it then runs anyway.
BLOCK_MS = 8000
Document = dict[str, Any]
Ids = tuple[str, str]


class Consumer:
    """One `factview consume` process at a time, its output appended to one log file."""

    def __init__(self, env: dict[str, str], log: Path, cwd: Path) -> None:
        self.env, self.log, self.cwd = env, log, cwd
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, app: str) -> None:
        # Each life names itself to MongoDB, so a fail point and currentOp can tell it apart.
        env = {**self.env, "MONGODB_URI": f"{self.env['MONGODB_URI']}&appName={app}"}
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [FACTVIEW, "consume"], env=env, cwd=self.cwd, stdout=out, stderr=out
            )

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode


class Sent:
    """A producer that remembers which event sits at each (topic, partition, offset)."""

    def __init__(self, bootstrap: str) -> None:
        self.producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        self.at: dict[tuple[str, int, int], Ids] = {}

    async def send(self, topic: str, events: list[CloudEvent]) -> None:
        for event in events:
            msg = message(event)
            key = msg.key.encode() if isinstance(msg.key, str) else msg.key
            meta = await self.producer.send_and_wait(
                topic, msg.value, key=key, headers=list(msg.headers.items())
            )
            ids = (str(event.get_source()), str(event.get_id()))
            self.at[(topic, meta.partition, meta.offset)] = ids

    @property
    def ids(self) -> set[Ids]:
        return set(self.at.values())


@pytest.fixture
async def client(mongo_uri: str) -> AsyncIterator[AsyncMongoClient[Document]]:
    client = make_client(mongo_uri)
    yield client
    await client.close()


async def committed(observer: AIOKafkaConsumer, topics: list[str]) -> dict[tuple[str, int], int]:
    """The group's committed offsets (what a new member would resume from)."""
    offsets: dict[tuple[str, int], int] = {}
    for topic in topics:
        for partition in range(3):
            offset = await observer.committed(TopicPartition(topic, partition))
            if offset is not None:
                offsets[(topic, partition)] = offset
    return offsets


def skipped(offsets: dict[tuple[str, int], int], sent: Sent, logged: set[Ids]) -> list[str]:
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
    await ensure_topics(kafka_bootstrap, topics)
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        # JSON, as the comma form of KAFKA_TOPICS does not parse (pydantic-settings decodes first)
        "KAFKA_TOPICS": json.dumps(topics),
        "KAFKA_GROUP_ID": group,
        # A killed member's partitions move to its successor after this long.
        "KAFKA_SESSION_TIMEOUT_MS": "2000",
        "MONGODB_URI": mongo_uri,
        "MONGODB_DATABASE": db.name,
    }
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    consumer = Consumer(env, LOG_DIR / f"crash-{unique}.log", cwd=tmp_path)
    sent = Sent(kafka_bootstrap)
    # Reads the group's offsets without joining it.
    observer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group)
    await sent.producer.start()
    await observer.start()

    async def logged_ids() -> set[Ids]:
        return {(e.source, e.id) for e in await stored.read_log(db)}

    async def logged() -> int:
        return await db.events.count_documents({})

    # The accounts stream goes out in slices, one per consumer life, so kills land mid-flow.
    slices = [load.accounts[n :: KILLS + 1] for n in range(KILLS + 1)]
    checked: list[int] = []
    await sent.send(topics[0], load.customers)
    try:
        for life in range(1, KILLS + 1):
            app = f"crash-{unique}-life-{life}"
            if life == BLOCKED_LIFE:
                # Every commit of this life waits BLOCK_MS on the server before it runs; its
                # records go out first, so its first batch holds some the log lacks.
                data = {"failCommands": ["commitTransaction"], "appName": app}
                data |= {"blockConnection": True, "blockTimeMS": BLOCK_MS}
                await fail_point(client, "alwaysOn", data)
                await sent.send(topics[1], slices[life - 1])
                consumer.start(app)
                await eventually(lambda a=app: commit_held(client, a), bool, timeout=90)
            else:
                consumer.start(app)
                await sent.send(topics[1], slices[life - 1])
                # Kill after a random amount of progress: mid-batch, mid-commit, anywhere.
                target = min(await logged() + rng.randrange(20, 400), len(sent.ids))
                await eventually(logged, lambda n, t=target: n >= t, 90)
            consumer.kill()
            # Offsets first, the log second: the log only grows, so nothing here hides a skip.
            offsets = await committed(observer, topics)
            assert skipped(offsets, sent, await logged_ids()) == [], f"seed {seed}, life {life}"
            checked.append(sum(offsets.values()))
            await fail_point(client, "off", {})
            # A transaction the dead process left open holds its writes until the server reaps
            # it (transactionLifetimeLimitSeconds, 60 s): end it now, as an operator would.
            await client.admin.command("killAllSessions", [])
        consumer.start(f"crash-{unique}-last")
        await sent.send(topics[1], slices[KILLS])
        assert sent.ids == load.unique_ids

        expected = oracle.views(load.facts())

        async def mismatch() -> list[str]:
            if await logged() < len(load.unique_ids):
                return ["still catching up"]
            return oracle.differences(expected, await stored.read_views(db))

        await eventually(mismatch, lambda m: m == [], timeout=90)
        # In the end the group has committed every record, and each is in the log.
        ends = await observer.end_offsets([TopicPartition(t, p) for t in topics for p in range(3)])
        final = await eventually(
            lambda: committed(observer, topics),
            lambda o: o == {(tp.topic, tp.partition): n for tp, n in ends.items() if n},
            timeout=30,
        )
        assert skipped(final, sent, await logged_ids()) == []
    finally:
        await fail_point(client, "off", {})
        code = consumer.stop()
        await observer.stop()
        await sent.producer.stop()
    # The offsets checked after the kills were real progress, not an empty group.
    assert checked[-1] > 0, checked
    log = Counter((e.source, e.id) for e in await stored.read_log(db))
    lost = len(load.unique_ids - set(log))
    # An event folded twice shows as a document version above its distinct events.
    views = await stored.read_views(db)
    doubled = sum(
        max(0, getattr(views, name)[key].version - doc.version)
        for name in ("accounts", "customers")
        for key, doc in getattr(expected, name).items()
        if key in getattr(views, name)
    )
    assert (lost, doubled, len(log)) == (0, 0, len(load.unique_ids)), f"seed {seed}"
    assert code == 0, consumer.log.read_text()[-2000:]
    await client.drop_database(db.name)
