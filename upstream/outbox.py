"""The transactional outbox and its relay to Kafka.

A handler appends a fact to `outbox` in the same SQLite transaction as the row it changed, so a
fact exists if and only if the change does. The relay publishes unsent rows in `seq` order and
marks them sent only after the broker acknowledged them: delivery is at least once (consumers
dedupe on the CloudEvent id), never lost, never skipped. An event-sourced owner's event table
is an outbox as well (upstream/account_events.py): the relay reads either through `Outbox`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import structlog
from aiokafka import AIOKafkaProducer
from cloudevents.core.base import BaseCloudEvent

from upstream.database import Database
from upstream.events import to_kafka

log = structlog.get_logger(__name__)

_CLOSE_TIMEOUT = 1.0  # seconds to let a dropped producer shut down

OUTBOX_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id   TEXT NOT NULL UNIQUE,
    record_key TEXT NOT NULL,
    headers    TEXT NOT NULL,
    value      BLOB NOT NULL,
    created_at TEXT NOT NULL,
    sent_at    TEXT
);
CREATE INDEX IF NOT EXISTS outbox_unsent ON outbox (seq) WHERE sent_at IS NULL;
"""


@dataclass(frozen=True, slots=True)
class OutboxRow:
    seq: int
    key: bytes
    headers: list[tuple[str, bytes]]
    value: bytes


class Outbox(Protocol):
    """Where an owner's facts wait: appended in the write's transaction, relayed in order."""

    def append(self, conn: sqlite3.Connection, event: BaseCloudEvent) -> None: ...

    def pending(self, limit: int) -> list[OutboxRow]: ...

    def mark_sent(self, seqs: list[int]) -> None: ...


class OutboxTable:
    """The `outbox` table of a CRUD owner: each fact stored as its ready-to-send record."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def append(self, conn: sqlite3.Connection, event: BaseCloudEvent) -> None:
        append(conn, event)

    def pending(self, limit: int) -> list[OutboxRow]:
        return pending(self.database, limit)

    def mark_sent(self, seqs: list[int]) -> None:
        mark_sent(self.database, seqs)


def append(conn: sqlite3.Connection, event: BaseCloudEvent) -> None:
    """Store `event` as its ready-to-send Kafka record, inside the caller's transaction."""
    message = to_kafka(event)
    key = message.key.decode() if isinstance(message.key, bytes) else message.key
    if not key:
        raise ValueError(f"fact {event.get_id()} has no subject to key it by")
    headers = {name: value.decode() for name, value in message.headers.items()}
    conn.execute(
        "INSERT INTO outbox (event_id, record_key, headers, value, created_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (event.get_id(), key, json.dumps(headers), message.value, datetime.now(UTC).isoformat()),
    )


def pending(database: Database, limit: int) -> list[OutboxRow]:
    with database.read() as conn:
        rows = conn.execute(
            "SELECT seq, record_key, headers, value FROM outbox"
            " WHERE sent_at IS NULL ORDER BY seq LIMIT ?",
            (limit,),
        ).fetchall()
    return [
        OutboxRow(
            seq=row["seq"],
            key=row["record_key"].encode(),
            headers=[(k, v.encode()) for k, v in json.loads(row["headers"]).items()],
            value=bytes(row["value"]),
        )
        for row in rows
    ]


def mark_sent(database: Database, seqs: list[int]) -> None:
    sent_at = datetime.now(UTC).isoformat()
    with database.write() as conn:
        conn.executemany(
            "UPDATE outbox SET sent_at = ? WHERE seq = ?", [(sent_at, seq) for seq in seqs]
        )


