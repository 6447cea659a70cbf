"""The read side as an upstream: views that publish write Fact Events to an outbox collection.

A projection declares `publishes = Publication(...)` with a pure function from a document's
state to what it publishes. The engine hands this module the documents a batch changed, inside
the batch's transaction, so an outbox row exists if and only if its view change committed.
A relay (app/relay.py) sends the rows to Kafka and deletes what the broker acknowledged.

Ids derive from (entity, key, version): writing the same version twice is a no-op here, and a
relay that sends a row again after a crash sends the same id, which a downstream dedupes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cloudevents.core.bindings import kafka
from cloudevents.core.v1.event import CloudEvent
from pymongo import UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

if TYPE_CHECKING:
    from consumers.projection import Projection

Document = dict[str, Any]
OUTBOX = "outbox"


@dataclass(frozen=True, slots=True)
class Published:
    """What one state of a document publishes: JSON-ready data, a version that grows with every
    change of the data, and the business time of the newest fact behind it."""

    data: dict[str, Any]
    version: int
    time: datetime


@dataclass(frozen=True)
class Publication:
    """A view's declaration that it publishes each change of its documents as a Fact Event."""

    type: str  # the CloudEvents type, e.g. "customer-overview.changed"
    entity: str  # names what is published in event ids, e.g. "customer-overview"
    describe: Callable[[dict[str, Any]], Published]  # pure: no I/O, no clock


def event_id(entity: str, key: str, version: int) -> str:
    # Zero-padded, so ids of one key sort like their versions (a fold's tie-break on equal time).
    return f"{entity}:{key}:{version:010d}"


def rows(
    projections: Iterable[type[Projection]], changed: dict[str, dict[str, dict[str, Any]]]
) -> list[Document]:
    """The outbox rows for the documents a batch changed (pure, for the engine and tests)."""
    found: list[Document] = []
    now = datetime.now(UTC)
    for projection in projections:
        publication = projection.publishes
        if publication is None:
            continue
        for key, state in changed.get(projection.name, {}).items():
            published = publication.describe(state)
            found.append(
                {
                    "_id": event_id(publication.entity, key, published.version),
                    "type": publication.type,
                    "key": key,
                    "version": published.version,
                    "time": published.time,
                    "data": published.data,
                    "createdAt": now,
                }
            )
    return found


async def write(
    db: AsyncDatabase[Document],
    projections: Iterable[type[Projection]],
    changed: dict[str, dict[str, dict[str, Any]]],
    session: AsyncClientSession,
) -> int:
    """Append the batch's publications in its transaction; returns how many rows it offered."""
    found = rows(projections, changed)
    if not found:
        return 0
    # $setOnInsert: a version already in the outbox stays as first written (and a duplicate
    # key must not abort the transaction).
    await db[OUTBOX].bulk_write(
        [UpdateOne({"_id": r["_id"]}, {"$setOnInsert": r}, upsert=True) for r in found],
        ordered=False,
        session=session,
    )
    return len(found)


@dataclass(frozen=True, slots=True)
class Record:
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


def to_record(row: Document, source: str) -> Record:
    """The Kafka record of an outbox row: CloudEvents structured mode, key = subject."""
    event = CloudEvent(
        attributes={
            "id": row["_id"],
            "source": source,
            "type": row["type"],
            "subject": row["key"],
            "time": row["time"],
            "datacontenttype": "application/json",
        },
        data=row["data"],
    )
    message = kafka.to_structured_event(event)
    return Record(row["key"].encode(), message.value, list(message.headers.items()))


def decode_value(value: bytes) -> dict[str, Any]:
    """A published record's JSON event (for `factview tail` and downstream tests)."""
    event: dict[str, Any] = json.loads(value)
    return event
