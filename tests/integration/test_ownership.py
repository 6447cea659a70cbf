"""Taking over a partition: the dead owner's open transaction ends at once, and an owner that
lost a partition can no longer commit a batch of it."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.errors import OperationFailure

from app.store import database
from consumers.batch import DeadLetter
from consumers.decoding import decode
from consumers.engine import FoldEngine
from consumers.ownership import Fenced, Ownership
from consumers.projections import PROJECTIONS
from tests.support.facts import account_event, at, raw


async def test_a_successor_ends_the_dead_owners_transaction_and_fences_it(
    client: AsyncMongoClient[dict[str, Any]],
) -> None:
    unique = uuid.uuid4().hex[:10]
    db = database(client, f"own_{unique}")
    await db.accounts.insert_one({"_id": "a1", "balance": 0})
    partition = ("accounts.facts", 0)  # where tests.facts.raw puts records

    dead = Ownership(db, "g")
    await dead.claim({partition})
    assert dead.session is not None
    # It dies mid-transaction: a write held, never committed, never aborted.
    await dead.session.start_transaction()
    await db.accounts.update_one({"_id": "a1"}, {"$inc": {"balance": 1}}, session=dead.session)

    successor = Ownership(db, "g")
    await successor.claim({partition})
    assert successor.epoch > dead.epoch
    # The held write is gone at once: the successor's transaction commits without waiting
    # for the server to reap the dead one (transactionLifetimeLimitSeconds).
    started = time.monotonic()
    async with client.start_session() as session:
        await session.start_transaction()
        await db.accounts.update_one({"_id": "a1"}, {"$inc": {"balance": 10}}, session=session)
        await session.commit_transaction()
    assert time.monotonic() - started < 2
    with pytest.raises(OperationFailure):
        await dead.session.commit_transaction()
    assert (await db.accounts.find_one({"_id": "a1"}) or {})["balance"] == 10

    # The old owner, were it still running, can no longer commit a batch of that partition.
    opened = account_event("account.opened", "a2", at(1), customerId="c", currency="EUR")
    event = decode(raw(opened, topic=partition[0], offset=6))
    poison = DeadLetter(raw(opened, topic=partition[0], offset=7), "PoisonRecord: test")
    stale = FoldEngine(db, PROJECTIONS)
    stale.owner = dead
    with pytest.raises(Fenced) as fenced:
        await stale.apply([event], [poison])
    assert fenced.value.lost == {partition}
    assert await db.events.count_documents({}) == 0
    assert await db.dead_letters.count_documents({}) == 0
    # The owner folds it, stamped with who it is.
    live = FoldEngine(db, PROJECTIONS)
    live.owner = successor
    await live.apply([event], [poison])
    logged = await db.events.find_one({})
    assert logged is not None
    assert (logged["consumer"], logged["epoch"]) == (successor.instance, successor.epoch)
    await dead.close()
    await successor.close()
    await client.drop_database(db.name)
