"""Building and producing CloudEvents for tests, with the cloudevents SDK and a real producer."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaProducer
from cloudevents.core.bindings import kafka
from cloudevents.core.v1.event import CloudEvent

from consumers.decoding import RawRecord

BASE_TIME = datetime(2026, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return BASE_TIME + timedelta(seconds=seconds)


def cloud_event(
    source: str,
    type_: str,
    subject: str,
    data: dict[str, Any],
    time: datetime,
    id_: str | None = None,
    dataschema: str | None = None,
) -> CloudEvent:
    attributes: dict[str, Any] = {
        "id": id_ or uuid.uuid4().hex,
        "source": source,
        "type": type_,
        "subject": subject,
        "time": time,
        "datacontenttype": "application/json",
    }
    if dataschema is not None:
        attributes["dataschema"] = dataschema
    return CloudEvent(attributes=attributes, data=data)


def account_event(
    type_: str,
    account_id: str,
    time: datetime,
    id_: str | None = None,
    dataschema: str | None = None,
    **data: Any,
) -> CloudEvent:
    return cloud_event(
        "accounts", type_, account_id, {"accountId": account_id, **data}, time, id_, dataschema
    )


def customer_event(
    type_: str, customer_id: str, time: datetime, id_: str | None = None, **data: Any
) -> CloudEvent:
    return cloud_event(
        "customers", type_, customer_id, {"customerId": customer_id, **data}, time, id_
    )


def message(event: CloudEvent, binary: bool = False) -> kafka.KafkaMessage:
    msg = kafka.to_binary_event(event) if binary else kafka.to_structured_event(event)
    return kafka.KafkaMessage(
        headers=msg.headers, key=str(event.get_subject()).encode(), value=msg.value
    )


def raw(event: CloudEvent, binary: bool = False, topic: str = "t", offset: int = 0) -> RawRecord:
    msg = message(event, binary)
    key = msg.key.encode() if isinstance(msg.key, str) else msg.key
    return RawRecord(topic, 0, offset, key, msg.value, tuple(msg.headers.items()))


async def produce(
    bootstrap: str, topic: str, events: list[CloudEvent], binary: bool = False
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for event in events:
            msg = message(event, binary)
            key = msg.key.encode() if isinstance(msg.key, str) else msg.key
            await producer.send_and_wait(
                topic, msg.value, key=key, headers=list(msg.headers.items())
            )
    finally:
        await producer.stop()
