"""The event log: every consumed Fact Event, once, as a MongoDB document."""

from __future__ import annotations

from typing import Any

from consumers.facts import FactEvent, Position, from_time_key, time_key
from consumers.upcasting import to_folded

LogDocument = dict[str, Any]


def to_log_document(event: FactEvent) -> LogDocument:
    position = event.position
    return {
        "_id": event.log_id,
        "source": event.source,
        "id": event.id,
        "type": event.type,
        "subject": event.subject,
        # BSON dates stop at milliseconds; timeKey keeps the exact instant for ordering.
        "time": event.time,
        "timeKey": time_key(event.time),
        # What was received; folds read it through the upcasters (consumers/upcasting.py).
        "data": event.received_data,
        "dataschema": event.dataschema,
        "topic": position.topic if position else None,
        "partition": position.partition if position else None,
        "offset": position.offset if position else None,
        "receivedAt": event.received_at,
    }


def from_log_document(doc: LogDocument) -> FactEvent:
    position = None
    if doc.get("topic") is not None:
        position = Position(doc["topic"], doc["partition"], doc["offset"])
    received = doc["data"]
    dataschema = doc.get("dataschema")
    data = to_folded(doc["type"], dataschema, received)
    return FactEvent(
        source=doc["source"],
        id=doc["id"],
        type=doc["type"],
        subject=doc.get("subject"),
        time=from_time_key(doc["timeKey"]),
        data=data,
        position=position,
        received_at=doc["receivedAt"],
        dataschema=dataschema,
        received=None if data is received else received,
    )
