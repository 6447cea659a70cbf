"""The rebuild lock of a view: one rebuild at a time, and the short fence the engine honours.

One document per view in `locks` (`_id` = `rebuild:<collection>`) with an owner and an expiry
that the rebuild keeps renewing; a holder that dies (SIGKILL) simply stops renewing, so the
lock lapses and the next rebuild takes it over. The same document tells the fold engine what
a rebuild is doing:

- phase `rebuilding`: every engine transaction increments a counter on it. The write matters,
  not the number: it makes any engine transaction that overlaps the later `fenced` write
  conflict with it (WriteConflict, retried by the driver), so no fold slips past the fence.
- phase `fenced`: the engine refuses to fold (`ViewFenced`) and waits until the phase ends, so
  nothing reaches the live view between the rebuild's final catch-up and its swap.

An expired lock is ignored by everyone, which bounds how long a crashed rebuild can hold folds.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from consumers.document import Document

LOCKS = "locks"


def lock_id(collection: str) -> str:
    return f"rebuild:{collection}"


def _now() -> datetime:
    return datetime.now(UTC)


class LockHeld(Exception):
    """Another rebuild of the view holds the lock; the message is one line for a person."""


class LockLost(Exception):
    """Our lock expired or was taken over: the rebuild must not swap."""


class ViewFenced(Exception):
    """A rebuild is swapping a view in; the engine waits for the fence and folds again."""


class ViewLock:
    def __init__(self, db: AsyncDatabase[Document], collection: str, owner: str, ttl: float):
        self.db = db
        self.collection = collection
        self.owner = owner
        self.ttl = ttl
        self.lost: LockLost | None = None

    @property
    def id(self) -> str:
        return lock_id(self.collection)

    @classmethod
    async def acquire(
        cls, db: AsyncDatabase[Document], collection: str, ttl: float = 30.0
    ) -> ViewLock:
        owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        lock = cls(db, collection, owner, ttl)
        now = _now()
        try:
            # Only a lapsed lock matches; a live one makes the upsert collide on `_id`.
            await db[LOCKS].update_one(
                {"_id": lock.id, "expiresAt": {"$lte": now}},
                {
                    "$set": {
                        "owner": owner,
                        "phase": "rebuilding",
                        "acquiredAt": now,
                        "expiresAt": now + timedelta(seconds=ttl),
                        "folds": 0,
                    },
                    "$unset": {"barrier": ""},
                },
                upsert=True,
            )
        except DuplicateKeyError:
            await cls.ensure_free(db, collection)
            raise LockHeld(f"view {collection} is already being rebuilt") from None
        return lock

    @classmethod
    async def ensure_free(cls, db: AsyncDatabase[Document], collection: str) -> None:
        """Raise LockHeld, naming the holder, if a live lock is on the view."""
        now = _now()
        held = await db[LOCKS].find_one({"_id": lock_id(collection), "expiresAt": {"$gt": now}})
        if held is not None:
            left = (held["expiresAt"] - now).total_seconds()
            raise LockHeld(
                f"view {collection} is already being rebuilt by {held.get('owner', '?')} "
                f"(lock expires in {max(left, 0):.0f}s unless renewed)"
            )

    async def _update(self, changes: Document) -> None:
        expires = _now() + timedelta(seconds=self.ttl)
        result = await self.db[LOCKS].update_one(
            {"_id": self.id, "owner": self.owner, "expiresAt": {"$gt": _now()}},
            {"$set": {**changes, "expiresAt": expires}},
        )
        if result.matched_count == 0:
            self.lost = LockLost(f"the rebuild lock of {self.collection} expired or was taken")
            raise self.lost

    async def renew(self) -> None:
        await self._update({})

    async def fence(self) -> str:
        """Stop the engine folding; returns the barrier token the change stream will carry."""
        token = uuid.uuid4().hex
        await self._update({"phase": "fenced", "barrier": token})
        return token

    def check(self) -> None:
        if self.lost is not None:
            raise self.lost

    async def release(self) -> None:
        await self.db[LOCKS].delete_one({"_id": self.id, "owner": self.owner})

    @contextlib.asynccontextmanager
    async def held(self) -> AsyncIterator[ViewLock]:
        """Renew in the background while the block runs; release however it ends."""

        async def heartbeat() -> None:
            while True:
                await asyncio.sleep(self.ttl / 3)  # renewal period, well inside the expiry
                try:
                    await self.renew()
                except LockLost:
                    return

        task = asyncio.create_task(heartbeat(), name=f"lock-{self.collection}")
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            with contextlib.suppress(Exception):
                await asyncio.shield(self.release())


async def guard(
    db: AsyncDatabase[Document], collections: Iterable[str], session: AsyncClientSession
) -> None:
    """Called by the engine inside its transaction, before it folds anything."""
    ids = [lock_id(c) for c in collections]
    cursor = db[LOCKS].find({"_id": {"$in": ids}, "expiresAt": {"$gt": _now()}}, session=session)
    async for lock in cursor:
        if lock.get("phase") == "fenced":
            raise ViewFenced(lock["_id"])
        await db[LOCKS].update_one({"_id": lock["_id"]}, {"$inc": {"folds": 1}}, session=session)


async def wait_lifted(
    db: AsyncDatabase[Document], collections: Iterable[str], poll: float = 0.02
) -> None:
    """Return once no live fence covers these views (lifted, or lapsed with its holder)."""
    ids = [lock_id(c) for c in collections]
    query = {"_id": {"$in": ids}, "phase": "fenced"}
    while True:
        query["expiresAt"] = {"$gt": _now()}
        if await db[LOCKS].find_one(query) is None:
            return
        await asyncio.sleep(poll)  # the fence lasts one catch-up and a rename: poll briefly
