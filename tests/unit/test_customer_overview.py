"""What the Customer view publishes: the overview's shape, version, time and Kafka record."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

from consumers.decoding import decode
from consumers.outbox import rows, to_record
from consumers.projection import fold, settle
from consumers.projections.account import AccountProjection
from consumers.projections.customer import CustomerProjection
from consumers.projections.customer_overview import overview
from tests.support.facts import account_event, at, customer_event, raw


def _customer() -> dict[str, object]:
    registered = decode(
        raw(customer_event("customer.registered", "c1", at(1), name="Ada", email="a@x.io"))
    )
    accounts = []
    for account_id, currency, amount, when in (
        ("a2", "USD", "5.25", 7.0004),
        ("a1", "EUR", "10.00", 3),
        ("a3", "EUR", "2.50", 2),
    ):
        opened = account_event(
            "account.opened", account_id, at(0), customerId="c1", currency=currency
        )
        deposit = account_event(
            "account.deposited",
            account_id,
            at(when),
            transactionId=f"t-{account_id}",
            amount=amount,
            currency=currency,
        )
        folded = fold(AccountProjection, account_id, [decode(raw(opened)), decode(raw(deposit))])
        accounts.append(settle(AccountProjection, folded)[0])
    return CustomerProjection.joined(fold(CustomerProjection, "c1", [registered]), accounts)


def test_the_overview_sums_balances_per_currency_and_counts_every_fact() -> None:
    published = overview(_customer())
    assert published.data == {
        "customerId": "c1",
        "name": "Ada",
        "email": "a@x.io",
        "deleted": False,
        "accounts": [
            {"accountId": "a1", "currency": "EUR", "status": "OPEN", "balance": "10.00"},
            {"accountId": "a2", "currency": "USD", "status": "OPEN", "balance": "5.25"},
            {"accountId": "a3", "currency": "EUR", "status": "OPEN", "balance": "2.50"},
        ],
        "balances": [{"currency": "EUR", "amount": "12.50"}, {"currency": "USD", "amount": "5.25"}],
        "version": 7,  # 1 customer fact + 2 facts for each of 3 accounts
    }
    assert published.version == 7
    # The newest fact behind it, to the millisecond (as the stored view keeps it).
    assert published.time == datetime(2026, 1, 1, 0, 0, 7, tzinfo=UTC)
    json.dumps(published.data)  # JSON-ready: money as strings, no Decimal left


def test_outbox_rows_have_ids_from_view_key_and_version_and_go_out_as_cloudevents() -> None:
    state = _customer()
    [row] = rows([AccountProjection, CustomerProjection], {"customer": {"c1": state}})
    assert row["_id"] == "customer-overview:c1:0000000007"
    assert rows([CustomerProjection], {"customer": {"c1": state}})[0]["_id"] == row["_id"]
    record = to_record(row, "factview-eu")
    event = json.loads(record.value)
    assert record.key == b"c1"
    assert dict(record.headers)["content-type"] == b"application/cloudevents+json"
    assert {k: event[k] for k in ("specversion", "id", "source", "type", "subject")} == {
        "specversion": "1.0",
        "id": "customer-overview:c1:0000000007",
        "source": "factview-eu",
        "type": "customer-overview.changed",
        "subject": "c1",
    }
    assert event["data"]["balances"][0] == {"currency": "EUR", "amount": "12.50"}
    assert Decimal(event["data"]["accounts"][0]["balance"]) == Decimal("10.00")


def test_a_deleted_customer_with_a_closed_account_and_its_own_newest_fact() -> None:
    facts = [
        customer_event("customer.registered", "c2", at(1), name="Bo", email="b@x.io"),
        customer_event("customer.deleted", "c2", at(9.0123456)),
    ]
    customer = fold(CustomerProjection, "c2", [decode(raw(f)) for f in facts])
    opened = account_event("account.opened", "b1", at(2), customerId="c2", currency="EUR")
    closed = account_event("account.closed", "b1", at(3))
    account = settle(
        AccountProjection,
        fold(AccountProjection, "b1", [decode(raw(opened)), decode(raw(closed))]),
    )[0]
    published = overview(CustomerProjection.joined(customer, [account]))
    assert published.data["deleted"] is True
    assert published.data["accounts"] == [
        {"accountId": "b1", "currency": "EUR", "status": "CLOSED", "balance": "0.00"}
    ]
    assert published.version == published.data["version"] == 4  # 2 customer + 2 account facts
    # The customer's own fact is the newest (9.0123456 s), cut to the millisecond.
    assert published.time == datetime(2026, 1, 1, 0, 0, 9, 12000, tzinfo=UTC)


def test_a_customer_without_accounts_is_published_from_its_own_facts() -> None:
    registered = customer_event("customer.registered", "c3", at(4.5), name="Cy", email="c@x.io")
    published = overview(fold(CustomerProjection, "c3", [decode(raw(registered))]))
    assert published.data == {
        "customerId": "c3",
        "name": "Cy",
        "email": "c@x.io",
        "deleted": False,
        "accounts": [],
        "balances": [],
        "version": 1,
    }
    assert published.time == datetime(2026, 1, 1, 0, 0, 4, 500000, tzinfo=UTC)


def test_an_account_summary_without_status_or_balance_reads_as_open_and_zero() -> None:
    # The join always writes both; a summary without them (another version's document) is
    # published as the join would have written it.
    state = {"id": "c4", "version": 1, "accounts": [{"id": "d2"}, {"id": "d1", "currency": "USD"}]}
    published = overview(state)
    assert published.data["accounts"] == [
        {"accountId": "d1", "currency": "USD", "status": "OPEN", "balance": "0.00"},
        {"accountId": "d2", "currency": None, "status": "OPEN", "balance": "0.00"},
    ]
    assert published.data["deleted"] is False and published.version == 1
    assert published.time == datetime(1970, 1, 1, tzinfo=UTC)
