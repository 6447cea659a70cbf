"""Wiring: the clients and tasks of one factview process, created at start, closed at stop."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

import structlog
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from app.settings import Settings
from app.store import check_reachable, database, ensure_indexes, make_client
from app.views import ViewReader
from consumers.engine import FoldEngine
from consumers.runner import ConsumerConfig, ConsumerRunner

log = structlog.get_logger("factview")
Document = dict[str, Any]


@dataclass
class Runtime:
    settings: Settings
    client: AsyncMongoClient[Document]
    db: AsyncDatabase[Document]
    views: ViewReader
    runner: ConsumerRunner | None = None
    consumer_task: asyncio.Task[None] | None = None
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    @classmethod
    async def start(cls, settings: Settings, consume: bool = True) -> Runtime:
        """Connect to MongoDB (and Kafka, when consuming) or fail with a one-line reason."""
        client = make_client(settings.mongodb_uri, settings.startup_timeout_seconds)
        try:
            await check_reachable(client, settings.mongodb_uri, settings.startup_timeout_seconds)
            db = database(client, settings.mongodb_database)
            await ensure_indexes(db)
            runtime = cls(settings, client, db, ViewReader(db))
            if consume:
                engine = FoldEngine(db, consumer_group=settings.kafka_group_id)
                runtime.runner = ConsumerRunner(
                    ConsumerConfig(
                        bootstrap_servers=settings.kafka_bootstrap_servers,
                        group_id=settings.kafka_group_id,
                        topics=settings.kafka_topics,
                        max_batch=settings.kafka_max_batch,
                        startup_timeout=settings.startup_timeout_seconds,
                    ),
                    engine,
                )
                await runtime.runner.connect()
                runtime.consumer_task = asyncio.create_task(
                    runtime.runner.run(runtime.stopping), name="factview-consumer"
                )
                runtime.consumer_task.add_done_callback(_report_exit)
        except BaseException:
            await client.close()
            raise
        return runtime

    async def stop(self) -> None:
        self.stopping.set()
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
        await self.client.close()


def _report_exit(task: asyncio.Task[None]) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        log.error("consumer stopped", error=f"{type(exc).__name__}: {exc}")
