"""The event-sourced accounts owner killed between its writes and its relay: its event table is
its outbox, so a restart publishes every fact it accepted, each account's in write order, and
its commands are still checked against the state its events fold to."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import uuid
from collections import defaultdict
from pathlib import Path

import httpx

from app.auth import mint_token
from app.devstack.embedded import free_port
from app.devstack.topics import ensure_topics
from tests.conftest import LOG_DIR
from tests.support.stack import TEST_JWT_SECRET, eventually
from tests.support.topics import from_the_start
from upstream.account_events import SNAPSHOT_EVERY

FACTVIEW = str(Path(sys.executable).with_name("factview"))


STAFF = {
    "Authorization": "Bearer "
    + mint_token(
        TEST_JWT_SECRET, subject="ops", role="staff", audience="factview", issuer="factview"
    )
}


class OwnerProcess:
    """`factview owner accounts` as its own process, on one SQLite file across lives."""

    def __init__(self, db_path: Path, topic: str, log: Path) -> None:
        self.db_path, self.topic, self.log = db_path, topic, log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def spawn(self, bootstrap: str) -> None:
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "OWNER_DATABASE_PATH": str(self.db_path),
            "OWNER_TOPIC": self.topic,
            # Owners verify every caller's token: the same secret the tests sign with.
            "AUTH_JWT_SECRET": TEST_JWT_SECRET,
        }
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [FACTVIEW, "owner", "accounts", "--port", str(self.port)],
                env=env,
                stdout=out,
                stderr=out,
            )

    async def start(self, bootstrap: str) -> None:
        self.spawn(bootstrap)

        async def answers() -> bool:
            try:
                async with httpx.AsyncClient(base_url=self.url, headers=STAFF) as http:
                    return (await http.get("/accounts/none")).status_code == 404
            except httpx.TransportError:
                return False

        await eventually(answers, bool, timeout=30)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def events(self, unsent_only: bool = False) -> list[tuple[str, str]]:
        """(account, event id) in the order the owner appended them."""
        where = " WHERE sent_at IS NULL" if unsent_only else ""
        with sqlite3.connect(self.db_path) as conn:
            query = f"SELECT account_id, event_id FROM account_events{where} ORDER BY seq"
            return [(a, e) for a, e in conn.execute(query)]


async def life_without_a_broker(owner: OwnerProcess) -> tuple[list[str], list[str]]:
    """Life 1: no broker at all. Writes are accepted; nothing can be published. The accounts
    opened, and the fact ids the owner answered with, in answer order."""
    accepted: list[str] = []
    await owner.start(f"127.0.0.1:{free_port()}")
    async with httpx.AsyncClient(base_url=owner.url, timeout=10, headers=STAFF) as http:
        ids = []
        for _ in range(3):
            opened = await http.post("/accounts", json={"customerId": "c", "currency": "EUR"})
            ids.append(opened.json()["accountId"])
            accepted += opened.json()["factIds"]
        first = f"/accounts/{ids[0]}"
        deposit = await http.post(f"{first}/deposits", json={"amount": "10.00"})
        withdrawal = await http.post(f"{first}/withdrawals", json={"amount": "3.00"})
        tx = deposit.json()["transactionId"]
        corrected = await http.post(
            f"{first}/transactions/{tx}/correction", json={"amount": "12.00"}
        )
        closed = await http.post(f"/accounts/{ids[2]}/close")
        for response in (deposit, withdrawal, corrected, closed):
            assert response.status_code in (200, 201), response.text
            accepted += response.json()["factIds"]
    owner.kill()
    return ids, accepted


async def life_with_a_burst(owner: OwnerProcess, bootstrap: str, account_id: str) -> list[str]:
    """Life 2: the broker is there. A burst on one account (enough for a snapshot), killed while
    the relay is publishing. The fact ids the owner answered with."""
    accepted: list[str] = []
    await owner.start(bootstrap)
    async with httpx.AsyncClient(base_url=owner.url, timeout=10, headers=STAFF) as http:
        burst = [
            http.post(f"/accounts/{account_id}/deposits", json={"amount": "1.00"})
            for _ in range(SNAPSHOT_EVERY + 10)
        ]
        for response in await asyncio.gather(*burst):
            assert response.status_code == 201, response.text
            accepted += response.json()["factIds"]
    owner.kill()  # at once: usually mid-relay, whatever the relay had reached
    return accepted


async def assert_commands_are_checked_on_folded_state(owner: OwnerProcess, ids: list[str]) -> None:
    """Life 3: state is folded from the events (and the snapshot), commands checked on it."""
    first = f"/accounts/{ids[0]}"
    async with httpx.AsyncClient(base_url=owner.url, timeout=10, headers=STAFF) as http:
        account = (await http.get(first)).json()
        assert (account["balance"], account["status"]) == ("9.00", "OPEN")
        assert [t["corrected"] for t in account["transactions"]] == [True, False]
        burst_balance = f"{SNAPSHOT_EVERY + 10}.00"
        assert (await http.get(f"/accounts/{ids[1]}")).json()["balance"] == burst_balance
        overdraft = await http.post(f"{first}/withdrawals", json={"amount": "9.01"})
        assert overdraft.json()["error"]["code"] == "insufficient_funds"
        refused = await http.post(f"/accounts/{ids[2]}/deposits", json={"amount": "1.00"})
        assert refused.json()["error"]["code"] == "account_closed"
    with sqlite3.connect(owner.db_path) as conn:
        snapshots = conn.execute("SELECT account_id, version FROM account_snapshots")
        assert [a for a, _ in snapshots] == [ids[1]]


async def arrived_on(bootstrap: str, topic: str, accepted: list[str]) -> list[tuple[str, str]]:
    """(account, event id) as they arrive on the topic, until every accepted fact has."""
    arrived: list[tuple[str, str]] = []
    async with from_the_start(bootstrap, topic) as consumer:

        async def published() -> set[str]:
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                for record in batch:
                    event = json.loads(record.value)
                    arrived.append((record.key.decode(), event["id"]))
            return {e for _, e in arrived}

        await eventually(published, lambda seen: seen >= set(accepted), timeout=30)
    return arrived


def first_seen(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Each account's event ids in the order they first arrived."""
    ordered: dict[str, list[str]] = defaultdict(list)
    for account_id, event_id in pairs:
        if event_id not in ordered[account_id]:
            ordered[account_id].append(event_id)
    return ordered


