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
5. Verify: the scan and the catch-up keep a checksum of every document they folded; the shadow
   is read back and each of its documents must carry exactly that checksum (none missing, none
   extra), except documents that events touched meanwhile (they are re-done under the fence).
   One fold of the log, then a check of every byte written against it: folding the log a second
   time cost as much as the scan and only re-checked the same pure functions on the same input.
6. Fence: the lock turns `fenced` and carries a fresh barrier token. The engine now refuses to
   fold; a transaction already under way either committed before the fence or hits a write
   conflict on the lock and retries into the fence. The stream delivers changes in commit order,
   so once it shows the barrier, every event committed before the fence has been seen. Those keys
   are folded into the shadow and checked against a second fold, and the document count is
   checked. Nothing can reach the live view now, so the shadow is exactly the log's fold.
7. Swap: the live view's indexes are created on the shadow, then `renameCollection` with
   `dropTarget` replaces the live view in one step (the rows first, then the documents).
   Reads see the old view or the new, never a partial one. The stored projection versions
   are written, then the lock (and fence) released.

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
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from consumers.document import Document
from consumers.log import LogDocument
from consumers.projection import Projection, Settled
from consumers.rebuild import versions
from consumers.rebuild.fence import LOCKS, LockLost, ViewLock, lock_id
from consumers.rebuild.writes import replace
from consumers.replay import (
    RAW,
    affected_keys,
    combine,
    digest,
    digest_all,
    encoded,
    fold_log,
    own_query,
    refold,
    xor,
)

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


class VerificationFailed(Exception):
    """The shadow differs from the fold of the log; the live view was not touched."""


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


def shadow_name(projection: type[Projection]) -> str:
    return f"{projection.collection}__rebuild"


