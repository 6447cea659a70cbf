"""Scale-out: events/s with 1, 2 and 3 `factview consume` processes, and the pause a kill causes.

Throughput: the same facts (6 partitions per topic) are ingested by 1, then 2, then 3 consumer
processes in one group, each run on fresh topics and a fresh database: the group settles first
(every process holds partitions), then the facts are produced; events/s counts from the first
logged event to the last. Baseline: 1 process; figure: the
most processes; on 2 cores the curve shows where the servers, not factview, are the limit.

Pause (`--kills N`): two consumers fold a steady stream (`--rate` events/s, low enough that
they keep up); one is SIGKILLed and restarted at once, N times. A kill's pause is the longest a
partition of the killed consumer waits until another consumer logs its next event (from the
log's `consumer` stamps and `receivedAt`): the group notices, rebalances, and the dead one's open
transaction ends. Code that stamps no `consumer` in the log cannot be measured this way.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import signal
import statistics
import sys
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

from pymongo.asynchronous.database import AsyncDatabase

from app.store import database, make_client
from bench.facts import STRUCTURED, account_id, deposit, facts, produce
from bench.report import Result, parser, report
from bench.stack import Child, Stack, servers, spawn
from consumers.document import Document

PARTITIONS = 6


def consumers(stack: Stack, n: int, group: str, db: str, label: str) -> list[Child]:
    factview = str(Path(sys.executable).parent / "factview")
    env = stack.env(KAFKA_GROUP_ID=group, MONGODB_DATABASE=db, LOG_LEVEL="WARNING")
    return [spawn(f"scale-{label}-{i}", [factview, "consume"], env) for i in range(n)]


async def _settled(db: AsyncDatabase[Document], group: str, n: int, children: list[Child]) -> None:
    """Wait until the group has n members holding partitions and no claim changed for 3 s."""
    last: object = None
    stable_since = time.monotonic()
    while True:
        for child in children:
            if child.process.poll() is not None:
                raise RuntimeError(f"{child.name} exited:\n{child.tail()}")
        owners = sorted(
            [
                (d["_id"], d["instance"], d["epoch"])
                async for d in db.partition_owners.find({"group": group})
            ]
        )
        if owners != last:
            last, stable_since = owners, time.monotonic()
        elif len({o[1] for o in owners}) == n and time.monotonic() - stable_since > 3:
            return
        await asyncio.sleep(0.2)  # polling the claims


async def throughput(stack: Stack, events: int, accounts: int, most: int) -> dict[int, float]:
    """Per process count: fresh topics and group, the group settled first, then the facts."""
    client = make_client(stack.mongo_uri)
    rates: dict[int, float] = {}
    try:
        for n in range(1, most + 1):
            run = dataclasses.replace(stack, unique=f"{stack.unique}n{n}")
            await run.ensure_topics(PARTITIONS)
            group = f"scale-{run.unique}"
            children = consumers(run, n, group, run.database, str(n))
            db = database(client, run.database)
            try:
                await _settled(db, group, n, children)
                await produce(run, facts(events, accounts), keep=False)
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
            await client.drop_database(run.database)
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


async def pauses(
    stack: Stack, kills: int, rate: int, settle: float
) -> tuple[list[float], list[float]]:
    """Per kill: the longest gap between two logged events of one partition (any code), and
    the wait of the killed consumer's partitions for another consumer (needs `consumer`)."""
    client = make_client(stack.mongo_uri)
    db = database(client, stack.database)
    group = f"pause-{stack.unique}"
    children = consumers(stack, 2, group, stack.database, "pause")
    stop = asyncio.Event()
    producing = asyncio.create_task(_steady(stack, rate, 200, stop))
    kills_done: list[tuple[datetime, int]] = []  # (when, the killed process's pid)
    try:
        await asyncio.sleep(settle)  # both joined and folding before the first kill
        for k in range(kills):
            victim = children[k % 2]
            kills_done.append((datetime.now().astimezone(), victim.process.pid))
            victim.process.send_signal(signal.SIGKILL)
            victim.process.wait(10)
            children[k % 2] = consumers(stack, 1, group, stack.database, f"r{k}")[0]
            await asyncio.sleep(settle)  # the pause, then steady folding again
    finally:
        stop.set()
        await producing
        for child in children:
            child.stop()
    logged: dict[int, list[tuple[datetime, int]]] = defaultdict(list)
    fields = {"partition": 1, "receivedAt": 1, "consumer": 1}
    async for doc in db.events.find({"topic": stack.topics[1]}, fields):
        pid = int(str(doc.get("consumer") or "::0:").split(":")[-2] or 0)
        logged[doc["partition"]].append((doc["receivedAt"], pid))
    gaps: list[float] = []
    for moment, _ in kills_done:
        longest = 0.0
        for events in logged.values():
            times = sorted(t for t, _ in events)
            for a, b in itertools.pairwise(times):
                if -5 < (a - moment).total_seconds() < settle:
                    longest = max(longest, (b - a).total_seconds())
        gaps.append(longest)
    found: list[float] = []
    for moment, pid in kills_done:
        # The victim's partitions: those it logged events of. Each waits until another
        # consumer logs its next event; the kill's pause is the longest such wait.
        waits = []
        for events in logged.values():
            if not any(p == pid for _, p in events):
                continue
            after = [t for t, p in events if t > moment and p != pid]
            if after:
                waits.append((min(after) - moment).total_seconds())
        found.append(max(waits, default=float("nan")))
    await client.close()  # the servers are thrown away with everything on them
    return gaps, found


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
        gaps, handovers = await pauses(stack, kills, rate, settle)
        details["steady rate during kills (events/s)"] = rate
        details["pause per kill: longest gap on a partition (s)"] = _figures(gaps)
        details["pause per kill: the killed one's partitions wait (s)"] = _figures(handovers)
    return Result(
        name="scale",
        figure=rates[most],
        baseline=rates[1],
        unit="events/s",
        goal=f"none (the curve): {most} consumer processes / 1",
        met=True,
        details=details,
    )


def _figures(values: list[float]) -> str:
    known = [v for v in values if v == v]  # NaN: not measurable (no `consumer` stamps)
    if not known:
        return "n/a"
    each = ", ".join(f"{v:.1f}" for v in values)
    return f"{each} (median {statistics.median(known):.1f}, max {max(known):.1f})"


def main() -> None:
    p = parser(__doc__ or "")
    p.add_argument("--events", type=int, default=20_000)
    p.add_argument("--accounts", type=int, default=600)
    p.add_argument("--consumers", type=int, default=3, help="measure 1..N processes")
    p.add_argument("--kills", type=int, default=3, help="restart pauses to measure (0: none)")
    p.add_argument("--rate", type=int, default=60, help="events/s while killing")
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