async def test_a_crash_between_write_and_relay_loses_nothing_and_keeps_order(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    unique = uuid.uuid4().hex[:10]
    topic = f"accounts.facts.{unique}"
    await ensure_topics(kafka_bootstrap, [topic])
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    owner = OwnerProcess(tmp_path / "accounts.db", topic, LOG_DIR / f"owner-{unique}.log")
    try:
        ids, accepted = await life_without_a_broker(owner)
        # Every accepted fact is in the write model, none was sent: the table is the outbox.
        assert [e for _, e in owner.events(unsent_only=True)] == accepted
        accepted += await life_with_a_burst(owner, kafka_bootstrap, ids[1])
        await owner.start(kafka_bootstrap)
        await assert_commands_are_checked_on_folded_state(owner, ids)
        written = owner.events()
        # Refused commands appended nothing (the burst's answers came back in any order).
        assert sorted(e for _, e in written) == sorted(accepted)
        arrived = await arrived_on(kafka_bootstrap, topic, accepted)
    finally:
        owner.stop()

    # Nothing lost, nothing invented; each account's facts first arrive in write order
    # (a fact sent before a kill may come again: the same id, which consumers dedupe).
    assert {e for _, e in arrived} == set(accepted)
    expected: dict[str, list[str]] = defaultdict(list)
    for account_id, event_id in written:
        expected[account_id].append(event_id)
    assert first_seen(arrived) == expected
