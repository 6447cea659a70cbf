"""Poison records become dead letters, the partition moves on, and a redrive folds once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from bson.binary import Binary

from tests.support.dead_letters import (
    STRUCTURED,
    Record,
    account_doc,
    cli,
    deposit,
    letters_for,
    poison_classes,
    produce_records,
    rows_of,
    structured,
)
from tests.support.facts import account_event, at, message
from tests.support.stack import Factview, eventually


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
