"""The accounts owner's fold: state from its events, the same with snapshots as without."""

from __future__ import annotations

import json
import random
from decimal import Decimal
from pathlib import Path

from upstream import owner
from upstream.account_events import (
    CLOSED,
    SCHEMA,
    SNAPSHOT_EVERY,
    Account,
    AccountEventLog,
    evolve,
    load,
)
from upstream.database import Database
from upstream.events import ACCOUNTS_SOURCE, fact


def test_the_article_account_folds_to_its_balance() -> None:
    # Deposit 10, withdraw 3: 7. The deposit really was 12: 9. Then closed.
    steps = [
        ("account.opened", {"accountId": "a", "customerId": "c", "currency": "EUR"}),
        ("account.deposited", {"accountId": "a", "transactionId": "t1", "amount": "10.00"}),
        ("account.withdrawn", {"accountId": "a", "transactionId": "t2", "amount": "3.00"}),
    ]
    account = Account("a")
    for type_, data in steps:
        account = evolve(account, type_, data)
    assert (account.balance, account.version) == (Decimal("7.00"), 3)
    account = evolve(
        account,
        "account.transaction-corrected",
        {"accountId": "a", "transactionId": "t1", "amount": "12.00"},
    )
    account = evolve(account, "account.closed", {"accountId": "a"})
    assert (account.balance, account.status, account.version) == (Decimal("9.00"), CLOSED, 5)
    assert [t.corrected for t in account.transactions.values()] == [True, False]


def test_state_from_a_snapshot_equals_the_fold_of_every_event(tmp_path: Path) -> None:
    database = Database(str(tmp_path / "a.db"), owner.schema(SCHEMA, outbox_table=False))
    database.initialize()
    events = AccountEventLog(database)
    rng = random.Random(5)

    def command(type_: str, **data: str) -> None:
        with database.write() as conn:
            load(conn, "a", snapshot=True)  # what a command does before it decides
            events.append(conn, fact(ACCOUNTS_SOURCE, type_, "a", {"accountId": "a", **data}))

    command("account.opened", customerId="c", currency="EUR")
    for n in range(SNAPSHOT_EVERY * 2 + 17):
        command("account.deposited", transactionId=f"t{n}", amount=f"{rng.randrange(1, 999)}.00")
        if n % 7 == 3:
            command("account.transaction-corrected", transactionId=f"t{n - 1}", amount="1.50")

    with database.read() as conn:
        snapshots = conn.execute("SELECT version FROM account_snapshots").fetchall()
        rows = conn.execute("SELECT type, data FROM account_events ORDER BY version").fetchall()
        from_snapshot = load(conn, "a")
    assert snapshots and snapshots[0]["version"] >= SNAPSHOT_EVERY  # a snapshot was taken
    full = Account("a")
    for row in rows:
        full = evolve(full, row["type"], json.loads(row["data"]))
    assert from_snapshot == full
    assert from_snapshot.version == len(rows)
