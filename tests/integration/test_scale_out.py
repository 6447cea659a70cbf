"""Scale-out on real servers: an API replica that does not consume, and three `factview consume`
processes in one group over 6-partition topics, SIGKILLed and restarted while a burst flows.

Afterwards every view equals the fold from scratch (lost 0, doubled 0), and the log shows that
every partition was folded by one consumer at a time: each logged event carries the consumer
that logged it and that consumer's assignment epoch.
"""

from __future__ import annotations

import itertools
import random
import sys
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from app.auth import token_for
from app.devstack.embedded import free_port
from app.devstack.topics import ensure_topics
from app.settings import Settings
from app.store import database
from tests.conftest import LOG_DIR
from tests.support import oracle, stored
from tests.support.burst import Burst
from tests.support.processes import FactviewProcess, factview_env
from tests.support.stack import TEST_JWT_SECRET
from tests.support.workload import workload

FACTVIEW = str(Path(sys.executable).with_name("factview"))
CONSUMERS = 3
KILLS = 4
PARTITIONS = 6


def pid_of(instance: str) -> int:
    return int(instance.split(":")[-2])


def ownership_problems(docs: list[dict[str, Any]]) -> list[str]:
    """Per partition, in offset order, the epochs never go back and each epoch has one consumer."""
    problems: list[str] = []
    by_partition: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for doc in docs:
        by_partition[(doc["topic"], doc["partition"])].append(doc)
    for partition, logged in sorted(by_partition.items()):
        logged.sort(key=lambda d: d["offset"])
        owners: dict[int, set[str]] = defaultdict(set)
        for earlier, later in itertools.pairwise(logged):
            if later["epoch"] < earlier["epoch"]:
                problems.append(
                    f"{partition}: offset {later['offset']} logged by epoch {later['epoch']} "
                    f"after offset {earlier['offset']} by epoch {earlier['epoch']}"
                )
        for doc in logged:
            owners[doc["epoch"]].add(doc["consumer"])
        problems += [
            f"{partition}: epoch {e} had {sorted(c)}" for e, c in owners.items() if len(c) > 1
        ]
    return problems


def scale_env(
    kafka_bootstrap: str, topics: list[str], unique: str, mongo_uri: str, db: str
) -> dict[str, str]:
    return factview_env(
        kafka_bootstrap,
        topics,
        mongo_uri,
        db,
        KAFKA_GROUP_ID=f"scale-{unique}",
        # The group notices a killed member after 3 s (the default, 6 s, is what Kafka allows).
        KAFKA_SESSION_TIMEOUT_MS="3000",
        KAFKA_HEARTBEAT_INTERVAL_MS="500",
        # Small batches: every batch re-embeds Customer documents that the other consumers'
        # batches write too (a customer's accounts sit on several partitions); long transactions
        # on a loaded machine then keep aborting each other (WriteConflict) and retrying.
        KAFKA_MAX_BATCH="50",
        AUTH_JWT_SECRET=TEST_JWT_SECRET,
        LOG_FORMAT="console",
    )


async def assert_the_api_replica_serves_the_folds(port: int, expected: oracle.Views) -> None:
    """The API replica serves what the consumer replicas folded, and consumes nothing itself."""
    settings = Settings(_env_file=None, auth_jwt_secret=TEST_JWT_SECRET)  # type: ignore[call-arg]
    headers = {"Authorization": f"Bearer {token_for(settings, 'ops', 'staff')}"}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers) as http:
        ready = (await http.get("/readyz")).json()
        assert "kafka" not in ready["checks"], ready
        some = sorted(expected.accounts)[0]
        body = (
            await http.post(
                "/graphql",
                json={
                    "query": "query($id: ID!) { account(id: $id) { balance } }",
                    "variables": {"id": some},
                },
            )
        ).json()
        assert body["data"]["account"]["balance"] == f"{expected.accounts[some].balance}"


async def assert_one_consumer_at_a_time_spread_over_all(
    db: AsyncDatabase[Any], consumers: list[FactviewProcess], seed: int
) -> None:
    """Each partition was folded by one consumer at a time, only the consumer processes logged
    anything, and the work was spread among them."""
    fields = {"topic": 1, "partition": 1, "offset": 1, "consumer": 1, "epoch": 1}
    events = [doc async for doc in db.events.find({}, fields)]
    assert ownership_problems(events) == [], f"seed {seed}"
    pids = {pid for c in consumers for pid in c.pids}
    instances = {e["consumer"] for e in events}
    assert {pid_of(i) for i in instances} <= pids
    assert len({pid_of(e["consumer"]) for e in events}) >= CONSUMERS


async def test_three_consumers_killed_and_restarted_lose_and_double_nothing(
    kafka_bootstrap: str,
    mongo_uri: str,
    client: AsyncMongoClient[dict[str, Any]],
    tmp_path: Path,
) -> None:
    unique = uuid.uuid4().hex[:10]
    topics = [f"customers.facts.{unique}", f"accounts.facts.{unique}"]
    db = database(client, f"scale_{unique}")
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    load = workload(seed, prefix=unique, accounts=60, events=2000)
    await ensure_topics(kafka_bootstrap, topics, partitions=PARTITIONS)
    env = scale_env(kafka_bootstrap, topics, unique, mongo_uri, db.name)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    consumers = [
        FactviewProcess(env, LOG_DIR / f"scale-{unique}-{n}.log", tmp_path)
        for n in range(CONSUMERS)
    ]
    port = free_port()
    api = FactviewProcess(
        {**env, "CONSUME": "false"},
        LOG_DIR / f"scale-{unique}-api.log",
        tmp_path,
        args=["serve", "--port", str(port)],
    )
    api.start()
    for consumer in consumers:
        consumer.start()
    try:
        async with Burst(kafka_bootstrap, db, load, lives=KILLS + 1) as burst:
            await burst.send(topics[0], load.customers)
            for kill in range(KILLS):
                await burst.send(topics[1], burst.slice(kill))
                # Kill one consumer once the group has made some progress: mid-batch, anywhere.
                await burst.progress(rng, 50, 300, 60)
                victim = rng.choice(consumers)
                victim.kill()
                victim.start()  # the same group: its partitions go to whoever the group picks
            await burst.send(topics[1], burst.slice(KILLS))
            assert burst.ids == load.unique_ids
        expected = oracle.views(load.facts())
        await burst.folded(expected)
        await assert_the_api_replica_serves_the_folds(port, expected)
    finally:
        codes = [c.stop() for c in consumers]
        api.stop()

    log = Counter((e.source, e.id) for e in await stored.read_log(db))
    lost = len(load.unique_ids - set(log))
    doubled = sum(n - 1 for n in log.values())
    assert (lost, doubled, len(log)) == (0, 0, len(load.unique_ids)), f"seed {seed}"
    await assert_one_consumer_at_a_time_spread_over_all(db, consumers, seed)
    assert codes == [0] * CONSUMERS, [c.log.read_text()[-2000:] for c in consumers]
    await client.drop_database(db.name)
