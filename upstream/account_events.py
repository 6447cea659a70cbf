"""The accounts owner's event store: its write model and its outbox are one table.

Every command appends Fact Events to `account_events`; an account's state is nothing but the
fold of its events (from its latest snapshot on). The relay publishes the rows it has not sent
yet, in `seq` order, straight from this table: there is no second copy of a fact to keep in
step, so "the state changed" and "the fact will be published" are one and the same row.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.v1.event import CloudEvent

from upstream.database import Database
from upstream.events import ACCOUNTS_SOURCE, _Instant, to_kafka
from upstream.outbox import OutboxRow

OPEN = "OPEN"
CLOSED = "CLOSED"
DEPOSIT = "DEPOSIT"
WITHDRAWAL = "WITHDRAWAL"
ZERO = Decimal("0.00")
# A command folds at most this many events past the latest snapshot before it writes a new one.
SNAPSHOT_EVERY = 100

SCHEMA = """
CREATE TABLE IF NOT EXISTS account_events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,  -- the order facts are published in
    event_id   TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL,
    version    INTEGER NOT NULL,                   -- the event's place in its account's stream
    type       TEXT NOT NULL,
    time       TEXT NOT NULL,
    data       TEXT NOT NULL,                      -- JSON; money as decimal strings
    sent_at    TEXT,
    UNIQUE (account_id, version)
);
CREATE INDEX IF NOT EXISTS account_events_unsent ON account_events (seq) WHERE sent_at IS NULL;
CREATE TABLE IF NOT EXISTS account_snapshots (
    account_id TEXT PRIMARY KEY,
    version    INTEGER NOT NULL,
    state      TEXT NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class Transaction:
    kind: str
    amount: Decimal
    corrected: bool = False

    @property
    def signed(self) -> Decimal:
        return self.amount if self.kind == DEPOSIT else -self.amount


@dataclass(frozen=True)
class Account:
    """An account as its events made it. `version` counts them."""

    id: str
    customer_id: str = ""
    currency: str = ""
    status: str = OPEN
    # Insertion order is the order the movements happened.
    transactions: dict[str, Transaction] = field(default_factory=dict)
    version: int = 0

    @property
    def balance(self) -> Decimal:
        return sum((t.signed for t in self.transactions.values()), ZERO)


def evolve(account: Account, type_: str, data: dict[str, Any]) -> Account:
    """The account after one of its events (pure; unknown types change nothing but the version)."""
    account = replace(account, version=account.version + 1)
    if type_ == "account.opened":
        return replace(account, customer_id=data["customerId"], currency=data["currency"])
    if type_ in ("account.deposited", "account.withdrawn"):
        kind = DEPOSIT if type_ == "account.deposited" else WITHDRAWAL
        movement = Transaction(kind, Decimal(data["amount"]))
        return replace(
            account, transactions={**account.transactions, data["transactionId"]: movement}
        )
    if type_ == "account.transaction-corrected":
        old = account.transactions[data["transactionId"]]
        fixed = Transaction(old.kind, Decimal(data["amount"]), corrected=True)
        return replace(account, transactions={**account.transactions, data["transactionId"]: fixed})
    if type_ == "account.closed":
        return replace(account, status=CLOSED)
    return account


def _snapshot(account: Account) -> str:
    return json.dumps(
        {
            "customerId": account.customer_id,
            "currency": account.currency,
            "status": account.status,
            "transactions": [
                [tx_id, t.kind, str(t.amount), t.corrected]
                for tx_id, t in account.transactions.items()
            ],
        }
    )


def _from_snapshot(account_id: str, version: int, raw: str) -> Account:
    state = json.loads(raw)
    return Account(
        id=account_id,
        customer_id=state["customerId"],
        currency=state["currency"],
        status=state["status"],
        transactions={
            tx_id: Transaction(kind, Decimal(amount), corrected)
            for tx_id, kind, amount, corrected in state["transactions"]
        },
        version=version,
    )


def load(conn: sqlite3.Connection, account_id: str, *, snapshot: bool = False) -> Account | None:
    """The account folded from its latest snapshot and the events after it; None if unknown.

    With `snapshot` (inside a write transaction) a long tail is folded into a new snapshot, so
    the next command starts from there.
    """
    row = conn.execute(
        "SELECT version, state FROM account_snapshots WHERE account_id = ?", (account_id,)
    ).fetchone()
    account = _from_snapshot(account_id, row["version"], row["state"]) if row else None
    tail = conn.execute(
        "SELECT version, type, data FROM account_events WHERE account_id = ? AND version > ?"
        " ORDER BY version",
        (account_id, account.version if account else 0),
    ).fetchall()
    for event in tail:
        account = evolve(account or Account(account_id), event["type"], json.loads(event["data"]))
    if snapshot and account is not None and len(tail) >= SNAPSHOT_EVERY:
        conn.execute(
            "INSERT OR REPLACE INTO account_snapshots (account_id, version, state)"
            " VALUES (?, ?, ?)",
            (account_id, account.version, _snapshot(account)),
        )
    return account


def _time(event: BaseCloudEvent) -> str:
    moment = event.get_time()
    assert moment is not None, "a fact always carries its time"
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


class AccountEventLog:
    """The event table seen as an outbox: append in the command's transaction, relay the rest."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def append(self, conn: sqlite3.Connection, event: BaseCloudEvent) -> None:
        account_id = event.get_subject()
        if not account_id:
            raise ValueError(f"fact {event.get_id()} has no subject to key it by")
        # Under the command's write lock, so the next version is ours; UNIQUE makes sure of it.
        (last,) = conn.execute(
            "SELECT COALESCE(MAX(version), 0) FROM account_events WHERE account_id = ?",
            (account_id,),
        ).fetchone()
        conn.execute(
            "INSERT INTO account_events (event_id, account_id, version, type, time, data)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                event.get_id(),
                account_id,
                last + 1,
                event.get_type(),
                _time(event),
                json.dumps(event.get_data()),
            ),
        )

    def pending(self, limit: int) -> list[OutboxRow]:
        with self.database.read() as conn:
            rows = conn.execute(
                "SELECT seq, event_id, account_id, type, time, data FROM account_events"
                " WHERE sent_at IS NULL ORDER BY seq LIMIT ?",
                (limit,),
            ).fetchall()
        return [_record(row) for row in rows]

    def mark_sent(self, seqs: list[int]) -> None:
        sent_at = datetime.now(UTC).isoformat()
        with self.database.write() as conn:
            conn.executemany(
                "UPDATE account_events SET sent_at = ? WHERE seq = ?", [(sent_at, s) for s in seqs]
            )


def _record(row: sqlite3.Row) -> OutboxRow:
    """The stored event as the Fact Event it is: CloudEvents structured mode, key = account."""
    event = CloudEvent(
        attributes={
            "id": row["event_id"],
            "source": ACCOUNTS_SOURCE,
            "type": row["type"],
            "subject": row["account_id"],
            "time": _Instant.fromisoformat(row["time"]),
            "datacontenttype": "application/json",
        },
        data=json.loads(row["data"]),
    )
    message = to_kafka(event)
    return OutboxRow(
        seq=row["seq"],
        key=row["account_id"].encode(),
        headers=list(message.headers.items()),
        value=message.value,
    )
