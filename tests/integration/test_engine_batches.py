"""One batch through the fold engine on the real SecantusDB (no broker): what it logs, counts and
dead-letters, and how a redrive marks its letter, in the batch's own transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from app.store import database, make_client
from consumers.batch import DeadLetter
from consumers.decoding import RawRecord, decode
from consumers.engine import FoldEngine
from consumers.projections import PROJECTIONS
from tests.support.facts import account_event, at, raw


@pytest.fixture
async def db(mongo_uri: str, unique: str) -> AsyncIterator[AsyncDatabase[Any]]:
    client = make_client(mongo_uri)
    yield database(client, f"engine_{unique}")
    await client.drop_database(f"engine_{unique}")
    await client.close()


def poison(offset: int) -> DeadLetter:
    record = RawRecord("accounts.facts", 1, offset, b"a1", b"{oops", (("ce_id", b"x"),))
    return DeadLetter(record, "PoisonRecord: not a CloudEvent")


async def test_a_batch_logs_once_counts_what_it_held_and_keeps_each_poison_record(
    db: AsyncDatabase[Any],
) -> None:
    engine = FoldEngine(db, PROJECTIONS, consumer_group="g1")
    opened = decode(
        raw(account_event("account.opened", "a1", at(1), customerId="c1", currency="EUR"))
    )
    deposit = decode(
        raw(
            account_event(
                "account.deposited", "a1", at(2), transactionId="t1", amount="5.00", currency="EUR"
            ),
            offset=1,
        )
    )
    outcome = await engine.apply([opened, deposit, opened], [poison(7)])
    assert (outcome.logged, outcome.duplicates, outcome.dead_lettered) == (2, 1, 1)
    assert outcome.fresh == [opened, deposit] and outcome.consumed == [opened, deposit, opened]
    assert outcome.dead_topics == ["accounts.facts"]
    assert outcome.changed["account"] == ["a1"]
    assert await db.events.count_documents({}) == 2

    letter = await db.dead_letters.find_one({"_id": "g1:accounts.facts:1:7"})
    assert letter is not None
    first_seen = letter.pop("firstSeen")
    assert letter.pop("lastSeen") == first_seen
    assert letter == {
        "_id": "g1:accounts.facts:1:7",
        "topic": "accounts.facts",
        "partition": 1,
        "offset": 7,
        "consumerGroup": "g1",
        "key": b"a1",
        "value": b"{oops",
        "headers": [{"key": "ce_id", "value": b"x"}],
        "reason": "PoisonRecord: not a CloudEvent",
        "status": "pending",
        "attempts": 1,
    }

    # Seen again (a replay of the partition): the same letter, one more attempt.
    again = await engine.apply([opened], [poison(7)])
    assert (again.logged, again.duplicates, again.dead_lettered) == (0, 1, 1)
    assert again.fresh == [] and again.changed["account"] == []
    letter = await db.dead_letters.find_one({"_id": "g1:accounts.facts:1:7"})
    assert letter is not None and letter["attempts"] == 2 and letter["status"] == "pending"
    assert letter["firstSeen"] == first_seen and letter["lastSeen"] >= first_seen
    assert await db.dead_letters.count_documents({}) == 1


async def test_a_redriven_letter_is_marked_in_the_transaction_that_folds_its_event(
    db: AsyncDatabase[Any],
) -> None:
    engine = FoldEngine(db, PROJECTIONS, consumer_group="g2")
    await engine.apply([], [poison(3), poison(4)])
    fixed = decode(
        raw(account_event("account.opened", "a2", at(1), customerId="c2", currency="EUR"))
    )
    outcome = await engine.apply([fixed], redriven=["g2:accounts.facts:1:3"])
    assert outcome.logged == 1 and outcome.dead_lettered == 0
    redriven = await db.dead_letters.find_one({"_id": "g2:accounts.facts:1:3"})
    assert redriven is not None and redriven["status"] == "redriven"
    assert redriven["redrivenAt"] >= redriven["lastSeen"]
    untouched = await db.dead_letters.find_one({"_id": "g2:accounts.facts:1:4"})
    assert untouched is not None and untouched["status"] == "pending"
    assert "redrivenAt" not in untouched
    assert await db.accounts.find_one({"_id": "a2"}) is not None
