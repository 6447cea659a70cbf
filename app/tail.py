"""`factview tail TOPIC`: a topic's records as JSON lines, to watch facts flow down a chain."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaConnectionError

from consumers.runner import BrokerUnavailable


async def records(
    bootstrap_servers: str,
    topic: str,
    *,
    from_beginning: bool = True,
    count: int = 0,
    idle: float = 0.0,
    startup_timeout: float = 20.0,
) -> AsyncIterator[str]:
    """One line per record: key, partition, offset and the value (JSON when it is JSON).

    Reads without a consumer group, so it commits nothing and disturbs no one. Stops after
    `count` records or `idle` seconds with nothing new (0: never).
    """
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest" if from_beginning else "latest",
        request_timeout_ms=int(startup_timeout * 1000),
    )
    try:
        await consumer.start()
    except KafkaConnectionError as exc:
        await consumer.stop()
        raise BrokerUnavailable(f"Kafka at {bootstrap_servers} is unreachable: {exc}") from exc
    seen = 0
    last = time.monotonic()
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=200)
            got = [r for rs in batch.values() for r in rs]
            if not got and idle and time.monotonic() - last >= idle:
                return
            for record in got:
                last = time.monotonic()
                yield json.dumps(
                    {
                        "key": record.key.decode(errors="replace") if record.key else None,
                        "partition": record.partition,
                        "offset": record.offset,
                        "value": _value(record.value),
                    }
                )
                seen += 1
                if count and seen >= count:
                    return
    finally:
        await consumer.stop()


def _value(raw: bytes | None) -> object:
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")
