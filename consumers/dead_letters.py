"""Dead letters: list them, and redrive them through today's decoder and the fold engine.

A redrive re-decodes the raw record stored in the letter. It succeeds once the reason is gone:
after a decoder fix shipped in a new release, or after an operator repaired the stored `value`.
The event is folded and the letter marked `redriven` in one transaction, so redriving twice,
or a crash in between, never folds anything twice (the log dedupes on source+id as well).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from consumers.decoding import PoisonRecord, RawRecord, decode
from consumers.document import Document
from consumers.engine import DeadLetter, FoldEngine

STATUSES = ("pending", "redriven")


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
