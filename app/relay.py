"""The outbox relay: publishes the rows the fold engine wrote (consumers/outbox.py) to Kafka.

Any number of factview processes may run it; a lease in MongoDB (`leases`) lets one of them
publish at a time, and a standby takes over once a dead holder's lease expires. Rows are sent
key by key in version order and deleted only after the broker acknowledged them, so a crash
between the send and the delete sends the same event ids again: at least once, never lost,
each customer's versions in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from aiokafka import AIOKafkaProducer
from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from consumers.outbox import OUTBOX, to_record

log = structlog.get_logger("factview.relay")
Document = dict[str, Any]
LEASES = "leases"
_CLOSE_TIMEOUT = 1.0


@dataclass(frozen=True)
class RelayConfig:
    bootstrap_servers: str
    topic: str
    source: str
    lease_seconds: float = 10.0
    batch: int = 500
    poll_seconds: float = 1.0
    max_backoff: float = 5.0


@dataclass(frozen=True)
class Lag:
    pending: int
    oldest_seconds: float


class Lease:
    """One document in `leases`: an owner and an expiry the holder keeps pushing forward."""

    def __init__(self, db: AsyncDatabase[Document], name: str, ttl: float) -> None:
        self.db, self.name, self.ttl = db, name, ttl
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._valid_until = 0.0  # monotonic; a margin below the stored expiry

    async def hold(self) -> bool:
        """Take or renew the lease; False while someone else holds it."""
        started = time.monotonic()
        now = datetime.now(UTC)
        try:
            await self.db[LEASES].find_one_and_update(
                {"_id": self.name, "$or": [{"owner": self.owner}, {"expiresAt": {"$lt": now}}]},
                {"$set": {"owner": self.owner, "expiresAt": now + timedelta(seconds=self.ttl)}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            # The filter missed an existing document: another owner's lease, not yet expired.
            self._valid_until = 0.0
            return False
        # Counted from before the write, so this process stops before the stored expiry does.
        self._valid_until = started + self.ttl
        return True

    def remaining(self) -> float:
        return self._valid_until - time.monotonic()

    async def release(self) -> None:
        if self._valid_until > 0:
            await self.db[LEASES].delete_one({"_id": self.name, "owner": self.owner})
        self._valid_until = 0.0


class OutboxRelay:
    def __init__(self, db: AsyncDatabase[Document], config: RelayConfig) -> None:
        self.db = db
        self.config = config
        self.lease = Lease(db, f"publisher:{config.topic}", config.lease_seconds)
        self.published = 0
        self._wake = asyncio.Event()
        self._producer: AIOKafkaProducer | None = None

    @property
    def leader(self) -> bool:
        return self.lease.remaining() > 0

    def notify(self) -> None:
        """A batch committed outbox rows: publish now rather than at the next poll."""
        self._wake.set()

    async def lag(self) -> Lag:
        outbox = self.db[OUTBOX]
        pending = await outbox.count_documents({})
        oldest = await outbox.find_one({}, {"createdAt": 1}, sort=[("createdAt", ASCENDING)])
        age = 0.0
        if oldest is not None:
            age = max(0.0, (datetime.now(UTC) - oldest["createdAt"]).total_seconds())
        return Lag(pending, age)

    async def run(self, stopping: asyncio.Event) -> None:
        await self.db[OUTBOX].create_index([("createdAt", ASCENDING)])
        await self.db[OUTBOX].create_index([("key", ASCENDING), ("version", ASCENDING)])
        backoff = 0.1
        try:
            while not stopping.is_set():
                self._wake.clear()
                try:
                    if await self.lease.hold():
                        await self._drain(stopping)
                    backoff = 0.1
                except Exception as exc:  # every failure is retried; the relay must not die
                    log.warning(
                        "relay failed", retry_in=backoff, error=f"{type(exc).__name__}: {exc}"
                    )
                    await self._close_producer()
                    await _wait(stopping, backoff)
                    backoff = min(backoff * 2, self.config.max_backoff)
                    continue
                # A standby checks the lease a few times per lease period.
                poll = self.config.poll_seconds if self.leader else self.config.lease_seconds / 3
                await _wait_any(stopping, self._wake, poll)
        finally:
            await self._close_producer()
            with contextlib.suppress(Exception):
                await self.lease.release()

    async def _drain(self, stopping: asyncio.Event) -> None:
        """Send every pending row, key by key in version order, while the lease lasts."""
        while not stopping.is_set():
            rows = await self._next_rows()
            if not rows:
                return
            # Renewed before each round, so a round never outlives the lease it started under.
            if not await self.lease.hold():
                return
            producer = await self._producer_started()
            futures = []
            for row in rows:
                record = to_record(row, self.config.source)
                futures.append(
                    await producer.send(
                        self.config.topic,
                        value=record.value,
                        key=record.key,
                        headers=record.headers,
                    )
                )
            # Bounded by the lease: a round that outlives it stops, and its rows stay pending.
            results = await asyncio.wait_for(
                asyncio.gather(*futures, return_exceptions=True), max(self.lease.remaining(), 0.1)
            )
            acked, failure = _acked_prefixes(rows, results)
            if acked:
                await self.db[OUTBOX].delete_many({"_id": {"$in": acked}})
                self.published += len(acked)
            if failure is not None:
                # The rest of a failed key stays too: the next round sends them again, in order.
                raise failure

    async def _next_rows(self) -> list[Document]:
        """The oldest pending rows' keys, and every pending row of those keys in version order.

        A key's rows all go in one round: a later version never leaves before an earlier one,
        whatever the clocks of the processes that wrote them said.
        """
        outbox = self.db[OUTBOX]
        oldest = outbox.find(
            {}, {"key": 1}, sort=[("createdAt", ASCENDING)], limit=self.config.batch
        )
        keys = sorted({doc["key"] async for doc in oldest})
        if not keys:
            return []
        cursor = outbox.find(
            {"key": {"$in": keys}}, sort=[("key", ASCENDING), ("version", ASCENDING)]
        )
        return [doc async for doc in cursor]

    async def _producer_started(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = AIOKafkaProducer(
                bootstrap_servers=self.config.bootstrap_servers,
                client_id="factview-relay",
                acks="all",
                # Tansu refuses InitProducerId; duplicates after a retry carry the same event id.
                enable_idempotence=False,
                # A send must fail well within the lease it started under.
                request_timeout_ms=max(1000, int(self.config.lease_seconds * 500)),
            )
            try:
                await producer.start()
            except BaseException:
                with contextlib.suppress(Exception):
                    await producer.stop()
                raise
            self._producer = producer
            log.info("relay connected", topic=self.config.topic)
        return self._producer

    async def _close_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), timeout=_CLOSE_TIMEOUT)


def _acked_prefixes(
    rows: list[Document], results: list[object]
) -> tuple[list[str], Exception | None]:
    """Per key, the rows acknowledged before its first failure; and the first failure."""
    acked: list[str] = []
    failed: set[str] = set()
    failure: Exception | None = None
    for row, result in zip(rows, results, strict=True):
        if isinstance(result, BaseException):
            failed.add(row["key"])
            if failure is None:
                failure = result if isinstance(result, Exception) else RuntimeError(repr(result))
        elif row["key"] not in failed:
            acked.append(row["_id"])
    return acked, failure


async def _wait(event: asyncio.Event, timeout: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout)


async def _wait_any(first: asyncio.Event, second: asyncio.Event, timeout: float) -> None:
    waits = [asyncio.ensure_future(first.wait()), asyncio.ensure_future(second.wait())]
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in waits:
            task.cancel()
