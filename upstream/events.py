"""Fact Events as the owners emit them: CloudEvents 1.0, structured mode, JSON (CONTRACT §1)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.bindings import kafka
from cloudevents.core.v1.event import CloudEvent

CUSTOMERS_SOURCE = "customers"
ACCOUNTS_SOURCE = "accounts"


class _Instant(datetime):
    """A datetime whose ISO form always carries microseconds.

    The SDK serializes `time` with `isoformat()`, which drops the fraction when it is zero;
    keeping it makes every `time` the same width ("2026-11-28T00:31:02.000000Z").
    """

    def isoformat(self, sep: str = "T", timespec: str = "microseconds") -> str:
        return super().isoformat(sep, timespec)


def now() -> datetime:
    return _Instant.now(UTC)


def fact(source: str, type_: str, subject: str, data: dict[str, Any]) -> CloudEvent:
    """A new Fact Event about entity `subject`, happening now at its owner."""
    return CloudEvent(
        attributes={
            "id": str(uuid.uuid4()),
            "source": source,
            "type": type_,
            "subject": subject,
            "time": now(),
            "datacontenttype": "application/json",
        },
        data=data,
    )


def _subject_key(event: BaseCloudEvent) -> str | None:
    # The record key is the entity id, so one entity's facts share a partition and stay in order.
    return event.get_subject()


def to_kafka(event: BaseCloudEvent) -> kafka.KafkaMessage:
    """The record to publish: structured mode, value = the JSON event, key = subject."""
    return kafka.to_structured_event(event, key_mapper=_subject_key)
