"""Dead letters: list them, and redrive them through today's decoder and the fold engine.

A redrive re-decodes the raw record stored in the letter. It succeeds once the reason is gone:
after a decoder fix shipped in a new release, or after an operator repaired the stored `value`.
The event is folded and the letter marked `redriven` in one transaction, so redriving twice,
or a crash in between, never folds anything twice (the log dedupes on source+id as well).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from consumers.batch import DeadLetter
from consumers.decoding import PoisonRecord, RawRecord, decode
from consumers.document import Document
from consumers.engine import FoldEngine

STATUSES = ("pending", "redriven", "discarded")
# Where a page of letters starts after: (firstSeen, _id) of the last letter of the previous one.
LetterPosition = tuple[datetime, str]


class NotDiscardable(Exception):
    """The letter is unknown, or no longer pending; the message says which."""


@dataclass
class RedriveOutcome:
    redriven: list[str] = field(default_factory=list)
    still_failing: dict[str, str] = field(default_factory=dict)


async def list_letters(
    db: AsyncDatabase[Document], status: str | None = "pending", limit: int = 100
) -> list[Document]:
    """Oldest first; `status=None` lists them all."""
    query: Document = {} if status is None else {"status": status}
    cursor = db.dead_letters.find(query).sort([("firstSeen", ASCENDING), ("_id", ASCENDING)])
    return [doc async for doc in cursor.limit(limit)]


async def page_letters(
    db: AsyncDatabase[Document], status: str | None, first: int, after: LetterPosition | None
) -> tuple[list[Document], bool]:
    """Oldest first, from after `after`; whether more follow."""
    query: Document = {} if status is None else {"status": status}
    if after is not None:
        seen, letter_id = after
        query["$or"] = [
            {"firstSeen": {"$gt": seen}},
            {"firstSeen": seen, "_id": {"$gt": letter_id}},
        ]
    cursor = db.dead_letters.find(query).sort([("firstSeen", ASCENDING), ("_id", ASCENDING)])
    docs = [doc async for doc in cursor.limit(first + 1)]
    return docs[:first], len(docs) > first


async def discard(db: AsyncDatabase[Document], letter_id: str, reason: str, who: str) -> Document:
    """Mark a pending letter discarded, with who and why; it is kept, never redriven."""
    now = datetime.now(UTC)
    doc = await db.dead_letters.find_one_and_update(
        {"_id": letter_id, "status": "pending"},
        {
            "$set": {
                "status": "discarded",
                "discardedBy": who,
                "discardReason": reason,
                "discardedAt": now,
            }
        },
        return_document=ReturnDocument.AFTER,
    )
    if doc is None:
        found = await db.dead_letters.find_one({"_id": letter_id}, {"status": 1})
        if found is None:
            raise NotDiscardable(f"no dead letter {letter_id!r}")
        raise NotDiscardable(f"dead letter {letter_id!r} is {found['status']}, not pending")
    return doc


def stored_record(letter: Document) -> RawRecord:
    """The Kafka record exactly as it was received."""
    return RawRecord(
        topic=letter["topic"],
        partition=letter["partition"],
        offset=letter["offset"],
        key=bytes(letter["key"]) if letter.get("key") is not None else None,
        value=bytes(letter["value"]) if letter.get("value") is not None else None,
        headers=tuple((h["key"], bytes(h["value"])) for h in letter.get("headers", [])),
    )


async def redrive(engine: FoldEngine, ids: list[str] | None = None) -> RedriveOutcome:
    """Redrive the named pending letters of the engine's consumer group (all when `ids` is None).

    A letter that still fails stays pending with its new reason and one more attempt.
    """
    query: Document = {"status": "pending", "consumerGroup": engine.consumer_group}
    if ids is not None:
        query["_id"] = {"$in": ids}
    outcome = RedriveOutcome()
    async for letter in engine.db.dead_letters.find(query).sort("_id", ASCENDING):
        record = stored_record(letter)
        try:
            event = decode(record)
        except PoisonRecord as exc:
            reason = f"PoisonRecord: {exc}"
            await engine.apply([], [DeadLetter(record, reason)])
            outcome.still_failing[letter["_id"]] = reason
            continue
        await engine.apply([event], redriven=[letter["_id"]])
        outcome.redriven.append(letter["_id"])
    return outcome
