"""The Kafka entrypoint: fetch a batch, decode it, hand it to the engine, then commit offsets."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaConnectionError, KafkaError

from consumers.batch import BatchOutcome, split
from consumers.decoding import RawRecord
from consumers.engine import FoldEngine
from consumers.ownership import Fenced, Ownership, Partition

log = structlog.get_logger("factview.consumer")


@contextlib.contextmanager
def _quiet(logger: logging.Logger) -> Iterator[None]:
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


class BrokerUnavailable(RuntimeError):
    """Kafka did not answer at start; the message is the one line a person needs."""


@dataclass(frozen=True)
class ConsumerConfig:
    bootstrap_servers: str
    group_id: str
    topics: list[str]
    max_batch: int = 500
    startup_timeout: float = 20.0
    poll_timeout_ms: int = 200
    # The broker answers a fetch after this long even with nothing to send (aiokafka: 500).
    fetch_max_wait_ms: int = 50
    # A member silent this long is dead to the group: the floor of a killed consumer's pause.
    session_timeout_ms: int = 6_000
    # None: a third of the session timeout (Kafka's rule of thumb).
    heartbeat_interval_ms: int | None = None
    # Static membership (KIP-345): a restarted member with the same id takes its place back.
    group_instance_id: str | None = None


def to_raw(record: ConsumerRecord[bytes, bytes]) -> RawRecord:
    return RawRecord(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        value=record.value,
        headers=tuple((str(k), bytes(v)) for k, v in record.headers),
    )


class _Handover(ConsumerRebalanceListener):  # type: ignore[misc]
    """Partitions change hands between batches, and the new owner claims them first."""

    def __init__(self, runner: ConsumerRunner) -> None:
        self.runner = runner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        partitions = {(tp.topic, tp.partition) for tp in revoked}
        ownership, lock = self.runner.ownership, self.runner.batch_lock
        try:
            # The batch in flight commits first, unless it is stuck: a dead member's open
            # transaction can hold its writes, and only the rebalance this callback delays
            # lets a successor end that transaction. So wait a while, then let go unreleased:
            # the next owner kills our session, and the fence refuses what it was writing.
            await asyncio.wait_for(lock.acquire(), self.runner.handover_wait)
        except TimeoutError:
            log.warning(
                "batch in flight at rebalance; its partitions go to their next owner",
                partitions=sorted(f"{t}:{p}" for t, p in partitions),
            )
            ownership.claimed.clear()
            ownership.owned -= partitions
            return
        try:
            await ownership.release(partitions)
        finally:
            lock.release()

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self.runner.ownership.claim({(tp.topic, tp.partition) for tp in assigned})


class ConsumerRunner:
    """One consumer group over every fact topic; manual commits after the engine's commit."""

    def __init__(
        self,
        config: ConsumerConfig,
        engine: FoldEngine,
        on_batch: Callable[[BatchOutcome], Awaitable[None]] | None = None,
    ) -> None:
        self.config = config
        self.engine = engine
        self.on_batch = on_batch
        self._consumer: AIOKafkaConsumer | None = None
        self.ownership = Ownership(engine.db, config.group_id)
        self.batch_lock = asyncio.Lock()
        # How long a rebalance waits for the batch in flight: well inside the time the group
        # gives a member to rejoin (aiokafka's rebalance timeout is the session timeout).
        self.handover_wait = config.session_timeout_ms / 2000

    @property
    def instance(self) -> str:
        """This consumer's id in the log (`consumer` on each event it logged)."""
        return self.ownership.instance

    async def connect(self) -> None:
        """Join the group, retrying with backoff until the start-up deadline."""
        if self._consumer is None:
            self._consumer = await self._start()

    async def _start(self) -> AIOKafkaConsumer:
        deadline = time.monotonic() + self.config.startup_timeout
        delay = 0.2
        # aiokafka logs every failed connection attempt; until we give up, those are ours to report.
        with _quiet(logging.getLogger("aiokafka")):
            return await self._start_with_retries(deadline, delay)

    async def _start_with_retries(self, deadline: float, delay: float) -> AIOKafkaConsumer:
        while True:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.config.bootstrap_servers,
                group_id=self.config.group_id,
                group_instance_id=self.config.group_instance_id,
                session_timeout_ms=self.config.session_timeout_ms,
                heartbeat_interval_ms=self.config.heartbeat_interval_ms
                or self.config.session_timeout_ms // 3,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                isolation_level="read_committed",
                fetch_max_wait_ms=self.config.fetch_max_wait_ms,
            )
            consumer.subscribe(self.config.topics, listener=_Handover(self))
            try:
                await consumer.start()
                return consumer
            except KafkaConnectionError as exc:
                await consumer.stop()
                if time.monotonic() + delay > deadline:
                    raise BrokerUnavailable(
                        f"Kafka at {self.config.bootstrap_servers} is unreachable: {exc}"
                    ) from exc
                await asyncio.sleep(delay)  # backoff between connection attempts
                delay = min(delay * 2, 2.0)

    async def run(self, stopping: asyncio.Event | None = None) -> None:
        """Consume until `stopping` is set (or the task is cancelled)."""
        stopping = stopping or asyncio.Event()
        await self.connect()
        consumer = self._consumer
        assert consumer is not None
        self.engine.owner = self.ownership
        log.info(
            "consuming",
            topics=self.config.topics,
            group=self.config.group_id,
            instance=self.ownership.instance,
        )
        try:
            while not stopping.is_set():
                batch = await consumer.getmany(
                    timeout_ms=self.config.poll_timeout_ms, max_records=self.config.max_batch
                )
                records = [to_raw(r) for rs in batch.values() for r in rs]
                if not records:
                    continue
                await self.ownership.claimed.wait()
                async with self.batch_lock:
                    started = time.perf_counter()
                    outcome, lost = await self._apply_until_done(records)
                    outcome.seconds = time.perf_counter() - started
                    await self._commit(consumer, batch, lost)
                for view, errors in outcome.quarantined.items():
                    # Visible, never silent: refold once the fold is fixed (README "Quarantine").
                    log.error("documents quarantined", view=view, documents=errors)
                if self.on_batch is not None:
                    await self.on_batch(outcome)
        finally:
            self._consumer = None
            async with self.batch_lock:
                await self.ownership.release(set(self.ownership.owned))
            await consumer.stop()
            await self.ownership.close()

    async def lag(self) -> dict[tuple[str, int], int]:
        """Records behind the high-water mark, per assigned partition (what is known now)."""
        consumer = self._consumer
        if consumer is None:
            return {}
        behind: dict[tuple[str, int], int] = {}
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            if highwater is None:
                continue
            position = await consumer.position(tp)
            behind[(tp.topic, tp.partition)] = max(0, highwater - position)
        return behind

    async def reachable(self, timeout: float) -> bool:
        """Whether the broker answers a metadata request within `timeout`."""
        consumer = self._consumer
        if consumer is None:
            return False
        try:
            await asyncio.wait_for(consumer.topics(), timeout)
        except (TimeoutError, KafkaError):
            return False
        return True

    async def _apply_until_done(
        self, records: list[RawRecord]
    ) -> tuple[BatchOutcome, set[Partition]]:
        """Apply the batch, retrying until it is in; partitions taken over are left out."""
        events, dead = split(records)
        lost: set[Partition] = set()
        delay = 0.1
        while True:
            try:
                return await self.engine.apply(events, dead), lost
            except asyncio.CancelledError:
                raise
            except Fenced as exc:
                # Their new owner folds them: nothing of theirs is committed here.
                log.warning(
                    "partitions taken over, batch left to their owner", lost=sorted(exc.lost)
                )
                lost |= exc.lost
                records = [r for r in records if (r.topic, r.partition) not in lost]
                events, dead = split(records)
            except Exception as exc:
                # Nothing is committed until the batch is in; a stuck batch stalls, never drops.
                log.error(
                    "batch failed, retrying",
                    error=f"{type(exc).__name__}: {exc}",
                    retry_in=delay,
                    # Enough to find the batch in the log and on the broker.
                    event_ids=[e.id for e in events[:10]],
                    records=len(records),
                )
                await asyncio.sleep(delay)  # backoff before retrying the same batch
                delay = min(delay * 2, 5.0)

    async def _commit(
        self,
        consumer: AIOKafkaConsumer,
        batch: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]],
        lost: set[Partition],
    ) -> None:
        offsets = {
            tp: records[-1].offset + 1
            for tp, records in batch.items()
            if records and (tp.topic, tp.partition) not in lost
        }
        assigned = consumer.assignment()
        for tp, records in batch.items():
            if records and (tp.topic, tp.partition) in lost and tp in assigned:
                # Kafka still says it is ours: read it again rather than skip it.
                consumer.seek(tp, records[0].offset)
        if not offsets:
            return
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:
            # The batch is in the log already; a redelivery after a rebalance is a no-op.
            log.warning("offset commit failed", error=str(exc))
