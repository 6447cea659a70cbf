"""Poison records and what to read back of them: the catalogue of poison classes, good deposits
around them on one partition, the dead letters and the account they touch, and `factview
dead-letters` as a real process."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from asyncio.subprocess import PIPE
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from bson.binary import Binary

from tests.support.facts import account_event, at, message
from tests.support.stack import Factview

FACTVIEW = str(Path(sys.executable).with_name("factview"))
STRUCTURED = [("content-type", b"application/cloudevents+json")]

Record = tuple[bytes, list[tuple[str, bytes]]]


def structured(account_id: str, drop: str | None = None, **changes: Any) -> bytes:
    """A structured-mode deposit for `account_id`, with attributes changed or dropped."""
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": uuid.uuid4().hex,
        "source": "accounts",
        "type": "account.deposited",
        "subject": account_id,
        "time": "2026-01-01T00:00:05Z",
        "datacontenttype": "application/json",
        "data": {
            "accountId": account_id,
            "transactionId": "poison",
            "amount": "1.00",
            "currency": "EUR",
        },
    }
    event.update(changes)
    if drop is not None:
        del event[drop]
    return json.dumps(event).encode()


def poison_classes(a: str) -> dict[str, tuple[Record, str]]:
    """Each poison class: the record, and a phrase its dead letter's reason must contain."""

    def data(**fields: Any) -> dict[str, Any]:
        return {"accountId": a, "transactionId": "p", "currency": "EUR", **fields}

    return {
        "undecodable bytes": ((b"\xff\xfe\x00\x81garbage", STRUCTURED), "UnicodeDecodeError"),
        "JSON that is not a CloudEvent": ((b'{"hello": "world"}', STRUCTURED), "not a CloudEvent"),
        "missing id": ((structured(a, drop="id"), STRUCTURED), "missing required attributes: id"),
        "missing source": ((structured(a, drop="source"), STRUCTURED), "source"),
        "missing time": ((structured(a, drop="time"), STRUCTURED), "attributes: time"),
        "missing type": ((structured(a, drop="type"), STRUCTURED), "attributes: type"),
        "unknown specversion": (
            (structured(a, specversion="0.3"), STRUCTURED),
            "unsupported specversion '0.3'",
        ),
        "bad time": ((structured(a, time="yesterday"), STRUCTURED), "ValueError"),
        "time without offset": ((structured(a, time="2026-01-01T00:00:05"), STRUCTURED), "time"),
        "amount as a float": (
            (structured(a, data=data(amount=1.5)), STRUCTURED),
            "amount must be a decimal string",
        ),
        "amount not a number": (
            (structured(a, data=data(amount="ten")), STRUCTURED),
            "is not a decimal number",
        ),
        "negative amount": ((structured(a, data=data(amount="-3.00")), STRUCTURED), "negative"),
        "missing ids": (
            (structured(a, data={"amount": "1.00", "currency": "EUR"}), STRUCTURED),
            "transactionId: Field required",
        ),
        "wrong types": (
            (
                structured(
                    a, type="account.opened", data={"accountId": a, "customerId": 7, "currency": 1}
                ),
                STRUCTURED,
            ),
            "customerId: Input should be a valid string",
        ),
        "binary mode without id": (
            (
                json.dumps(data(amount="1.00")).encode(),
                [
                    ("ce_specversion", b"1.0"),
                    ("ce_source", b"accounts"),
                    ("ce_type", b"account.deposited"),
                    ("ce_time", b"2026-01-01T00:00:05Z"),
                    ("content-type", b"application/json"),
                ],
            ),
            "missing required attributes: id",
        ),
    }


def deposit(a: str, seconds: int, tx: str, amount: str) -> Record:
    msg = message(
        account_event(
            "account.deposited", a, at(seconds), transactionId=tx, amount=amount, currency="EUR"
        )
    )
    assert isinstance(msg.value, bytes)
    return msg.value, list(msg.headers.items())


async def produce_records(bootstrap: str, topic: str, key: str, records: list[Record]) -> None:
    # One key, so one partition: the poison sits between good events in offset order.
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for value, headers in records:
            await producer.send_and_wait(topic, value, key=key.encode(), headers=headers)
    finally:
        await producer.stop()


async def letters_for(fv: Factview, key: str) -> list[dict[str, Any]]:
    cursor = fv.runtime.db.dead_letters.find({"key": Binary(key.encode())}).sort("offset", 1)
    return [doc async for doc in cursor]


async def account_doc(fv: Factview, a: str) -> dict[str, Any] | None:
    doc: dict[str, Any] | None = await fv.runtime.db.accounts.find_one({"_id": a})
    return doc


async def rows_of(fv: Factview, a: str) -> list[dict[str, Any]]:
    """The account's transaction rows in business-time order."""
    return [r async for r in fv.runtime.db.transactions.find({"accountId": a}).sort("pos", 1)]


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


async def cli(fv: Factview, *args: str, cwd: Path) -> Ran:
    """`factview dead-letters ...` as a real process, without blocking the consumer's loop."""
    s = fv.settings
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": s.kafka_bootstrap_servers,
        # JSON, as the comma form of KAFKA_TOPICS does not parse (pydantic-settings decodes first)
        "KAFKA_TOPICS": json.dumps(s.kafka_topics),
        "KAFKA_GROUP_ID": s.kafka_group_id,
        "MONGODB_URI": s.mongodb_uri,
        "MONGODB_DATABASE": s.mongodb_database,
    }
    # cwd away from the repository, so no .env there can change the settings
    process = await asyncio.create_subprocess_exec(
        FACTVIEW, "dead-letters", *args, env=env, cwd=cwd, stdout=PIPE, stderr=PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return Ran(process.returncode, out.decode(), err.decode())
