"""Kafka record → FactEvent, with the CloudEvents SDK (both content modes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import bson
import bson.errors
from cloudevents.core.bindings.kafka import KafkaMessage, from_kafka
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from consumers.facts import FactEvent, Position
from consumers.upcasting import CannotUpcast, checked

_FORMAT = JSONFormat()
_REQUIRED = ("id", "source", "type", "time")


@dataclass(frozen=True, slots=True)
class RawRecord:
    """A Kafka record as bytes, free of any client library's types."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]


class PoisonRecord(Exception):
    """The record cannot become a FactEvent; the reason says why."""


def _as_sent(attributes: dict[str, Any], data: Any) -> CloudEvent:
    # The SDK's own factory invents an id, a time and a specversion when they are absent.
    # An event without its own id could never be deduplicated, nor one without time ordered,
    # so absence is poison here, checked before anything is filled in.
    if "specversion" not in attributes:
        raise PoisonRecord("not a CloudEvent: no specversion")
    if attributes["specversion"] != "1.0":
        raise PoisonRecord(f"unsupported specversion {attributes['specversion']!r}")
    missing = [name for name in _REQUIRED if not attributes.get(name)]
    if missing:
        raise PoisonRecord(f"missing required attributes: {', '.join(missing)}")
    return CloudEvent(attributes, data)


def decode(record: RawRecord) -> FactEvent:
    """Decode and validate one record, or raise PoisonRecord with the reason."""
    if record.value is None:
        raise PoisonRecord("record has no value (tombstone)")
    headers = {name: value for name, value in record.headers}
    try:
        event = from_kafka(
            KafkaMessage(headers=headers, key=record.key, value=record.value), _FORMAT, _as_sent
        )
    except PoisonRecord:
        raise
    except Exception as exc:  # the SDK raises many types for bad bytes, JSON and attributes
        raise PoisonRecord(f"not a CloudEvent: {type(exc).__name__}: {exc}") from exc
    attributes: dict[str, Any] = event.get_attributes()
    moment = attributes["time"]
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        raise PoisonRecord(f"time {moment!r} is not an RFC 3339 timestamp with an offset")
    data = event.get_data()
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise PoisonRecord(f"data must be a JSON object, got {type(data).__name__}")
    _check_storable(data)
    event_type = str(attributes["type"])
    dataschema = attributes.get("dataschema")
    dataschema = str(dataschema) if dataschema else None
    try:
        folded = checked(event_type, dataschema, data)
    except CannotUpcast as exc:
        raise PoisonRecord(str(exc)) from exc
    subject = attributes.get("subject")
    return FactEvent(
        source=str(attributes["source"]),
        id=str(attributes["id"]),
        type=event_type,
        subject=str(subject) if subject else None,
        time=moment,
        data=folded,
        position=Position(record.topic, record.partition, record.offset),
        dataschema=dataschema,
        received=None if folded is data else data,
    )


def _check_storable(data: dict[str, Any]) -> None:
    # The log must accept every event it is handed, or one record would stall its partition.
    try:
        bson.encode({"data": data})
    except (bson.errors.InvalidDocument, OverflowError) as exc:
        raise PoisonRecord(f"data cannot be stored: {exc}") from exc
    stack: list[Any] = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for name, value in node.items():
                if name.startswith("$"):
                    raise PoisonRecord(f"data field name {name!r} starts with '$'")
                stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
