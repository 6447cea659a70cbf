"""The benchmarks' synthetic fact stream: CloudEvents as Kafka records, produced or folded."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from bench.stack import Stack

BASE_TIME = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
STRUCTURED = [("content-type", b"application/cloudevents+json")]


@dataclass(frozen=True, slots=True)
class Fact:
    """One structured-mode CloudEvent as a Kafka record, ready to produce."""

    source: str
    key: bytes
    value: bytes


def cloud_event(
    source: str, type_: str, subject: str, data: dict[str, Any], seq: int, event_id: str = ""
) -> Fact:
    moment = BASE_TIME + dt.timedelta(milliseconds=seq)
    event = {
        "specversion": "1.0",
        "id": event_id or f"{source[0]}{seq}",
        "source": source,
        "type": type_,
        "subject": subject,
        "time": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "datacontenttype": "application/json",
        "data": data,
    }
    return Fact(source, subject.encode(), orjson.dumps(event))


def customer_id(n: int) -> str:
    return f"c{n:07d}"


def account_id(n: int) -> str:
    return f"a{n:07d}"


def default_accounts(events: int) -> int:
    # About 25 events per account: documents of a realistic size, not one ever-growing list.
    return max(2, events // 25)


def deposit(account: str, seq: int, amount: str) -> Fact:
    data = {"accountId": account, "transactionId": f"t{seq}", "amount": amount, "currency": "EUR"}
    return cloud_event("accounts", "account.deposited", account, data, seq)


def facts(
    events: int, accounts: int | None = None, seed: int = 7, window: int | None = None
) -> Iterator[Fact]:
    """Exactly `events` facts: customers registered, accounts opened, then money moving.

    Two accounts per customer; times increase (no late events); about one movement in ten
    is a withdrawal and one in fifty a correction. Generated lazily, so a million is cheap.
    Movements go to any account, or with `window`, to one of `window` accounts sliding
    across all of them: then every stretch of the stream looks alike (stationary work).
    """
    accounts = accounts or default_accounts(events)
    customers = max(1, accounts // 2)
    rng = random.Random(seed)
    seq = 0
    for c in range(customers):
        if seq >= events:
            return
        cid = customer_id(c)
        data = {"customerId": cid, "name": f"Customer {c}", "email": f"{cid}@example.com"}
        yield cloud_event("customers", "customer.registered", cid, data, seq)
        seq += 1
    for a in range(accounts):
        if seq >= events:
            return
        aid = account_id(a)
        data = {"accountId": aid, "customerId": customer_id(a % customers), "currency": "EUR"}
        yield cloud_event("accounts", "account.opened", aid, data, seq)
        seq += 1
    last: dict[str, str] = {}
    first_movement, movements = seq, max(1, events - seq)
    while seq < events:
        if window is None or window >= accounts:
            aid = account_id(rng.randrange(accounts))
        else:
            base = (seq - first_movement) * (accounts - window) // movements
            aid = account_id(base + rng.randrange(window))
        yield movement(rng, aid, seq, last)
        seq += 1


def movement(rng: random.Random, aid: str, seq: int, last: dict[str, str]) -> Fact:
    """A deposit (88 %), a withdrawal (10 %) or a correction of the account's last one (2 %).

    `last` (account -> its newest transactionId) is kept up to date for the next call.
    """
    roll = rng.random()
    amount = f"{rng.randrange(100, 100_000) / 100:.2f}"
    if roll < 0.98 or aid not in last:
        last[aid] = f"t{seq}"
        if roll < 0.88:
            return deposit(aid, seq, amount)
        data = {"accountId": aid, "transactionId": f"t{seq}", "amount": amount}
        data["currency"] = "EUR"
        return cloud_event("accounts", "account.withdrawn", aid, data, seq)
    data = {"accountId": aid, "transactionId": last[aid], "amount": amount}
    return cloud_event("accounts", "account.transaction-corrected", aid, data, seq)


async def produce(
    stack: Stack, stream: Iterable[Fact], chunk: int = 2000, keep: bool = True
) -> list[tuple[Fact, str, int, int]]:
    """Produce every fact (pipelined); returns (fact, topic, partition, offset) if `keep`."""
    placed: list[tuple[Fact, str, int, int]] = []
    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap, linger_ms=5)
    await producer.start()
    try:
        pending: list[tuple[Fact, str, Any]] = []

        async def drain() -> None:
            for fact, topic, future in pending:
                meta = await future
                if keep:
                    placed.append((fact, topic, meta.partition, meta.offset))
            pending.clear()

        for fact in stream:
            topic = stack.topic_for(fact.source)
            future = await producer.send(topic, fact.value, key=fact.key, headers=STRUCTURED)
            pending.append((fact, topic, future))
            if len(pending) >= chunk:
                await drain()
        await drain()
    finally:
        await producer.stop()
    return placed


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def decoded(stack: Stack, stream: Iterable[Fact]) -> Iterator[Any]:
    """The facts as the consumer decodes them (offsets numbered as if on one partition)."""
    from consumers.decoding import RawRecord, decode

    headers = tuple(STRUCTURED)
    for offset, fact in enumerate(stream):
        topic = stack.topic_for(fact.source)
        yield decode(RawRecord(topic, 0, offset, fact.key, fact.value, headers))


async def seed(stack: Stack, stream: Iterable[Fact], batch: int = 2000) -> int:
    """Fold facts straight into the log and views with the real FoldEngine (no broker)."""
    from app.store import database, ensure_indexes, make_client
    from consumers.engine import FoldEngine
    from consumers.projections import PROJECTIONS

    client = make_client(stack.mongo_uri)
    count = 0
    try:
        db = database(client, stack.database)
        await ensure_indexes(db)
        await record_versions(db)
        engine = FoldEngine(db, PROJECTIONS)
        pending: list[Any] = []
        for event in decoded(stack, stream):
            pending.append(event)
            if len(pending) >= batch:
                await engine.apply(pending)
                count += len(pending)
                pending = []
        if pending:
            await engine.apply(pending)
            count += len(pending)
    finally:
        await client.close()
    return count


async def record_versions(db: Any) -> None:
    """What a factview start does on an empty database: mark the views as this code's.

    Without it a server started on the seeded views would find them unversioned and rebuild
    them in the background while being measured.
    """
    try:
        from consumers.rebuild import versions
    except ImportError:  # code from before projection versions
        return
    from consumers.projections import PROJECTIONS

    for projection in PROJECTIONS:
        await versions.record(db, projection, PROJECTIONS, rebuilt=False)
