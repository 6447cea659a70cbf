"""A rebuild killed midway leaves the live view as it was; a version bump rebuilds exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from asyncio.subprocess import DEVNULL, PIPE
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from app.runtime import Runtime
from app.store import database, ensure_indexes, make_client
from consumers.document import Document
from consumers.engine import FoldEngine
from consumers.facts import FactEvent
from consumers.projections import PROJECTIONS
from consumers.projections.account import AccountProjection
from consumers.projections.customer import CustomerProjection
from consumers.rebuild import versions
from consumers.rebuild.fence import LOCKS, lock_id
from tests.support import oracle, stored
from tests.support.facts import at
from tests.support.stack import eventually, factview_settings

FACTVIEW = str(Path(sys.executable).with_name("factview"))


def opened(n: int) -> FactEvent:
    a = f"k-a{n:05d}"
    return FactEvent(
        source="accounts",
        id=f"open-{n}",
        type="account.opened",
        subject=a,
        time=at(n),
        data={"accountId": a, "customerId": f"k-c{n % 50}", "currency": "EUR"},
    )


@pytest.fixture
async def db(mongo_uri: str, unique: str) -> AsyncIterator[AsyncDatabase[Document]]:
    client = make_client(mongo_uri)
    database_ = database(client, f"factview_rebuild_{unique}")
    await ensure_indexes(database_)
    yield database_
    await client.drop_database(database_.name)
    await client.close()


async def fill(db: AsyncDatabase[Document], count: int) -> None:
    engine = FoldEngine(db, PROJECTIONS)
    events = [opened(n) for n in range(count)]
    for start in range(0, count, 500):
        await engine.apply(events[start : start + 500])


async def documents(db: AsyncDatabase[Document]) -> dict[str, list[Document]]:
    """The view documents exactly as stored, engine fields included."""
    names = ("accounts", "customers", "transactions")
    return {name: await db[name].find({}).to_list() for name in names}


def rebuild_command(mongo_uri: str, db: AsyncDatabase[Document], *args: str) -> list[str]:
    return [FACTVIEW, "rebuild", "account", "--lock-seconds", "3", *args]


async def run(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str]:
    """Run a factview command to its end: exit code and stderr (where the CLI reports)."""
    proc = await asyncio.create_subprocess_exec(*cmd, env=env, cwd=cwd, stdout=DEVNULL, stderr=PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, err.decode()


def env(mongo_uri: str, db: AsyncDatabase[Document]) -> dict[str, str]:
    # The CLI reads all its settings; auth needs one of its two, though rebuild never uses it.
    return {
        **os.environ,
        "MONGODB_URI": mongo_uri,
        "MONGODB_DATABASE": db.name,
        "AUTH_JWT_SECRET": "rebuild-tests-do-not-authenticate",
    }


async def test_sigkill_mid_rebuild_leaves_the_live_view_and_the_next_rebuild_succeeds(
    db: AsyncDatabase[Document], mongo_uri: str, tmp_path: Path
) -> None:
    await fill(db, 1500)
    before = await documents(db)
    proc = await asyncio.create_subprocess_exec(
        *rebuild_command(mongo_uri, db, "--chunk", "10"),
        env=env(mongo_uri, db),
        cwd=tmp_path,  # no stray .env
        stdout=DEVNULL,
        stderr=PIPE,
    )
    try:

        async def shadow_size() -> int:
            if proc.returncode is not None:
                assert proc.stderr is not None
                pytest.fail(f"rebuild exited early: {(await proc.stderr.read()).decode()}")
            return await db["accounts__rebuild"].count_documents({})

        await eventually(shadow_size, lambda n: n > 0, timeout=30)
        proc.send_signal(signal.SIGKILL)
    finally:
        await asyncio.wait_for(proc.wait(), 10)
    assert proc.returncode == -signal.SIGKILL, "the rebuild finished before it could be killed"
    assert await db["accounts__rebuild"].count_documents({}) < 1500  # it really was midway
    assert await documents(db) == before

    # The dead run left its lock behind. Within its expiry (pinned here, so the check never
    # races the 3 s lifetime) a new run is refused in one line.
    held = {"_id": lock_id("accounts")}
    lock = await db[LOCKS].find_one(held)
    assert lock is not None and lock["phase"] == "rebuilding", lock
    await db[LOCKS].update_one(
        held, {"$set": {"expiresAt": datetime.now(UTC) + timedelta(seconds=60)}}
    )
    code, err = await run(rebuild_command(mongo_uri, db), env(mongo_uri, db), tmp_path)
    assert code == 1, err
    assert err.strip().count("\n") == 0, err
    assert "already being rebuilt" in err

    # Once the lock lapses, the next run drops the stale shadow and succeeds.
    await db[LOCKS].update_one(held, {"$set": {"expiresAt": datetime.now(UTC)}})
    code, err = await run(rebuild_command(mongo_uri, db), env(mongo_uri, db), tmp_path)
    assert code == 0, err
    assert "rebuilt account: 1500 documents" in err, err
    assert "accounts__rebuild" not in await db.list_collection_names()
    expected = oracle.views(await stored.read_log(db))
    assert oracle.differences(expected, await stored.read_views(db)) == []


async def test_a_projection_version_bump_triggers_exactly_one_automatic_rebuild(
    db: AsyncDatabase[Document],
    mongo_uri: str,
    kafka_bootstrap: str,
    unique: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await fill(db, 40)
    for projection in PROJECTIONS:
        await versions.record(db, projection, PROJECTIONS, rebuilt=False)
    settings = factview_settings(kafka_bootstrap, mongo_uri, unique, mongodb_database=db.name)
    # A fold bug fixed in version 2: the old documents are wrong (and must be replaced).
    await db.accounts.update_many({}, {"$set": {"balance": "wrong"}})
    bumped = AccountProjection.version + 1
    monkeypatch.setattr(AccountProjection, "version", bumped)

    # Two processes start at once; both see the bump.
    first, second = await asyncio.gather(
        Runtime.start(settings, PROJECTIONS, consume=False),
        Runtime.start(settings, PROJECTIONS, consume=False),
    )
    try:
        for runtime in (first, second):
            assert runtime.rebuild_task is not None
            await asyncio.wait_for(asyncio.shield(runtime.rebuild_task), 30)
        assert first.rebuilding == set() and second.rebuilding == set()
    finally:
        await first.stop()
        await second.stop()
    account = await db[versions.VIEW_VERSIONS].find_one({"_id": "account"})
    customer = await db[versions.VIEW_VERSIONS].find_one({"_id": "customer"})
    assert account is not None and customer is not None
    assert (account["versions"], account["rebuilds"]) == ({"account": bumped}, 1)
    # The Customer view embeds account balances, so it was rebuilt once too.
    assert (customer["versions"], customer["rebuilds"]) == (
        {"customer": CustomerProjection.version, "account": bumped},
        1,
    )
    assert await db.accounts.count_documents({"balance": "wrong"}) == 0

    # A restart on the same version rebuilds nothing.
    again = await Runtime.start(settings, PROJECTIONS, consume=False)
    try:
        assert again.rebuild_task is not None
        await asyncio.wait_for(asyncio.shield(again.rebuild_task), 30)
    finally:
        await again.stop()
    account = await db[versions.VIEW_VERSIONS].find_one({"_id": "account"})
    assert account is not None and account["rebuilds"] == 1


async def test_a_database_with_embedded_transactions_migrates_to_rows_on_start(
    db: AsyncDatabase[Document], mongo_uri: str, kafka_bootstrap: str, unique: str
) -> None:
    await fill(db, 40)
    movements = [
        FactEvent(
            "accounts",
            f"dep-{n}-{i}",
            "account.deposited",
            f"k-a{n:05d}",
            at(100 + i),
            {
                "accountId": f"k-a{n:05d}",
                "transactionId": f"t{i}",
                "amount": "2.50",
                "currency": "EUR",
            },
        )
        for n in range(40)
        for i in range(3)
    ]
    await FoldEngine(db, PROJECTIONS).apply(movements)
    # What version 1 of the account view stored: every transaction inside its account
    # document, no rows, and the versions it was folded with.
    async for row in db.transactions.find({}).sort("pos", 1):
        old = {
            k: row[k] for k in ("id", "kind", "amount", "occurredAt", "balanceAfter", "corrected")
        }
        await db.accounts.update_one({"_id": row["accountId"]}, {"$push": {"transactions": old}})
    await db.transactions.drop()
    for name, signature in (
        ("account", {"account": 1}),
        ("customer", {"customer": 1, "account": 1}),
    ):
        await db[versions.VIEW_VERSIONS].update_one(
            {"_id": name}, {"$set": {"versions": signature}}, upsert=True
        )
    assert await db.accounts.count_documents({"transactions": {"$exists": True}}) > 0

    settings = factview_settings(kafka_bootstrap, mongo_uri, unique, mongodb_database=db.name)
    runtime = await Runtime.start(settings, PROJECTIONS, consume=False)
    try:
        assert runtime.rebuild_task is not None
        await asyncio.wait_for(asyncio.shield(runtime.rebuild_task), 60)
    finally:
        await runtime.stop()
    assert await db.accounts.count_documents({"transactions": {"$exists": True}}) == 0
    expected = oracle.views(await stored.read_log(db))
    assert oracle.differences(expected, await stored.read_views(db)) == []
    recorded = await db[versions.VIEW_VERSIONS].find_one({"_id": "account"})
    assert recorded is not None and recorded["versions"] == {"account": AccountProjection.version}