class Relay:
    """Publishes the outbox to one topic, from an asyncio task started by the app's lifespan.

    It wakes on `notify()` (a write just committed) and also polls every `poll_interval`,
    so a missed notification only delays a fact. Any failure (broker down or not yet up, send
    timeout) drops the producer, waits with capped exponential backoff and tries again from the
    first unsent row. No Kafka client exists before `start()`.
    """

    def __init__(
        self,
        outbox: Outbox,
        bootstrap_servers: str,
        topic: str,
        *,
        poll_interval: float = 1.0,
        batch_size: int = 500,
        initial_backoff: float = 0.1,
        max_backoff: float = 5.0,
        request_timeout_ms: int = 10_000,
    ) -> None:
        self._outbox = outbox
        self._bootstrap_servers = bootstrap_servers
        self._topic = topic
        self._poll_interval = poll_interval
        self._batch_size = batch_size
        self._initial_backoff = initial_backoff
        self._max_backoff = max_backoff
        self._request_timeout_ms = request_timeout_ms
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._producer: AIOKafkaProducer | None = None
        self.published = 0  # records acknowledged since start; handy in logs and tests

    def notify(self) -> None:
        """A write committed: publish now rather than at the next poll."""
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._stop.clear()
            self._task = asyncio.create_task(self._run(), name=f"outbox-relay:{self._topic}")

    async def stop(self, timeout: float = 5.0) -> None:
        """Flush what the broker takes within `timeout`, then stop; the rest waits in the outbox."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stop.set()
        self._wake.set()
        done, _ = await asyncio.wait({task}, timeout=timeout)
        if not done:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await self._close_producer()

    async def _run(self) -> None:
        backoff = self._initial_backoff
        try:
            while True:
                # Cleared before draining: a write committed during the drain sets it again.
                self._wake.clear()
                try:
                    await self._drain()
                except Exception as exc:  # every failure is retried; the relay must not die
                    log.warning(
                        "outbox.relay_failed",
                        topic=self._topic,
                        retry_in=backoff,
                        error=f"{type(exc).__name__}: {exc}",
                    )
                    await self._close_producer()
                    if self._stop.is_set():
                        return
                    # Only stop cuts the backoff short: writes must not hammer a dead broker.
                    await _wait(self._stop, backoff)
                    backoff = min(backoff * 2, self._max_backoff)
                    continue
                backoff = self._initial_backoff
                if self._stop.is_set():
                    return
                await _wait(self._wake, self._poll_interval)
        finally:
            await self._close_producer()

    async def _drain(self) -> None:
        """Publish every unsent row, oldest first, until none is left."""
        while True:
            rows = await asyncio.to_thread(self._outbox.pending, self._batch_size)
            if not rows:
                return
            producer = await self._ensure_producer()
            futures: list[asyncio.Future[object]] = []
            send_error: Exception | None = None
            for row in rows:
                try:
                    futures.append(
                        await producer.send(
                            self._topic, value=row.value, key=row.key, headers=row.headers
                        )
                    )
                except Exception as exc:
                    send_error = exc
                    break
            results = await asyncio.gather(*futures, return_exceptions=True)
            # Mark only the acknowledged prefix: no row counts as sent before an earlier one.
            acked: list[int] = []
            for row, result in zip(rows, results, strict=False):
                if isinstance(result, BaseException):
                    send_error = send_error or _as_exception(result)
                    break
                acked.append(row.seq)
            if acked:
                await asyncio.to_thread(self._outbox.mark_sent, acked)
                self.published += len(acked)
            if send_error is not None:
                raise send_error

    async def _ensure_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = AIOKafkaProducer(
                bootstrap_servers=self._bootstrap_servers,
                client_id=f"outbox-relay-{self._topic}",
                acks="all",
                # Tansu answers InitProducerId with an error, so idempotent producing is off;
                # duplicates after a retry are fine (consumers dedupe on source + id).
                enable_idempotence=False,
                request_timeout_ms=self._request_timeout_ms,
            )
            try:
                await producer.start()
            except BaseException:
                with contextlib.suppress(Exception):
                    await producer.stop()
                raise
            self._producer = producer
            log.info("outbox.relay_connected", topic=self._topic)
        return self._producer

    async def _close_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            # Short: whatever the old producer still holds is unacked, so it stays in the outbox
            # and is sent again; waiting for its flush would only delay recovery and shutdown.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), timeout=_CLOSE_TIMEOUT)


async def _wait(event: asyncio.Event, timeout: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout)


def _as_exception(error: BaseException) -> Exception:
    return error if isinstance(error, Exception) else RuntimeError(repr(error))