def rows_shadow_name(projection: type[Projection]) -> str | None:
    return f"{projection.rows.collection}__rebuild" if projection.rows is not None else None


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
        for name in (shadow_name(projection), rows_shadow_name(projection)):
            if name is not None:
                await db[name].drop()
                await db.create_collection(name)
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
    # Keys that events touched after the last catch-up: folded again under the fence.
    dirty: set[str] = field(default_factory=set, init=False)
    # The checksum of every document (with its rows) the scan and the catch-up folded, and its
    # number of rows: what the shadow must hold.
    folded: dict[str, bytes] = field(default_factory=dict, init=False)
    row_counts: dict[str, int] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.result = RebuildResult(self.projection.name)

    @property
    def shadow(self) -> AsyncCollection[Document]:
        return self.db[shadow_name(self.projection)]

    @property
    def rows_shadow(self) -> AsyncCollection[Document] | None:
        name = rows_shadow_name(self.projection)
        return self.db[name] if name is not None else None

    def _remember(self, key: str, folded: Settled | None) -> None:
        if folded is None:
            self.folded.pop(key, None)
            self.row_counts.pop(key, None)
        else:
            self.folded[key] = digest_all(encoded(key, folded, self.db))
            self.row_counts[key] = len(folded[1])

    async def run(self) -> RebuildResult:
        total = await self.db.events.count_documents(own_query(self.projection))
        self.result.events = total
        await self.observer.phase("scan", total)
        async for states in fold_log(
            self.db, self.projection, self.projections, self.chunk, self.observer.advance
        ):
            # Encoded once: the bytes inserted are the bytes checksummed.
            raw = {k: encoded(k, s, self.db) for k, s in states.items()}
            await self.shadow.insert_many(
                [RawBSONDocument(b[0]) for b in raw.values()], ordered=False
            )
            rows = [RawBSONDocument(r) for b in raw.values() for r in b[1:]]
            if rows and self.rows_shadow is not None:
                await self.rows_shadow.insert_many(rows, ordered=False)
            self.folded.update((k, digest_all(b)) for k, b in raw.items())
            self.row_counts.update((k, len(b) - 1) for k, b in raw.items())
            self.lock.check()

        for _ in range(_CATCH_UP_ROUNDS):
            keys = await self._drained_keys(None)
            if not keys:
                break
            await self.observer.phase("catch-up", len(keys))
            await self._fold_into_shadow(keys)

        await self.observer.phase("verify", len(self.folded))
        shadow_digests = await self._verify()

        await self.observer.phase("fence", None)
        barrier = await self.lock.fence()
        keys = self.dirty | await self._drained_keys(barrier)
        await self._fold_into_shadow(keys)
        await self._check(keys, shadow_digests)

        await self.observer.phase("swap", None)
        await self._copy_indexes()
        await self.lock.renew()  # still ours, with a full expiry ahead of the rename
        await self._swap()
        await self._repair_stragglers()
        return self.result

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
            await replace(self.projection, folded, self.shadow, self.rows_shadow)
            for k, f in folded.items():
                self._remember(k, f)
            self.observer.advance(len(part))

    async def _stored(self, keys: list[str] | None = None) -> dict[str, bytes]:
        """The shadow's checksum of each document with its rows (of `keys`, or all)."""
        query: Document = {} if keys is None else {"_id": {"$in": keys}}
        parts: dict[str, list[bytes]] = {}
        async for doc in self.shadow.with_options(codec_options=RAW).find(query):
            parts.setdefault(doc["_id"], []).append(digest(doc.raw))
            self.observer.advance(1)
        if self.rows_shadow is not None and self.projection.rows is not None:
            parent = self.projection.rows.parent
            rows_query: Document = {} if keys is None else {parent: {"$in": keys}}
            async for row in self.rows_shadow.with_options(codec_options=RAW).find(rows_query):
                parts.setdefault(row[parent], []).append(digest(row.raw))
        return {k: xor(v) for k, v in parts.items()}

    async def _verify(self) -> dict[str, bytes]:
        """Read back, the shadow must hold exactly what was folded, but for keys touched since."""
        expected = self.folded
        stored = await self._stored()
        # Events that arrived during the scan above or since the last catch-up.
        self.dirty = await self._drained_keys(None)
        differing = {k for k in expected.keys() | stored.keys() if expected.get(k) != stored.get(k)}
        unexplained = sorted(differing - self.dirty)
        if unexplained:
            raise VerificationFailed(
                f"{len(unexplained)} {self.projection.name} documents in the shadow differ from "
                f"the fold of the log (first: {unexplained[0]}); the live view was not touched"
            )
        return stored

    async def _check(self, keys: set[str], digests: dict[str, bytes]) -> None:
        """Under the fence: the keys just folded agree with another fold; counts agree."""
        again = await refold(self.db, self.projection, self.projections, keys)
        stored = await self._stored(sorted(keys))
        for key, folded in again.items():
            want = digest_all(encoded(key, folded, self.db)) if folded is not None else None
            got = stored.get(key)
            if want != got:
                raise VerificationFailed(
                    f"{self.projection.name} {key} differs from a second fold of the log"
                )
            if got is None:
                digests.pop(key, None)
            else:
                digests[key] = got
        count = await self.shadow.count_documents({})
        if count != len(digests):
            raise VerificationFailed(
                f"the shadow holds {count} {self.projection.name} documents, expected "
                f"{len(digests)}; the live view was not touched"
            )
        if self.rows_shadow is not None:
            rows = await self.rows_shadow.count_documents({})
            if rows != sum(self.row_counts.values()):
                raise VerificationFailed(
                    f"the shadow holds {rows} {self.projection.name} rows, expected "
                    f"{sum(self.row_counts.values())}; the live view was not touched"
                )
        self.result.documents = count
        self.result.checksum = combine(digests.values())

    async def _copy_indexes(self) -> None:
        # The rename keeps the shadow's indexes and drops the live view's: recreate them first.
        pairs = [(self.db[self.projection.collection], self.shadow)]
        if self.projection.rows is not None and self.rows_shadow is not None:
            pairs.append((self.db[self.projection.rows.collection], self.rows_shadow))
        for live, shadow in pairs:
            async for spec in await live.list_indexes():
                if spec["name"] == "_id_":
                    continue
                options = {k: spec[k] for k in ("unique", "sparse") if k in spec}
                await shadow.create_index(list(spec["key"].items()), name=spec["name"], **options)

    async def _swap(self) -> None:
        # Rows first: a reader between the two renames sees new rows under the old documents,
        # both folds of the same log (the fence holds every consumer).
        if self.projection.rows is not None and self.rows_shadow is not None:
            await self.rows_shadow.rename(self.projection.rows.collection, dropTarget=True)
        await self.shadow.rename(self.projection.collection, dropTarget=True)

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
