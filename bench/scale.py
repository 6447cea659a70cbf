"""Scale-out: events/s with 1, 2 and 3 `factview consume` processes, and the pause a kill causes.

Throughput: the same facts (6 partitions per topic) are ingested from scratch by 1, then 2,
then 3 consumer processes in one group, each run into a fresh database; events/s counts from
the first logged event to the last (group joins excluded). Baseline: 1 process; figure: the
most processes; on 2 cores the curve shows where the servers, not factview, are the limit.

Pause (`--kills N`): two consumers fold a steady stream (`--rate` events/s); one is SIGKILLed
and restarted at once, N times. A kill's pause is the longest gap between two logged events of
one partition around it (from the log's receivedAt): the partitions wait for the group to
notice, rebalance, and for the dead consumer's open transaction to end.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import statistics
import sys
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

from app.store import database, make_client
from bench.common import (
    STRUCTURED,
    Child,
    Result,
    Stack,
    account_id,
    deposit,
    facts,
    parser,
    produce,
    report,
    servers,
    spawn,
)

PARTITIONS = 6


def consumers(stack: Stack, n: int, group: str, db: str, label: str) -> list[Child]:
    factview = str(Path(sys.executable).parent / "factview")
    env = stack.env(KAFKA_GROUP_ID=group, MONGODB_DATABASE=db, LOG_LEVEL="WARNING")
    return [spawn(f"scale-{label}-{i}", [factview, "consume"], env) for i in range(n)]


async def throughput(stack: Stack, events: int, accounts: int, most: int) -> dict[int, float]:
    await produce(stack, facts(events, accounts), keep=False)
    client = make_client(stack.mongo_uri)
    rates: dict[int, float] = {}
    try:
        for n in range(1, most + 1):
            name = f"{stack.database}_{n}"
            children = consumers(stack, n, f"scale-{stack.unique}-{n}", name, str(n))
            try:
                db = database(client, name)
                while await db.events.estimated_document_count() < events:
                    for child in children:
                        if child.process.poll() is not None:
                            raise RuntimeError(f"{child.name} exited:\n{child.tail()}")
                    await asyncio.sleep(0.2)  # polling the log's size
            finally:
                for child in children:
                    child.stop()
            first = await db.events.find_one({}, sort=[("receivedAt", 1)])
            last = await db.events.find_one({}, sort=[("receivedAt", -1)])
            assert first is not None and last is not None
            seconds = (last["receivedAt"] - first["receivedAt"]).total_seconds()
            rates[n] = events / max(seconds, 1e-3)
            await client.drop_database(name)
    finally:
        await client.close()
    return rates


async def _steady(stack: Stack, rate: int, accounts: int, stop: asyncio.Event) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap, linger_ms=5)
    await producer.start()
    seq = 10_000_000
    try:
        while not stop.is_set():
            tick = time.monotonic()
            for _ in range(max(1, rate // 10)):
                fact = deposit(account_id(seq % accounts), seq, "1.00")
                await producer.send(stack.topics[1], fact.value, key=fact.key, headers=STRUCTURED)
                seq += 1
            await asyncio.sleep(max(0.0, 0.1 - (time.monotonic() - tick)))  # the rate's pacing
    finally:
        await producer.stop()


async def pauses(stack: Stack, kills: int, rate: int, settle: float) -> list[float]:
    client = make_client(stack.mongo_uri)
    db = database(client, stack.database)
    children = consumers(stack, 2, f"pause-{stack.unique}", stack.database, "pause")
    stop = asyncio.Event()
    producing = asyncio.create_task(_steady(stack, rate, 200, stop))
    killed_at: list[datetime] = []
    try:
        await asyncio.sleep(settle)  # both joined and folding before the first kill
        for k in range(kills):
            victim = children[k % 2]
            killed_at.append(datetime.now().astimezone())
            victim.process.send_signal(signal.SIGKILL)
            victim.process.wait(10)
            children[k % 2] = consumers(stack, 1, f"pause-{stack.unique}", stack.database, f"r{k}")[
                0
            ]
            await asyncio.sleep(settle)  # the pause, then steady folding again
    finally:
        stop.set()
        await producing
        for child in children:
            child.stop()
    times: dict[int, list[datetime]] = defaultdict(list)
    async for doc in db.events.find({"topic": stack.topics[1]}, {"partition": 1, "receivedAt": 1}):
        times[doc["partition"]].append(doc["receivedAt"])
    found: list[float] = []
    for moment in killed_at:
        longest = 0.0
        for received in times.values():
            received.sort()
            for a, b in itertools.pairwise(received):
                if -5 < (a - moment).total_seconds() < settle:
                    longest = max(longest, (b - a).total_seconds())
        found.append(longest)
    await client.drop_database(stack.database)
    await client.close()
    return found


async def measure(
    stack: Stack, events: int, accounts: int, most: int, kills: int, rate: int, settle: float
) -> Result:
    await stack.ensure_topics(PARTITIONS)
    rates = await throughput(stack, events, accounts, most)
    details: dict[str, object] = {
        "events": events,
        "accounts": accounts,
        "partitions per topic": PARTITIONS,
        **{f"events/s with {n} consumer(s)": round(r) for n, r in rates.items()},
    }
    if kills:
        found = await pauses(stack, kills, rate, settle)
        details["steady rate during kills (events/s)"] = rate
        details["pause per kill (s)"] = ", ".join(f"{p:.1f}" for p in found)
        details["pause median / max (s)"] = f"{statistics.median(found):.1f} / {max(found):.1f}"
    return Result(
        name="scale",
        figure=rates[most],
        baseline=rates[1],
        unit="events/s",
        goal=f"none (the curve): {most} consumer processes / 1",
        met=True,
        details=details,
    )


def main() -> None:
    p = parser(__doc__ or "")
    p.add_argument("--events", type=int, default=20_000)
    p.add_argument("--accounts", type=int, default=600)
    p.add_argument("--consumers", type=int, default=3, help="measure 1..N processes")
    p.add_argument("--kills", type=int, default=3, help="restart pauses to measure (0: none)")
    p.add_argument("--rate", type=int, default=200, help="events/s while killing")
    p.add_argument("--settle", type=float, default=30.0, help="seconds after each kill")
    args = p.parse_args()
    with servers() as stack:
        result = asyncio.run(
            measure(
                stack,
                args.events,
                args.accounts,
                args.consumers,
                args.kills,
                args.rate,
                args.settle,
            )
        )
    report(result, args.json)


if __name__ == "__main__":
    main()
