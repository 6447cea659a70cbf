"""DEV SEED, for `factview dev` only: the article's bank story as history the owners already hold.

The demo owners stamp every fact with the current time, so no HTTP call can make a history with
fixed business times. This writes the story straight into the owners' own stores (the customer's
row and fact; the accounts' events, which are the accounts owner's whole state), one transaction
each, as if it had happened on 2026-01-01; each owner's relay then publishes the facts in the
order written, so the late deposit really arrives late (after the correction). Owners and views
agree: the seeded customer can move money in its accounts.

Stable ids (cus-0000, acc-0000, acc-0001, event ids like acc-0000-3) make the README's examples
reproducible, cursors included.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cloudevents.core.v1.event import CloudEvent

from upstream.events import ACCOUNTS_SOURCE, CUSTOMERS_SOURCE
from upstream.owner import Owner

CUSTOMER = "cus-0000"
NAME = "Ada Lovelace"
EMAIL = "ada@example.com"
EUR_ACCOUNT = "acc-0000"
USD_ACCOUNT = "acc-0001"
STORY_START = datetime(2026, 1, 1, tzinfo=UTC)


def _at(seconds: float) -> datetime:
    return STORY_START + timedelta(seconds=seconds)


def _fact(
    source: str, type_: str, subject: str, event_id: str, seconds: float, data: dict[str, Any]
) -> CloudEvent:
    return CloudEvent(
        attributes={
            "id": event_id,
            "source": source,
            "type": type_,
            "subject": subject,
            "time": _at(seconds),
            "datacontenttype": "application/json",
        },
        data=data,
    )


def _money(account: str, transaction: str, amount: str, currency: str) -> dict[str, str]:
    return {
        "accountId": account,
        "transactionId": transaction,
        "amount": amount,
        "currency": currency,
    }


# In publication order: the deposit of 5 at 00:00:02.5 is published after the correction.
ACCOUNT_FACTS = [
    _fact(ACCOUNTS_SOURCE, "account.opened", EUR_ACCOUNT, "acc-0000-1", 1,
          {"accountId": EUR_ACCOUNT, "customerId": CUSTOMER, "currency": "EUR"}),
    _fact(ACCOUNTS_SOURCE, "account.deposited", EUR_ACCOUNT, "acc-0000-2", 2,
          _money(EUR_ACCOUNT, "t1", "10.00", "EUR")),
    _fact(ACCOUNTS_SOURCE, "account.withdrawn", EUR_ACCOUNT, "acc-0000-3", 3,
          _money(EUR_ACCOUNT, "t2", "3.00", "EUR")),
    _fact(ACCOUNTS_SOURCE, "account.transaction-corrected", EUR_ACCOUNT, "acc-0000-4", 5,
          {"accountId": EUR_ACCOUNT, "transactionId": "t1", "amount": "12.00"}),
    _fact(ACCOUNTS_SOURCE, "account.deposited", EUR_ACCOUNT, "acc-0000-5", 2.5,
          _money(EUR_ACCOUNT, "t3", "5.00", "EUR")),
    _fact(ACCOUNTS_SOURCE, "account.opened", USD_ACCOUNT, "acc-0001-1", 6,
          {"accountId": USD_ACCOUNT, "customerId": CUSTOMER, "currency": "USD"}),
    _fact(ACCOUNTS_SOURCE, "account.deposited", USD_ACCOUNT, "acc-0001-2", 7,
          _money(USD_ACCOUNT, "t4", "250.00", "USD")),
]  # fmt: skip

CUSTOMER_FACTS = [
    _fact(CUSTOMERS_SOURCE, "customer.registered", CUSTOMER, "cus-0000-1", 0,
          {"customerId": CUSTOMER, "name": NAME, "email": EMAIL}),
]  # fmt: skip


def seed_customers(owner: Owner) -> None:
    """The story's customer: its row and its fact, in one of the customers owner's transactions."""
    with owner.database.write() as conn:
        if conn.execute("SELECT 1 FROM customers WHERE id = ?", (CUSTOMER,)).fetchone():
            return  # seeded already
        conn.execute(
            "INSERT INTO customers (id, name, email) VALUES (?, ?, ?)", (CUSTOMER, NAME, EMAIL)
        )
        for fact in CUSTOMER_FACTS:
            owner.outbox.append(conn, fact)


def seed_accounts(owner: Owner) -> None:
    """The story's accounts: the accounts owner is event-sourced, so its facts are all it keeps."""
    with owner.database.write() as conn:
        if conn.execute(
            "SELECT 1 FROM account_events WHERE account_id = ?", (EUR_ACCOUNT,)
        ).fetchone():
            return
        for fact in ACCOUNT_FACTS:
            owner.outbox.append(conn, fact)
