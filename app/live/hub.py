"""Live view changes: one change stream per view collection, fanned out in process by document id.

Every factview process watches the view collections itself, so a subscriber sees a change
whichever process folded it. The feed never waits on a subscriber: each has a bounded queue,
and one that falls behind is dropped (its stream ends with an error), not waited for.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog
from pymongo.asynchronous.database import AsyncDatabase

from consumers.document import Document

log = structlog.get_logger("factview.live")


class SubscriberDropped(Exception):
    """The subscriber fell `queue_size` updates behind and was cut off."""


class HubStopped(Exception):
    """The process is shutting down; subscriptions end."""


# Queue markers: a document, None for "the document is gone", or one of these to end.
_DROPPED = object()
_STOPPED = object()


@dataclass(eq=False)
class Subscriber:
    collection: str
    doc_id: str
    queue: asyncio.Queue[object]

    def __aiter__(self) -> AsyncIterator[Document | None]:
        return self._updates()

    async def _updates(self) -> AsyncIterator[Document | None]:
        while True:
            item = await self.queue.get()
            if item is _DROPPED:
                raise SubscriberDropped(
                    f"subscriber to {self.collection}/{self.doc_id} could not keep up"
                )
            if item is _STOPPED:
                raise HubStopped("server is shutting down")
            yield item  # type: ignore[misc]


@dataclass
class HubStats:
    """Counts for health checks and tests: what is open right now, and what happened."""

    open_streams: int = 0
    subscribers: int = 0
    dropped: int = 0
    restarts: int = 0


@dataclass
class LiveHub:
    db: AsyncDatabase[Document]
    # The view collections to watch: the Runtime passes its projections' collections.
    collections: tuple[str, ...]
    queue_size: int = 64
    # First retry delay after a change-stream error; doubles up to max_retry_delay.
    retry_delay: float = 0.2
    max_retry_delay: float = 5.0
    stats: HubStats = field(default_factory=HubStats)
    _subscribers: dict[tuple[str, str], set[Subscriber]] = field(
        default_factory=lambda: defaultdict(set)
    )
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self, timeout: float = 10.0) -> None:
        """Open every change stream; returns once all are open, so no later change is missed."""
        ready = {name: asyncio.Event() for name in self.collections}
        for name in self.collections:
            task = asyncio.create_task(self._watch(name, ready[name]), name=f"live-{name}")
            self._tasks.append(task)
        try:
            async with asyncio.timeout(timeout):
                await asyncio.gather(*(event.wait() for event in ready.values()))
        except TimeoutError:
            await self.stop()
            raise

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for subscribers in list(self._subscribers.values()):
            for sub in list(subscribers):
                self._end(sub, _STOPPED)

    @contextlib.asynccontextmanager
    async def subscribe(self, collection: str, doc_id: str) -> AsyncIterator[Subscriber]:
        """Register for changes to one document; unregistered on exit, however it exits."""
        if collection not in self.collections:
            raise ValueError(f"{collection} is not a watched view collection")
        sub = Subscriber(collection, doc_id, asyncio.Queue(self.queue_size))
        self._subscribers[(collection, doc_id)].add(sub)
        self.stats.subscribers += 1
        try:
            yield sub
        finally:
            self._remove(sub)

    def _remove(self, sub: Subscriber) -> None:
        key = (sub.collection, sub.doc_id)
        subscribers = self._subscribers.get(key)
        if subscribers is not None and sub in subscribers:
            subscribers.discard(sub)
            self.stats.subscribers -= 1
            if not subscribers:
                del self._subscribers[key]

    def _end(self, sub: Subscriber, marker: object) -> None:
        # Make room for the marker: what was queued is stale once the subscriber is cut off.
        self._remove(sub)
        while not sub.queue.empty():
            sub.queue.get_nowait()
        sub.queue.put_nowait(marker)

    def publish(self, collection: str, doc_id: str, doc: Document | None) -> None:
        """Hand a new state to every subscriber of the document, never waiting for one."""
        for sub in list(self._subscribers.get((collection, doc_id), ())):
            try:
                sub.queue.put_nowait(doc)
            except asyncio.QueueFull:
                self.stats.dropped += 1
                log.warning("slow subscriber dropped", collection=collection, id=doc_id)
                self._end(sub, _DROPPED)

    async def _watch(self, collection: str, ready: asyncio.Event) -> None:
        # A database-level stream filtered to the collection: a rebuild's rename-over
        # (renameCollection with dropTarget) would invalidate a collection-level stream.
        pipeline = [{"$match": {"$or": [{"ns.coll": collection}, {"to.coll": collection}]}}]
        token: Mapping[str, Any] | None = None
        delay = self.retry_delay
        while True:
            try:
                async with await self.db.watch(
                    pipeline, full_document="updateLookup", start_after=token
                ) as stream:
                    self.stats.open_streams += 1
                    try:
                        # Remember the position from the start: a failure before the first
                        # change must still resume here, not at "now".
                        token = stream.resume_token or token
                        ready.set()
                        delay = self.retry_delay
                        while stream.alive:
                            change = await stream.try_next()
                            token = stream.resume_token or token
                            if change is not None:
                                await self._dispatch(collection, change)
                    finally:
                        self.stats.open_streams -= 1
            except Exception as exc:
                # The driver already retried resumable errors once; reopen from our token.
                # Anything else (a malformed change) must not end the feed for the process:
                # the token already points past the change that failed.
                self.stats.restarts += 1
                log.warning(
                    "change stream failed; resuming",
                    collection=collection,
                    error=f"{type(exc).__name__}: {exc}",
                    retry_in=delay,
                )
                await asyncio.sleep(delay)  # back-off before reopening, not synchronisation
                delay = min(delay * 2, self.max_retry_delay)

    async def _dispatch(self, collection: str, change: Mapping[str, Any]) -> None:
        operation = change.get("operationType")
        if operation in ("insert", "update", "replace", "delete"):
            if change.get("ns", {}).get("coll") != collection:
                return
            doc_id = str(change["documentKey"]["_id"])
            # A delete (or an update whose document is already gone) says "no longer there".
            self.publish(collection, doc_id, change.get("fullDocument"))
        elif operation == "rename":
            # A rebuild swapped in a new collection: every subscribed document may have changed.
            await self._refresh(collection, [k for c, k in self._subscribers if c == collection])

    async def _refresh(self, collection: str, doc_ids: Iterable[str]) -> None:
        ids = list(doc_ids)
        if not ids:
            return
        found = {doc["_id"]: doc async for doc in self.db[collection].find({"_id": {"$in": ids}})}
        for doc_id in ids:
            self.publish(collection, doc_id, found.get(doc_id))
