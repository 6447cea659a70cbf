"""`factview tail TOPIC`: a topic's records as JSON lines, to watch facts flow down a chain."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import typer
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaConnectionError

from app.cli.command import load_settings, reads, run
from app.settings import Settings
from consumers.runner import BrokerUnavailable

commands = typer.Typer()


@commands.command(
    help="Print a topic's records as JSON lines (key, partition, offset, event): watch a chain."
    f"\n\n{reads('KAFKA_BOOTSTRAP_SERVERS and STARTUP_TIMEOUT_SECONDS')}"
)
def tail(
    topic: str = typer.Argument(
        ..., metavar="TOPIC", help="The topic to read, e.g. PUBLISH_TOPIC's."
    ),
    from_beginning: bool = typer.Option(True, help="Start at the oldest record, else the newest."),
    count: int = typer.Option(
        0, min=0, metavar="N", help="Stop after this many records (0: follow)."
    ),
    idle: float = typer.Option(
        0.0, min=0, metavar="SECONDS", help="Stop after this many seconds with nothing new."
    ),
) -> None:
    settings = load_settings()
    run(_tail(settings, topic, from_beginning, count, idle))


async def _tail(
    settings: Settings, topic: str, from_beginning: bool, count: int, idle: float
) -> None:
    async for line in records(
        settings.kafka_bootstrap_servers,
        topic,
        from_beginning=from_beginning,
        count=count,
        idle=idle,
        startup_timeout=settings.startup_timeout_seconds,
    ):
        typer.echo(line)


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
