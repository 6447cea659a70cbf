"""Rebuild a view from the log while consumers keep folding, then swap it in atomically.

How no event is lost or doubled across the swap:

1. Take the view's lock (consumers/rebuild/fence.py). From then on every engine transaction
   writes the lock document, so it conflicts with the fence set later.
2. Open a change stream on the database *before* reading the log. Whatever commits after this
   point shows up on the stream; whatever committed before is seen by the scan. A key in both is
   simply folded again from the log, which is idempotent, so the overlap is harmless.
3. Scan: fold the whole log into the shadow collection `<collection>__rebuild` (and a view's
   rows into `<rows collection>__rebuild`).
4. Catch up: the keys that streamed events touch (directly, or through the join) are folded
   again from the log into the shadow, for a few rounds while events keep coming.
5. Verify (consumers/rebuild/verify.py): the scan and the catch-up keep a checksum of every
   document they folded; the shadow is read back and each of its documents must carry exactly
   that checksum (none missing, none extra), except documents that events touched meanwhile
   (they are re-done under the fence). One fold of the log, then a check of every byte written
   against it: folding the log a second time cost as much as the scan and only re-checked the
   same pure functions on the same input.
6. Fence: the lock turns `fenced` and carries a fresh barrier token. The engine now refuses to
   fold; a transaction already under way either committed before the fence or hits a write
   conflict on the lock and retries into the fence. The stream delivers changes in commit order,
   so once it shows the barrier, every event committed before the fence has been seen. Those keys
   are folded into the shadow and checked against a second fold, and the document count is
   checked. Nothing can reach the live view now, so the shadow is exactly the log's fold.
7. Swap (consumers/rebuild/swap.py): the live view's indexes are created on the shadow, then
   `renameCollection` with `dropTarget` replaces the live view in one step (the rows first, then
   the documents). Reads see the old view or the new, never a partial one. The stored projection
   versions are written, then the lock (and fence) released.

Interrupted anywhere before the rename (Ctrl-C, SIGKILL), the live view is untouched: only the
shadow was written. The next run drops the stale shadow and starts clean; a fence left by a
killed run lapses with its lock.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from bson.raw_bson import RawBSONDocument
from pymongo.asynchronous.change_stream import AsyncChangeStream
from pymongo.asynchronous.database import AsyncDatabase

from consumers.document import Document
from consumers.log import LogDocument
from consumers.projection import Projection
from consumers.rebuild import versions
from consumers.rebuild.fence import LOCKS, LockLost, ViewLock, lock_id
from consumers.rebuild.swap import ShadowView
from consumers.rebuild.verify import Checksums
from consumers.rebuild.writes import replace
from consumers.replay import affected_keys, encoded, fold_log, own_query, refold

# Catch-up rounds before fencing; each round is shorter than the one before while the
# consumers keep pace, and the fence takes whatever is left.
_CATCH_UP_ROUNDS = 5


class Observer(Protocol):
    """What the caller sees of a rebuild: phases (with a total, when known) and progress."""

    async def phase(self, name: str, total: int | None) -> None: ...

    def advance(self, n: int) -> None: ...


class _Quiet:
    async def phase(self, name: str, total: int | None) -> None:
        return None

    def advance(self, n: int) -> None:
        return None


@dataclass
class RebuildResult:
    view: str
    documents: int = 0
    events: int = 0
    caught_up: int = 0
    # Keys folded again in the live view after the swap: only a transaction older than the
    # lock itself can need it, so anything but 0 is worth a look.
    stragglers: int = 0
    checksum: str = ""
    seconds: float = 0.0
    skipped: bool = False


async def rebuild(
    db: AsyncDatabase[Document],
    projection: type[Projection],
    projections: tuple[type[Projection], ...],
    *,
    observer: Observer | None = None,
    lock_ttl: float = 30.0,
    chunk: int = 500,
    only_if_outdated: bool = False,
) -> RebuildResult:
    """Rebuild one view; raises LockHeld when another rebuild of it is running."""
    started = time.monotonic()
    lock = await ViewLock.acquire(db, projection.collection, lock_ttl)
    async with lock.held():
        # Checked under the lock, so a version bump seen by several processes rebuilds once.
        if only_if_outdated and await versions.is_current(db, projection, projections):
            return RebuildResult(projection.name, skipped=True)
        await ShadowView(db, projection).recreate()
        pipeline = [
            {
                "$match": {
                    "$or": [
                        {"ns.coll": "events", "operationType": "insert"},
                        {"ns.coll": LOCKS, "documentKey._id": lock_id(projection.collection)},
                    ]
                }
            }
        ]
        async with await db.watch(pipeline, max_await_time_ms=50) as stream:
            job = _Job(db, projection, projections, stream, lock, observer or _Quiet(), chunk)
            result = await job.run()
        await versions.record(db, projection, projections, rebuilt=True)
    result.seconds = time.monotonic() - started
    return result


@dataclass
class _Job:
    db: AsyncDatabase[Document]
    projection: type[Projection]
    projections: tuple[type[Projection], ...]
    stream: AsyncChangeStream[Document]
    lock: ViewLock
    observer: Observer
    chunk: int
    result: RebuildResult = field(init=False)
    shadow: ShadowView = field(init=False)
    checksums: Checksums = field(init=False)
    # Keys that events touched after the last catch-up: folded again under the fence.
    dirty: set[str] = field(default_factory=set, init=False)

    def __post_init__(self) -> None:
        self.result = RebuildResult(self.projection.name)
        self.shadow = ShadowView(self.db, self.projection)
        self.checksums = Checksums(
            self.db, self.projection, self.projections, self.shadow, self.observer.advance
        )

    async def run(self) -> RebuildResult:
        await self._scan()
        for _ in range(_CATCH_UP_ROUNDS):
            keys = await self._drained_keys(None)
            if not keys:
                break
            await self.observer.phase("catch-up", len(keys))
            await self._fold_into_shadow(keys)

        await self.observer.phase("verify", len(self.checksums.folded))
        shadow_digests = await self._verify()

        await self.observer.phase("fence", None)
        barrier = await self.lock.fence()
        keys = self.dirty | await self._drained_keys(barrier)
        await self._fold_into_shadow(keys)
        checked = await self.checksums.check_fenced(keys, shadow_digests)
        self.result.documents, self.result.checksum = checked

        await self.observer.phase("swap", None)
        await self.shadow.copy_indexes()
        await self.lock.renew()  # still ours, with a full expiry ahead of the rename
        await self.shadow.swap()
        await self._repair_stragglers()
        return self.result

    async def _scan(self) -> None:
        total = await self.db.events.count_documents(own_query(self.projection))
        self.result.events = total
        await self.observer.phase("scan", total)
        async for states in fold_log(
            self.db, self.projection, self.projections, self.chunk, self.observer.advance
        ):
            # Encoded once: the bytes inserted are the bytes checksummed.
            raw = {k: encoded(k, s, self.db) for k, s in states.items()}
            await self.shadow.documents.insert_many(
                [RawBSONDocument(b[0]) for b in raw.values()], ordered=False
            )
            rows = [RawBSONDocument(r) for b in raw.values() for r in b[1:]]
            if rows and self.shadow.rows is not None:
                await self.shadow.rows.insert_many(rows, ordered=False)
            self.checksums.scanned(raw)
            self.lock.check()

    async def _drained_keys(self, barrier: str | None) -> set[str]:
        """Keys touched by the events the stream holds now (or up to the barrier)."""
        logged: list[LogDocument] = []
        deadline = time.monotonic() + self.lock.ttl
        while True:
            change = await self.stream.try_next()
            if change is None:
                if barrier is None:
                    break
                if time.monotonic() > deadline:
                    raise LockLost("the fence barrier never came back on the change stream")
                continue
            if change["ns"]["coll"] == "events":
                logged.append(change["fullDocument"])
                continue
            updated = (change.get("updateDescription") or {}).get("updatedFields") or {}
            if barrier is not None and updated.get("barrier") == barrier:
                break
        self.result.caught_up += len(logged)
        return await affected_keys(self.db, self.projection, self.projections, logged)

    async def _fold_into_shadow(self, keys: Iterable[str]) -> None:
        wanted = sorted(set(keys))
        for start in range(0, len(wanted), self.chunk):
            part = wanted[start : start + self.chunk]
            folded = await refold(self.db, self.projection, self.projections, part)
            await replace(self.projection, folded, self.shadow.documents, self.shadow.rows)
            for k, f in folded.items():
                self.checksums.remember(k, f)
            self.observer.advance(len(part))

    async def _verify(self) -> dict[str, bytes]:
        """Read back, the shadow must hold exactly what was folded, but for keys touched since."""
        stored = await self.checksums.read_back()
        # Events that arrived during the scan above or since the last catch-up.
        self.dirty = await self._drained_keys(None)
        self.checksums.explain(stored, self.dirty)
        return stored

    async def _repair_stragglers(self) -> None:
        # A transaction that began before the lock existed never wrote it, so it could commit
        # after the barrier: fold its keys once more, now in the live view.
        keys = await self._drained_keys(None)
        self.result.stragglers = len(keys)
        if not keys:
            return
        folded = await refold(self.db, self.projection, self.projections, keys)
        rows = self.db[self.projection.rows.collection] if self.projection.rows else None
        await replace(self.projection, folded, self.db[self.projection.collection], rows)
