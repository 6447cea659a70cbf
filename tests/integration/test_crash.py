"""`factview consume` SIGKILLed again and again while events flow: nothing lost or doubled."""

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

import pytest
from cloudevents.core.v1.event import CloudEvent
from pymongo import AsyncMongoClient

from app.store import database, make_client
from app.topics import ensure_topics
from tests.conftest import LOG_DIR
from tests.facts import produce
from tests.integration.conftest import eventually
from tests.scratch import differences, logged_events, stored_views, views_from_scratch
from tests.workload import workload

FACTVIEW = str(Path(sys.executable).with_name("factview"))
KILLS = 5


class Consumer:
    """One `factview consume` process at a time, its output appended to one log file."""

    def __init__(self, env: dict[str, str], log: Path, cwd: Path) -> None:
        self.env, self.log, self.cwd = env, log, cwd
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, group: str) -> None:
        env = {**self.env, "KAFKA_GROUP_ID": group}
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


@pytest.fixture
async def client(mongo_uri: str) -> AsyncIterator[AsyncMongoClient[dict[str, object]]]:
    client = make_client(mongo_uri)
    yield client
    await client.close()


async def test_sigkill_at_random_moments_loses_and_doubles_nothing(
    kafka_bootstrap: str,
    mongo_uri: str,
    client: AsyncMongoClient[dict[str, object]],
    tmp_path: Path,
) -> None:
    unique = uuid.uuid4().hex[:10]
    topics = [f"customers.facts.{unique}", f"accounts.facts.{unique}"]
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
        "MONGODB_URI": mongo_uri,
        "MONGODB_DATABASE": db.name,
    }
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    consumer = Consumer(env, LOG_DIR / f"crash-{unique}.log", cwd=tmp_path)

    async def logged() -> int:
        return await db.events.count_documents({})

    # The accounts stream goes out in slices, one per consumer life, so kills land mid-flow.
    slices = [load.accounts[n :: KILLS + 1] for n in range(KILLS + 1)]
    sent: set[tuple[str, str]] = set()

    async def send(topic: str, events: list[CloudEvent]) -> None:
        await produce(kafka_bootstrap, topic, events)
        sent.update((str(e.get_source()), str(e.get_id())) for e in events)

    await send(topics[0], load.customers)
    try:
        # Each restart joins a new group, so it reads every partition from the start: everything
        # already logged is delivered again. (Rejoining the killed member's group is what a real
        # deployment does, but Tansu takes about a minute per kill to expire the dead member and
        # rebalance, too slow for this suite; the log, not the offsets, is what makes it exact.)
        consumer.start(f"crash-{unique}-0")
        for kill in range(1, KILLS + 1):
            await send(topics[1], slices[kill - 1])
            # Kill once it has made a random amount of progress: mid-batch, mid-commit, anywhere.
            target = min(await logged() + rng.randrange(20, 400), len(sent))
            await eventually(logged, lambda n, t=target: n >= t, 90)
            consumer.kill()
            # A transaction the dead process left open holds its writes until the server reaps
            # it (transactionLifetimeLimitSeconds, 60 s): end it now, as an operator would.
            await client.admin.command("killAllSessions", [])
            consumer.start(f"crash-{unique}-{kill}")
        await send(topics[1], slices[KILLS])
        assert sent == load.unique_ids

        expected = views_from_scratch(load.facts())

        async def mismatch() -> list[str]:
            if await logged() < len(load.unique_ids):
                return ["still catching up"]
            return differences(expected, await stored_views(db))

        await eventually(mismatch, lambda m: m == [], timeout=90)
    finally:
        code = consumer.stop()
    log = Counter((e.source, e.id) for e in await logged_events(db))
    lost = len(load.unique_ids - set(log))
    doubled = sum(n - 1 for n in log.values())
    assert (lost, doubled, len(log)) == (0, 0, len(load.unique_ids)), f"seed {seed}"
    assert code == 0, consumer.log.read_text()[-2000:]
    await client.drop_database(db.name)
