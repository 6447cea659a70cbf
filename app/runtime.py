"""Wiring: the clients and tasks of one factview process, created at start, closed at stop."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

import structlog
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from app import rebuilds
from app.auth import TokenVerifier, verifier_from
from app.freshness import Freshness
from app.live import LiveHub
from app.metrics import Metrics
from app.owners import Owners
from app.settings import Settings
from app.store import check_reachable, database, ensure_indexes, make_client
from app.views import ViewReader
from consumers.engine import QUARANTINE, BatchOutcome, FoldEngine
from consumers.projections import PROJECTIONS
from consumers.runner import ConsumerConfig, ConsumerRunner

log = structlog.get_logger("factview")
Document = dict[str, Any]


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
    consumer_task: asyncio.Task[None] | None = None
    # Rebuilds of views folded by another projection version (app/rebuilds.py).
    rebuild_task: asyncio.Task[None] | None = None
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    @classmethod
    async def start(cls, settings: Settings, consume: bool = True, serve: bool = True) -> Runtime:
        """Connect to MongoDB (and Kafka, when consuming) or fail with a one-line reason.

        `serve` adds what the API needs: the live-update hub and the owners' HTTP client.
        """
        # Bad auth settings fail before anything connects.
        verifier = _verifier(settings) if serve else None
        client = make_client(settings.mongodb_uri, settings.startup_timeout_seconds)
        runtime: Runtime | None = None
        try:
            await check_reachable(client, settings.mongodb_uri, settings.startup_timeout_seconds)
            db = database(client, settings.mongodb_database)
            await ensure_indexes(db)
            runtime = cls(settings, client, db, ViewReader(db))
            runtime.freshness = Freshness(db)
            runtime.verifier = verifier
            if serve:
                runtime.owners = Owners(settings)
                runtime.live = LiveHub(db, queue_size=settings.subscription_queue_size)
                await runtime.live.start(settings.startup_timeout_seconds)
            if consume:
                engine = FoldEngine(db, consumer_group=settings.kafka_group_id)
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
            runtime.rebuild_task = rebuilds.start(db)
        except BaseException:
            if runtime is not None:
                await runtime._close_serving()
            await client.close()
            raise
        return runtime

    async def _count_batch(self, outcome: BatchOutcome) -> None:
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
        await self._close_serving()
        await self.client.close()

    async def _close_serving(self) -> None:
        if self.live is not None:
            await self.live.stop()
        if self.owners is not None:
            await self.owners.close()


def _verifier(settings: Settings) -> TokenVerifier:
    secret = settings.auth_jwt_secret
    return verifier_from(
        jwks_url=settings.auth_jwks_url,
        secret=secret.get_secret_value() if secret is not None else None,
        audience=settings.auth_audience,
        issuer=settings.auth_issuer,
        leeway=settings.auth_leeway_seconds,
    )


def _report_exit(task: asyncio.Task[None]) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        log.error("consumer stopped", error=f"{type(exc).__name__}: {exc}")
