"""The rebuild lock and fence on their own, against the real SecantusDB (no broker).

The rebuild tests show the fence at work inside whole rebuilds; these pin down each rule of
the lock document the engine and the rebuild agree on, in seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from app.store import make_client
from consumers.rebuild.fence import (
    LOCKS,
    LockHeld,
    LockLost,
    ViewFenced,
    ViewLock,
    guard,
    lock_id,
    wait_lifted,
)
from tests.support.stack import eventually

Db = AsyncDatabase[dict[str, Any]]


@pytest.fixture
async def db(mongo_uri: str, unique: str) -> AsyncIterator[tuple[AsyncMongoClient[Any], Db]]:
    client: AsyncMongoClient[Any] = make_client(mongo_uri)  # factview's client: tz-aware dates
    name = f"fence_{unique}"
    yield client, client[name]
    await client.drop_database(name)
    await client.close()


async def guarded(client: AsyncMongoClient[Any], db: Db, collections: list[str]) -> None:
    """What the engine does first in each fold transaction."""
    async with client.start_session() as session, await session.start_transaction():
        await guard(db, collections, session)


async def lock_doc(db: Db, collection: str) -> dict[str, Any] | None:
    return await db[LOCKS].find_one({"_id": lock_id(collection)})


async def test_one_holder_at_a_time_and_the_refusal_names_it(
    db: tuple[AsyncMongoClient[Any], Db],
) -> None:
    _, database = db
    first = await ViewLock.acquire(database, "accounts", ttl=30)
    stored = await lock_doc(database, "accounts")
    assert stored is not None
    assert stored["owner"] == first.owner and stored["phase"] == "rebuilding"
    assert stored["folds"] == 0 and "barrier" not in stored

    with pytest.raises(LockHeld, match=f"already being rebuilt by {first.owner}"):
        await ViewLock.acquire(database, "accounts", ttl=30)
    with pytest.raises(LockHeld, match=r"lock expires in (29|30)s"):
        await ViewLock.ensure_free(database, "accounts")
    # Another view's lock is its own.
    other = await ViewLock.acquire(database, "customers", ttl=30)

    await first.release()
    assert await lock_doc(database, "accounts") is None
    assert await lock_doc(database, "customers") is not None
    await ViewLock.ensure_free(database, "accounts")
    second = await ViewLock.acquire(database, "accounts", ttl=30)
    assert second.owner != first.owner
    # A release by a holder that lost the lock removes nobody else's.
    await first.release()
    assert (await lock_doc(database, "accounts") or {}).get("owner") == second.owner
    await second.release()
    await other.release()


async def test_a_lapsed_lock_is_taken_over_and_its_old_holder_learns_it_lost(
    db: tuple[AsyncMongoClient[Any], Db],
) -> None:
    _, database = db
    old = await ViewLock.acquire(database, "accounts", ttl=0.3)
    await old.renew()
    old.check()
    # Wait (with a deadline) until the lock has lapsed: then it is free for the next rebuild.
    await eventually(lambda: free(database), lambda ok: ok, timeout=10)
    new = await ViewLock.acquire(database, "accounts", ttl=30)

    with pytest.raises(LockLost, match="expired or was taken"):
        await old.renew()
    with pytest.raises(LockLost):
        old.check()
    with pytest.raises(LockLost):
        await old.fence()
    stored = await lock_doc(database, "accounts")
    assert stored is not None and stored["owner"] == new.owner and stored["phase"] == "rebuilding"
    await new.release()


async def free(database: Db) -> bool:
    try:
        await ViewLock.ensure_free(database, "accounts")
    except LockHeld:
        return False
    return True


async def test_folds_are_counted_while_rebuilding_and_refused_while_fenced(
    db: tuple[AsyncMongoClient[Any], Db],
) -> None:
    client, database = db
    lock = await ViewLock.acquire(database, "accounts", ttl=30)
    await guarded(client, database, ["accounts", "customers"])
    await guarded(client, database, ["accounts"])
    await guarded(client, database, ["customers"])  # not this view's lock
    stored = await lock_doc(database, "accounts")
    assert stored is not None and stored["folds"] == 2

    token = await lock.fence()
    assert isinstance(token, str) and len(token) == 32  # a fresh uuid4 hex per fence
    stored = await lock_doc(database, "accounts")
    assert stored is not None and stored["phase"] == "fenced" and stored["barrier"] == token
    with pytest.raises(ViewFenced, match=lock_id("accounts")):
        await guarded(client, database, ["customers", "accounts"])
    await guarded(client, database, ["customers"])
    await lock.release()
    await guarded(client, database, ["accounts"])


async def test_a_lapsed_fence_holds_nothing(db: tuple[AsyncMongoClient[Any], Db]) -> None:
    client, database = db
    lock = await ViewLock.acquire(database, "accounts", ttl=0.3)
    await lock.fence()
    with pytest.raises(ViewFenced):
        await guarded(client, database, ["accounts"])
    # A holder that died stops renewing: once the expiry passes, folds go on without it.
    await asyncio.wait_for(wait_lifted(database, ["accounts"]), 10)
    await guarded(client, database, ["accounts"])
    stored = await lock_doc(database, "accounts")
    assert stored is not None and stored["folds"] == 0, "a lapsed lock is not counted on"
    # The next rebuild takes it over from the start: not fenced, no barrier, nothing counted.
    again = await ViewLock.acquire(database, "accounts", ttl=30)
    stored = await lock_doc(database, "accounts")
    assert stored is not None and stored["owner"] == again.owner
    assert stored["phase"] == "rebuilding" and "barrier" not in stored and stored["folds"] == 0
    await again.release()


async def test_a_fold_that_aborts_leaves_no_count_on_the_lock(
    db: tuple[AsyncMongoClient[Any], Db],
) -> None:
    # The count is written in the fold's transaction: that is what makes a fold overlapping
    # the fence conflict with it. A fold that aborts must leave nothing behind.
    client, database = db
    lock = await ViewLock.acquire(database, "accounts", ttl=30)
    async with client.start_session() as session:
        await session.start_transaction()
        await guard(database, ["accounts"], session)
        await session.abort_transaction()
    stored = await lock_doc(database, "accounts")
    assert stored is not None and stored["folds"] == 0
    await lock.release()


async def test_wait_lifted_returns_when_the_fence_is_released(
    db: tuple[AsyncMongoClient[Any], Db],
) -> None:
    _, database = db
    await asyncio.wait_for(wait_lifted(database, ["accounts"]), 5)  # no lock at all
    lock = await ViewLock.acquire(database, "accounts", ttl=30)
    await asyncio.wait_for(wait_lifted(database, ["accounts"]), 5)  # held, not fenced
    await lock.fence()
    waiting = asyncio.create_task(wait_lifted(database, ["customers", "accounts"]))
    await asyncio.wait_for(wait_lifted(database, ["customers"]), 5)  # another view
    # Asserting something does not happen: a few poll periods (20 ms each) pass first.
    done, _ = await asyncio.wait({waiting}, timeout=0.3)
    assert not done
    await lock.release()
    await asyncio.wait_for(waiting, 5)


async def test_held_renews_in_the_background_and_releases_however_the_block_ends(
    db: tuple[AsyncMongoClient[Any], Db],
) -> None:
    _, database = db
    lock = await ViewLock.acquire(database, "accounts", ttl=0.6)
    first = await lock_doc(database, "accounts")
    assert first is not None
    with pytest.raises(RuntimeError, match="the rebuild failed"):
        async with lock.held() as same:
            assert same is lock
            renewed = await eventually(
                lambda: lock_doc(database, "accounts"),
                lambda doc: doc is not None and doc["expiresAt"] > first["expiresAt"],
                timeout=10,
            )
            # Renewed, not re-acquired: same owner, same phase, still counting.
            assert renewed["owner"] == lock.owner and renewed["phase"] == "rebuilding"
            raise RuntimeError("the rebuild failed")
    assert await lock_doc(database, "accounts") is None
