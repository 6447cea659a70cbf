"""Poison records become dead letters, the partition moves on, and a redrive folds once."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from asyncio.subprocess import PIPE
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from bson.binary import Binary

from tests.support.facts import account_event, at, message
from tests.support.stack import Factview, eventually

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


async def test_each_poison_class_is_dead_lettered_and_the_partition_moves_on(
    factview: Factview,
) -> None:
    a = f"acc-{uuid.uuid4().hex[:8]}"
    classes = poison_classes(a)
    unknown = message(account_event("account.audited", a, at(3), auditor="x"))
    assert isinstance(unknown.value, bytes)
    # good, poison, good, poison, ... and an unknown type in the middle
    records: list[Record] = [deposit(a, 1, "t0", "1.00")]
    for n, (record, _) in enumerate(classes.values(), start=1):
        records += [record, deposit(a, 1 + n, f"t{n}", "1.00")]
        if n == 3:
            records.append((unknown.value, list(unknown.headers.items())))
    before = datetime.now(UTC)
    await produce_records(
        factview.settings.kafka_bootstrap_servers, factview.accounts_topic, a, records
    )

    good = len(classes) + 1
    view = await eventually(
        lambda: account_doc(factview, a), lambda v: v is not None and v["version"] == good
    )
    assert view["balance"] == Decimal("1.00") * good
    assert [t["id"] for t in await rows_of(factview, a)] == [f"t{n}" for n in range(good)]

    letters = await eventually(lambda: letters_for(factview, a), lambda ls: len(ls) == len(classes))
    offsets = [letter["offset"] for letter in letters]
    assert offsets == sorted(set(offsets))
    for (name, ((value, headers), phrase)), letter in zip(classes.items(), letters, strict=True):
        assert phrase in letter["reason"], (name, letter["reason"])
        assert letter["reason"].startswith("PoisonRecord: "), name
        assert bytes(letter["value"]) == value, name
        assert [(h["key"], bytes(h["value"])) for h in letter["headers"]] == headers, name
        assert letter["topic"] == factview.accounts_topic
        assert isinstance(letter["partition"], int)
        assert letter["consumerGroup"] == factview.settings.kafka_group_id
        assert letter["attempts"] == 1
        assert letter["status"] == "pending"
        assert before <= letter["firstSeen"] == letter["lastSeen"] <= datetime.now(UTC)

    # The unknown type is in the log, is no dead letter, and changed no view.
    logged = await factview.runtime.db.events.find_one({"type": "account.audited", "subject": a})
    assert logged is not None and logged["data"]["auditor"] == "x"
    assert view["version"] == good


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


async def test_redrive_after_a_fix_folds_the_event_once(factview: Factview, tmp_path: Path) -> None:
    a = f"acc-{uuid.uuid4().hex[:8]}"
    bad = structured(
        a,
        time="2026-01-01T00:00:02Z",
        data={"accountId": a, "transactionId": "late", "amount": 12.5, "currency": "EUR"},
    )
    records = [deposit(a, 1, "t1", "1.00"), (bad, STRUCTURED), deposit(a, 3, "t3", "2.00")]
    await produce_records(
        factview.settings.kafka_bootstrap_servers, factview.accounts_topic, a, records
    )
    await eventually(
        lambda: account_doc(factview, a), lambda v: v is not None and v["version"] == 2
    )
    [letter] = await eventually(lambda: letters_for(factview, a), lambda ls: len(ls) == 1)

    # Not fixed yet: redrive leaves it pending, one more attempt, the view untouched.
    done = await cli(factview, "redrive", letter["_id"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "redriven: 0, still failing: 1" in done.stdout
    [again] = await letters_for(factview, a)
    assert (again["status"], again["attempts"]) == ("pending", 2)

    listed = await cli(factview, "list", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert letter["_id"] in listed.stdout and "attempts=2" in listed.stdout

    # The fix: an operator repairs the stored record (the producer's float becomes a string).
    fixed = bad.replace(b'"amount": 12.5', b'"amount": "12.50"')
    assert fixed != bad
    await factview.runtime.db.dead_letters.update_one(
        {"_id": letter["_id"]}, {"$set": {"value": Binary(fixed)}}
    )
    done = await cli(factview, "redrive", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "redriven: 1," in done.stdout
    # Idempotent: a second redrive finds nothing to do, and folds nothing.
    done = await cli(factview, "redrive", letter["_id"], cwd=tmp_path)
    assert done.returncode == 0 and "redriven: 0, still failing: 0" in done.stdout

    view = await account_doc(factview, a)
    assert view is not None and view["version"] == 3
    # A late event in business time: it sits between t1 and t3 and shifts t3's balance.
    assert [(t["id"], t["balanceAfter"]) for t in await rows_of(factview, a)] == [
        ("t1", Decimal("1.00")),
        ("late", Decimal("13.50")),
        ("t3", Decimal("15.50")),
    ]
    assert (
        await factview.runtime.db.events.count_documents(
            {"data.transactionId": "late", "subject": a}
        )
        == 1
    )
    [after] = await letters_for(factview, a)
    assert after["status"] == "redriven"
    listed = await cli(factview, "list", "--status", "redriven", cwd=tmp_path)
    assert letter["_id"] in listed.stdout


async def test_two_redrives_at_once_fold_the_letter_once(
    factview: Factview, tmp_path: Path
) -> None:
    a = f"acc-{uuid.uuid4().hex[:8]}"
    data = {"accountId": a, "transactionId": "t2", "amount": 7.5, "currency": "EUR"}
    bad = structured(a, time="2026-01-01T00:00:02Z", data=data)
    records = [deposit(a, 1, "t1", "1.00"), (bad, STRUCTURED)]
    await produce_records(
        factview.settings.kafka_bootstrap_servers, factview.accounts_topic, a, records
    )
    [letter] = await eventually(lambda: letters_for(factview, a), lambda ls: len(ls) == 1)
    await eventually(
        lambda: account_doc(factview, a), lambda v: v is not None and v["version"] == 1
    )
    fixed = bad.replace(b'"amount": 7.5', b'"amount": "7.50"')
    await factview.runtime.db.dead_letters.update_one(
        {"_id": letter["_id"]}, {"$set": {"value": Binary(fixed)}}
    )

    # Two operators redrive the same letter at the same moment: each run's fold and mark share
    # one transaction, so the event is logged and folded once, whoever wins.
    runs = await asyncio.gather(
        *(cli(factview, "redrive", letter["_id"], cwd=tmp_path) for _ in range(2))
    )
    assert all(r.returncode == 0 for r in runs), [r.stderr for r in runs]
    assert any("redriven: 1," in r.stdout for r in runs), [r.stdout for r in runs]
    view = await account_doc(factview, a)
    assert view is not None
    assert (view["version"], view["balance"]) == (2, Decimal("8.50"))
    logged = {"data.transactionId": "t2", "subject": a}
    assert await factview.runtime.db.events.count_documents(logged) == 1
    [after] = await letters_for(factview, a)
    assert after["status"] == "redriven"


async def test_an_unknown_status_is_a_one_line_error(factview: Factview, tmp_path: Path) -> None:
    done = await cli(factview, "list", "--status", "lost", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "factview: unknown status 'lost' (known: pending, redriven, discarded, all)"
    ]
