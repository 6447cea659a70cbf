"""A reference fold of the contract's views, written from CONTRACT.md alone.

It imports nothing from `consumers/` or `app/`: the engine's handlers, sort key and fold are
what it checks, so it must not share them. It is deliberately plain (whole histories, sorted
once, no incremental state) so a reader can check it against the contract line by line:

- events are deduplicated on (source, id) and taken in (time, source, id) order;
- balance = deposits - withdrawals, a transaction's amount being the one of its latest
  correction in time order, whether that correction came before or after it;
- transactions in that order, each with the running balance after it (balanceAfter);
- version = distinct events folded into the document;
- a customer embeds a summary of each account that names it, and exists as soon as its own
  facts or one of its accounts names it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

ZERO = Decimal("0.00")
ACCOUNT_TYPES = {
    "account.opened",
    "account.deposited",
    "account.withdrawn",
    "account.transaction-corrected",
    "account.closed",
}
CUSTOMER_TYPES = {"customer.registered", "customer.updated", "customer.deleted"}
KINDS = {"account.deposited": "DEPOSIT", "account.withdrawn": "WITHDRAWAL"}


class Fact(Protocol):
    """What the oracle reads of an event (a FactEvent, or one read back from the log)."""

    @property
    def source(self) -> str: ...
    @property
    def id(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def time(self) -> datetime: ...
    @property
    def data(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class Transaction:
    id: str
    kind: str
    amount: Decimal
    occurredAt: datetime
    balanceAfter: Decimal
    corrected: bool


@dataclass(frozen=True)
class Account:
    customerId: str | None
    currency: str | None
    status: str
    balance: Decimal
    version: int
    transactionCount: int
    transactions: tuple[Transaction, ...]


@dataclass(frozen=True)
class AccountSummary:
    id: str
    currency: str | None
    status: str
    balance: Decimal


@dataclass(frozen=True)
class Customer:
    name: str | None
    email: str | None
    deleted: bool
    version: int
    accounts: tuple[AccountSummary, ...]


@dataclass(frozen=True)
class Views:
    accounts: dict[str, Account]
    customers: dict[str, Customer]


def stored_instant(moment: datetime) -> datetime:
    """The instant as a BSON date keeps it: UTC, to the millisecond."""
    utc = moment.astimezone(UTC)
    return utc.replace(microsecond=utc.microsecond // 1000 * 1000)


def _order(event: Fact) -> tuple[datetime, str, str]:
    return (event.time.astimezone(UTC), event.source, event.id)


def _key(event: Fact, field: str) -> str | None:
    value = event.data.get(field)
    return value if isinstance(value, str) and value else None


def _amount(data: Mapping[str, Any]) -> Decimal:
    # Version 2 carries {"value", "currency"}; both versions fold alike.
    raw = data["amount"]
    return Decimal(raw["value"] if isinstance(raw, Mapping) else raw)


def _currency(data: Mapping[str, Any]) -> str | None:
    raw = data.get("amount")
    if isinstance(raw, Mapping):
        return str(raw.get("currency")) if raw.get("currency") else None
    value = data.get("currency")
    return value if isinstance(value, str) else None


def account(events: list[Fact]) -> Account:
    """One account from all of its events (deduplicated, any order)."""
    ordered = sorted(events, key=_order)
    opened = [e for e in ordered if e.type == "account.opened"]
    movements = [e for e in ordered if e.type in KINDS]
    corrections: dict[str, Decimal] = {}
    for e in ordered:
        if e.type == "account.transaction-corrected":
            corrections[e.data["transactionId"]] = _amount(e.data)  # the latest one wins
    if opened:
        currency = opened[-1].data["currency"]
    else:
        currency = next((c for e in movements if (c := _currency(e.data))), None)
    balance = ZERO
    transactions = []
    for e in movements:
        tx_id = e.data["transactionId"]
        amount = corrections.get(tx_id, _amount(e.data))
        balance += amount if KINDS[e.type] == "DEPOSIT" else -amount
        transactions.append(
            Transaction(
                id=tx_id,
                kind=KINDS[e.type],
                amount=amount,
                occurredAt=stored_instant(e.time),
                balanceAfter=balance,
                corrected=tx_id in corrections,
            )
        )
    return Account(
        customerId=opened[-1].data["customerId"] if opened else None,
        currency=currency,
        status="CLOSED" if any(e.type == "account.closed" for e in ordered) else "OPEN",
        balance=balance,
        version=len(ordered),
        transactionCount=len(transactions),
        transactions=tuple(transactions),
    )


def customer(events: list[Fact], accounts: Mapping[str, Account]) -> Customer:
    """One customer from its own events and the accounts that name it."""
    ordered = sorted(events, key=_order)
    facts = [e for e in ordered if e.type in ("customer.registered", "customer.updated")]
    return Customer(
        name=facts[-1].data["name"] if facts else None,
        email=facts[-1].data["email"] if facts else None,
        deleted=any(e.type == "customer.deleted" for e in ordered),
        version=len(ordered),
        accounts=tuple(
            AccountSummary(key, a.currency, a.status, a.balance)
            for key, a in sorted(accounts.items())
        ),
    )


def views(events: Iterable[Fact]) -> Views:
    """Every view the log's events give, folded from scratch."""
    unique: dict[tuple[str, str], Fact] = {}
    for event in events:
        unique.setdefault((event.source, event.id), event)
    by_account: dict[str, list[Fact]] = defaultdict(list)
    by_customer: dict[str, list[Fact]] = defaultdict(list)
    for event in unique.values():
        if event.type in ACCOUNT_TYPES and (key := _key(event, "accountId")):
            by_account[key].append(event)
        elif event.type in CUSTOMER_TYPES and (key := _key(event, "customerId")):
            by_customer[key].append(event)
    accounts = {key: account(evs) for key, evs in by_account.items()}
    members: dict[str, dict[str, Account]] = defaultdict(dict)
    for key, a in accounts.items():
        if a.customerId:
            members[a.customerId][key] = a
    customers = {
        key: customer(by_customer.get(key, []), members.get(key, {}))
        for key in set(by_customer) | set(members)
    }
    return Views(accounts, customers)


def differences(expected: Views, actual: Views) -> list[str]:
    """What differs, one line per document (empty when equal), so a failure says where."""
    found: list[str] = []
    for name in ("accounts", "customers"):
        want: dict[str, Any] = getattr(expected, name)
        got: dict[str, Any] = getattr(actual, name)
        for key in sorted(set(want) | set(got)):
            if want.get(key) != got.get(key):
                found.append(f"{name}/{key}: expected {want.get(key)!r}, stored {got.get(key)!r}")
    return found
