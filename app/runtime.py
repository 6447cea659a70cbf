"""Wiring: the clients and tasks of one factview process, created at start, closed at stop.

Each part is built whole before the Runtime that holds it: the API's (`Api`) when the process
serves, the consumers' (`Consumers`) when it consumes. A part is absent only in a mode that has
no use for it, so code that runs in that mode takes the part, never a maybe.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from functools import partial

import structlog
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from app.auth import TokenVerifier, verifier_from
from app.live.hub import LiveHub
from app.metrics import Metrics
from app.read.freshness import Freshness
from app.read.views import ViewReader
from app.settings import Settings
from app.store import check_reachable, database, ensure_indexes, make_client
from app.writes.owners import Owners
from consumers.batch import BatchOutcome
from consumers.document import Document
from consumers.engine import FoldEngine
from consumers.projection import Projection
from consumers.quarantine import QUARANTINE
from consumers.rebuild import automatic
from consumers.relay import OutboxRelay, RelayConfig
from consumers.runner import ConsumerConfig, ConsumerRunner

log = structlog.get_logger("factview")

Projections = tuple[type[Projection], ...]


@dataclass
class Api:
    """What serving GraphQL needs beyond the views: tokens, live updates, forwarded writes."""

    verifier: TokenVerifier
    live: LiveHub
    owners: Owners

    @classmethod
    async def start(
        cls,
        settings: Settings,
        db: AsyncDatabase[Document],
        projections: Projections,
        verifier: TokenVerifier,
    ) -> Api:
        live = LiveHub(
            db,
            tuple(p.collection for p in projections),
            queue_size=settings.subscription_queue_size,
        )
        owners = Owners(settings)
        try:
            await live.start(settings.startup_timeout_seconds)
        except BaseException:
            await owners.close()
            raise
        return cls(verifier, live, owners)

    async def stop(self) -> None:
        await self.live.stop()
        await self.owners.close()


@dataclass
class Publisher:
    """The outbox relay (PUBLISH_TOPIC set) and the task running it."""

    relay: OutboxRelay
    task: asyncio.Task[None]


@dataclass
class Consumers:
    """The Kafka consumer loop folding into the views, and the relay when this process publishes."""

    runner: ConsumerRunner
    task: asyncio.Task[None]
    # Absent unless PUBLISH_TOPIC is set: nothing is published then.
    publisher: Publisher | None

    @classmethod
    async def start(
        cls,
        settings: Settings,
        db: AsyncDatabase[Document],
        projections: Projections,
        metrics: Metrics,
        stopping: asyncio.Event,
    ) -> Consumers:
        relay = None
        if settings.publish_topic is not None:
            relay = OutboxRelay(db, relay_config(settings, settings.publish_topic))
        engine = FoldEngine(
            db, projections, consumer_group=settings.kafka_group_id, publish=relay is not None
        )
        runner = ConsumerRunner(
            consumer_config(settings),
            engine,
            on_batch=partial(_count_batch, metrics, projections, relay),
        )
        await runner.connect()
        task = asyncio.create_task(runner.run(stopping), name="factview-consumer")
        task.add_done_callback(_report_exit)
        publisher = None
        if relay is not None:
            relay_task = asyncio.create_task(relay.run(stopping), name="factview-relay")
            relay_task.add_done_callback(_report_exit)
            publisher = Publisher(relay, relay_task)
        return cls(runner, task, publisher)

    async def stop(self) -> None:
        """Called once `stopping` is set: each loop finishes its round, else it is cancelled."""
        # Let the loop finish its batch and commit; cancel only if it will not.
        await _finish(self.task, 15)
        if self.publisher is not None:
            # The relay stops between rounds; what it has not sent waits in the outbox.
            await _finish(self.publisher.task, 10)


@dataclass
class Runtime:
    settings: Settings
    # The views this process folds and serves, as its caller (the CLI, a test) chose them.
    projections: Projections
    client: AsyncMongoClient[Document]
    db: AsyncDatabase[Document]
    views: ViewReader
    freshness: Freshness
    metrics: Metrics
    # Absent when started with serve=False (`factview consume`): there is no API then.
    api: Api | None
    # Absent when started with consume=False (an API-only replica).
    consumers: Consumers | None
    stopping: asyncio.Event
    # The views this process is rebuilding right now (/readyz: not ready while any are).
    rebuilding: set[str]
    # Rebuilds of views folded by another projection version (consumers/rebuild/automatic.py).
    rebuild_task: asyncio.Task[None]

    @classmethod
    async def start(
        cls,
        settings: Settings,
        projections: Projections,
        consume: bool = True,
        serve: bool = True,
    ) -> Runtime:
        """Connect to MongoDB (and Kafka, when consuming) or fail with a one-line reason.

        `serve` adds what the API needs (`Api`): tokens, the live-update hub, the owners' client.
        """
        # Bad auth settings fail before anything connects.
        verifier = verifier_from(settings) if serve else None
        client = make_client(settings.mongodb_uri, settings.startup_timeout_seconds)
        api: Api | None = None
        try:
            await check_reachable(client, settings.mongodb_uri, settings.startup_timeout_seconds)
            db = database(client, settings.mongodb_database)
            await ensure_indexes(db)
            metrics, stopping = Metrics(), asyncio.Event()
            if verifier is not None:
                api = await Api.start(settings, db, projections, verifier)
            consumers = None
            if consume:
                consumers = await Consumers.start(settings, db, projections, metrics, stopping)
        except BaseException:
            if api is not None:
                await api.stop()
            await client.close()
            raise
        rebuilding: set[str] = set()
        return cls(
            settings,
            projections,
            client,
            db,
            ViewReader(db),
            Freshness(db, projections),
            metrics,
            api,
            consumers,
            stopping,
            rebuilding,
            automatic.start(db, projections, rebuilding),
        )

    async def metrics_exposition(self) -> bytes:
        """The Prometheus text, with the gauges that are read at scrape time brought up to date."""
        for view, moment in (await self.freshness.newest()).items():
            self.metrics.newest_folded[view] = moment.timestamp()
        if self.consumers is not None:
            for (topic, partition), behind in (await self.consumers.runner.lag()).items():
                self.metrics.consumer_lag.labels(topic, str(partition)).set(behind)
            if self.consumers.publisher is not None:
                relay = self.consumers.publisher.relay
                lag = await relay.lag()
                self.metrics.outbox_pending.set(lag.pending)
                self.metrics.outbox_oldest_seconds.set(lag.oldest_seconds)
                self.metrics.published.set(relay.published)
                self.metrics.publisher_leader.set(1 if relay.leader else 0)
        if self.api is not None:
            self.metrics.live_subscriptions.set(self.api.live.stats.subscribers)
        for projection in self.projections:
            stale = await self.db[projection.collection].count_documents(
                {QUARANTINE: {"$exists": True}}
            )
            self.metrics.quarantined.labels(projection.name).set(stale)
        return self.metrics.exposition()

    async def stop(self) -> None:
        self.stopping.set()
        # An interrupted rebuild leaves the live view as it was; the next start redoes it.
        self.rebuild_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.rebuild_task
        if self.consumers is not None:
            await self.consumers.stop()
        if self.api is not None:
            await self.api.stop()
        await self.client.close()


async def _count_batch(
    metrics: Metrics, projections: Projections, relay: OutboxRelay | None, outcome: BatchOutcome
) -> None:
    if outcome.published and relay is not None:
        relay.notify()
    metrics.record_batch(
        projections, outcome.consumed, outcome.fresh, outcome.dead_topics, outcome.seconds
    )
    for view, errors in outcome.quarantined.items():
        metrics.quarantines.labels(view).inc(len(errors))
    log.info(
        "batch folded",
        consumed=len(outcome.consumed),
        logged=outcome.logged,
        duplicates=outcome.duplicates,
        dead_lettered=outcome.dead_lettered,
        refolded=outcome.refolded,
        seconds=round(outcome.seconds, 4),
        event_ids=[e.id for e in outcome.fresh[:10]],
    )


async def _finish(task: asyncio.Task[None], seconds: float) -> None:
    try:
        await asyncio.wait_for(asyncio.shield(task), seconds)
    except TimeoutError:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    except Exception:
        pass  # already reported by the task's done callback


def consumer_config(settings: Settings) -> ConsumerConfig:
    return ConsumerConfig(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=settings.kafka_group_id,
        topics=settings.kafka_topics,
        max_batch=settings.kafka_max_batch,
        startup_timeout=settings.startup_timeout_seconds,
        fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
        session_timeout_ms=settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
        group_instance_id=settings.kafka_group_instance_id,
    )


def relay_config(settings: Settings, topic: str) -> RelayConfig:
    return RelayConfig(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        topic=topic,
        source=settings.publish_source,
        lease_seconds=settings.publish_lease_seconds,
        batch=settings.publish_batch,
    )


def _report_exit(task: asyncio.Task[None]) -> None:
    """A loop that ended on an error says so: "consumer stopped", "relay stopped"."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        what = task.get_name().removeprefix("factview-")
        log.error(f"{what} stopped", error=f"{type(exc).__name__}: {exc}")
