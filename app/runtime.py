"""Wiring: the clients and tasks of one factview process, created at start, closed at stop."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

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
from consumers.projections import PROJECTIONS
from consumers.quarantine import QUARANTINE
from consumers.rebuild import automatic
from consumers.relay import OutboxRelay, RelayConfig
from consumers.runner import ConsumerConfig, ConsumerRunner

log = structlog.get_logger("factview")


@dataclass
class Runtime:
    settings: Settings
    client: AsyncMongoClient[Document]
    db: AsyncDatabase[Document]
    views: ViewReader
    live: LiveHub | None = None
    owners: Owners | None = None
    verifier: TokenVerifier | None = None
    metrics: Metrics = field(default_factory=Metrics)
    freshness: Freshness | None = None
    runner: ConsumerRunner | None = None
    relay: OutboxRelay | None = None
    relay_task: asyncio.Task[None] | None = None
    consumer_task: asyncio.Task[None] | None = None
    # Rebuilds of views folded by another projection version (consumers/rebuild/automatic.py).
    rebuild_task: asyncio.Task[None] | None = None
    # The views this process is rebuilding right now (/readyz: not ready while any are).
    rebuilding: set[str] = field(default_factory=set)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    @classmethod
    async def start(cls, settings: Settings, consume: bool = True, serve: bool = True) -> Runtime:
        """Connect to MongoDB (and Kafka, when consuming) or fail with a one-line reason.

        `serve` adds what the API needs: the live-update hub and the owners' HTTP client.
        """
        # Bad auth settings fail before anything connects.
        verifier = verifier_from(settings) if serve else None
        client = make_client(settings.mongodb_uri, settings.startup_timeout_seconds)
        runtime: Runtime | None = None
        try:
            await check_reachable(client, settings.mongodb_uri, settings.startup_timeout_seconds)
            db = database(client, settings.mongodb_database)
            await ensure_indexes(db)
            runtime = cls(settings, client, db, ViewReader(db))
            runtime.freshness = Freshness(db, PROJECTIONS)
            runtime.verifier = verifier
            if serve:
                runtime.owners = Owners(settings)
                runtime.live = LiveHub(
                    db,
                    tuple(p.collection for p in PROJECTIONS),
                    queue_size=settings.subscription_queue_size,
                )
                await runtime.live.start(settings.startup_timeout_seconds)
            if consume:
                publishing = settings.publish_topic is not None
                engine = FoldEngine(db, consumer_group=settings.kafka_group_id, publish=publishing)
                runtime.runner = ConsumerRunner(
                    ConsumerConfig(
                        bootstrap_servers=settings.kafka_bootstrap_servers,
                        group_id=settings.kafka_group_id,
                        topics=settings.kafka_topics,
                        max_batch=settings.kafka_max_batch,
                        startup_timeout=settings.startup_timeout_seconds,
                        fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
                        session_timeout_ms=settings.kafka_session_timeout_ms,
                        heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
                        group_instance_id=settings.kafka_group_instance_id,
                    ),
                    engine,
                    on_batch=runtime._count_batch,
                )
                await runtime.runner.connect()
                runtime.consumer_task = asyncio.create_task(
                    runtime.runner.run(runtime.stopping), name="factview-consumer"
                )
                runtime.consumer_task.add_done_callback(_report_exit)
                if settings.publish_topic is not None:
                    runtime.relay = OutboxRelay(db, relay_config(settings, settings.publish_topic))
                    runtime.relay_task = asyncio.create_task(
                        runtime.relay.run(runtime.stopping), name="factview-relay"
                    )
                    runtime.relay_task.add_done_callback(_report_relay_exit)
            runtime.rebuild_task = automatic.start(db, PROJECTIONS, runtime.rebuilding)
        except BaseException:
            if runtime is not None:
                await runtime._close_serving()
            await client.close()
            raise
        return runtime

    async def _count_batch(self, outcome: BatchOutcome) -> None:
        if outcome.published and self.relay is not None:
            self.relay.notify()
        self.metrics.record_batch(
            PROJECTIONS, outcome.consumed, outcome.fresh, outcome.dead_topics, outcome.seconds
        )
        for view, errors in outcome.quarantined.items():
            self.metrics.quarantines.labels(view).inc(len(errors))
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

    async def metrics_exposition(self) -> bytes:
        """The Prometheus text, with the gauges that are read at scrape time brought up to date."""
        if self.freshness is not None:
            for view, moment in (await self.freshness.newest()).items():
                self.metrics.newest_folded[view] = moment.timestamp()
        if self.runner is not None:
            for (topic, partition), behind in (await self.runner.lag()).items():
                self.metrics.consumer_lag.labels(topic, str(partition)).set(behind)
        if self.relay is not None:
            lag = await self.relay.lag()
            self.metrics.outbox_pending.set(lag.pending)
            self.metrics.outbox_oldest_seconds.set(lag.oldest_seconds)
            self.metrics.published.set(self.relay.published)
            self.metrics.publisher_leader.set(1 if self.relay.leader else 0)
        if self.live is not None:
            self.metrics.live_subscriptions.set(self.live.stats.subscribers)
        for projection in PROJECTIONS:
            stale = await self.db[projection.collection].count_documents(
                {QUARANTINE: {"$exists": True}}
            )
            self.metrics.quarantined.labels(projection.name).set(stale)
        return self.metrics.exposition()

    async def stop(self) -> None:
        self.stopping.set()
        if self.rebuild_task is not None:
            # An interrupted rebuild leaves the live view as it was; the next start redoes it.
            self.rebuild_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.rebuild_task
        if self.consumer_task is not None:
            # Let the loop finish its batch and commit; cancel only if it will not.
            try:
                await asyncio.wait_for(asyncio.shield(self.consumer_task), 15)
            except TimeoutError:
                self.consumer_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self.consumer_task
            except Exception:
                pass  # already reported by _report_exit
        if self.relay_task is not None:
            # The relay stops between rounds; what it has not sent waits in the outbox.
            try:
                await asyncio.wait_for(asyncio.shield(self.relay_task), 10)
            except TimeoutError:
                self.relay_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self.relay_task
            except Exception:
                pass  # already reported by _report_exit
        await self._close_serving()
        await self.client.close()

    async def _close_serving(self) -> None:
        if self.live is not None:
            await self.live.stop()
        if self.owners is not None:
            await self.owners.close()


def relay_config(settings: Settings, topic: str) -> RelayConfig:
    return RelayConfig(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        topic=topic,
        source=settings.publish_source,
        lease_seconds=settings.publish_lease_seconds,
        batch=settings.publish_batch,
    )


def _report_exit(task: asyncio.Task[None]) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        log.error("consumer stopped", error=f"{type(exc).__name__}: {exc}")


def _report_relay_exit(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("relay stopped", error=f"{type(task.exception()).__name__}: {task.exception()}")
