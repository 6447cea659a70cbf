"""Reading what factview stored back into the oracle's shape: the one place that knows the layout.

Every "equals a fold from scratch" check reads the views through `read_views`, and the events
through `read_log`; a change of how views are stored changes this module only.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from tests.support.oracle import Account, AccountSummary, Customer, Transaction, Views

Document = dict[str, Any]


@dataclass(frozen=True)
class LoggedEvent:
    """An event as the `events` log holds it (satisfies the oracle's `Fact`)."""

    source: str
    id: str
    type: str
    time: datetime
    data: Mapping[str, Any] = field(default_factory=dict)
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None


def _decimal(value: Any) -> Decimal:
    return value.to_decimal() if hasattr(value, "to_decimal") else Decimal(value)


def transaction(row: Mapping[str, Any]) -> Transaction:
    return Transaction(
        id=row["id"],
        kind=row["kind"],
        amount=_decimal(row["amount"]),
        occurredAt=row["occurredAt"],
        balanceAfter=_decimal(row["balanceAfter"]),
        corrected=bool(row["corrected"]),
    )


def account(doc: Mapping[str, Any], rows: list[Mapping[str, Any]]) -> Account:
    """An account document and its transaction rows (in business-time order), in the oracle's
    shape."""
    return Account(
        customerId=doc.get("customerId"),
        currency=doc.get("currency"),
        status=doc["status"],
        balance=_decimal(doc["balance"]),
        version=doc["version"],
        transactionCount=doc["transactionCount"],
        transactions=tuple(transaction(r) for r in rows),
    )


def customer(doc: Mapping[str, Any]) -> Customer:
    return Customer(
        name=doc.get("name"),
        email=doc.get("email"),
        deleted=bool(doc.get("deleted", False)),
        version=doc["version"],
        accounts=tuple(
            AccountSummary(a["id"], a.get("currency"), a["status"], _decimal(a["balance"]))
            for a in doc.get("accounts", [])
        ),
    )


async def read_views(db: AsyncDatabase[Document], prefix: str = "") -> Views:
    """The stored accounts (with their rows in `transactions`) and customers (those whose id
    starts with `prefix`)."""
    pattern = {"$regex": f"^{re.escape(prefix)}"} if prefix else None
    match = {"_id": pattern} if pattern else {}
    rows: dict[str, list[Document]] = defaultdict(list)
    # `pos` is the row's keyset position: business-time order.
    async for row in db.transactions.find({"accountId": pattern} if pattern else {}).sort("pos"):
        rows[row["accountId"]].append(row)
    accounts = {doc["_id"]: account(doc, rows[doc["_id"]]) async for doc in db.accounts.find(match)}
    customers = {doc["_id"]: customer(doc) async for doc in db.customers.find(match)}
    return Views(accounts, customers)


async def read_log(db: AsyncDatabase[Document]) -> list[LoggedEvent]:
    """Every logged event, with its exact time (`timeKey`: BSON dates stop at milliseconds)."""
    return [
        LoggedEvent(
            source=doc["source"],
            id=doc["id"],
            type=doc["type"],
            time=datetime.fromisoformat(doc["timeKey"]),
            data=doc["data"],
            topic=doc.get("topic"),
            partition=doc.get("partition"),
            offset=doc.get("offset"),
        )
        async for doc in db.events.find({})
    ]
