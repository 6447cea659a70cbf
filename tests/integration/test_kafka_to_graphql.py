"""CloudEvents produced to the real broker come out of GraphQL over HTTP."""

from __future__ import annotations

import uuid
from typing import Any

from tests.facts import account_event, at, customer_event, produce
from tests.integration.conftest import Factview, eventually

ACCOUNT = """
query($id: ID!) {
  account(id: $id) {
    id customerId currency status balance version updatedAt
    customer { id name }
    transactions { nodes { id kind amount occurredAt balanceAfter corrected } }
  }
}
"""

CUSTOMER = """
query($id: ID!) {
  customer(id: $id) { id name email totalBalance accounts { id balance currency status } }
}
"""


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def account(fv: Factview, account_id: str) -> dict[str, Any] | None:
    body = await fv.graphql(ACCOUNT, id=account_id)
    assert "errors" not in body, body
    result: dict[str, Any] | None = body["data"]["account"]
    return result


async def customer(fv: Factview, customer_id: str) -> dict[str, Any] | None:
    body = await fv.graphql(CUSTOMER, id=customer_id)
    assert "errors" not in body, body
    result: dict[str, Any] | None = body["data"]["customer"]
    return result


async def test_the_articles_example_deposit_10_withdraw_3_gives_7(factview: Factview) -> None:
    a, c = new_id("acc"), new_id("cus")
    await produce(
        factview.settings.kafka_bootstrap_servers,
        factview.accounts_topic,
        [
            account_event("account.opened", a, at(1), customerId=c, currency="EUR"),
            account_event(
                "account.deposited", a, at(2), transactionId="t1", amount="10.00", currency="EUR"
            ),
            account_event(
                "account.withdrawn", a, at(3), transactionId="t2", amount="3.00", currency="EUR"
            ),
        ],
    )
    view = await eventually(
        lambda: account(factview, a), lambda v: v is not None and v["version"] == 3
    )
    assert view["balance"] == "7.00"
    assert view["customerId"] == c
    assert view["currency"] == "EUR"
    assert view["status"] == "OPEN"
    assert [
        (t["id"], t["kind"], t["amount"], t["balanceAfter"]) for t in view["transactions"]["nodes"]
    ] == [
        ("t1", "DEPOSIT", "10.00", "10.00"),
        ("t2", "WITHDRAWAL", "3.00", "7.00"),
    ]
    assert view["updatedAt"].startswith("2026-01-01T00:00:03")


async def test_an_account_event_before_account_opened_fills_in(factview: Factview) -> None:
    a, c = new_id("acc"), new_id("cus")
    boot = factview.settings.kafka_bootstrap_servers
    await produce(
        boot,
        factview.accounts_topic,
        [
            account_event(
                "account.deposited", a, at(2), transactionId="t1", amount="5.00", currency="USD"
            ),
        ],
    )
    early = await eventually(lambda: account(factview, a), lambda v: v is not None)
    assert early["balance"] == "5.00" and early["customerId"] is None
    # binary content mode this time: both modes are decoded
    await produce(
        boot,
        factview.accounts_topic,
        [
            account_event("account.opened", a, at(1), customerId=c, currency="USD"),
        ],
        binary=True,
    )
    view = await eventually(lambda: account(factview, a), lambda v: v["version"] == 2)
    assert view["customerId"] == c
    assert view["balance"] == "5.00"
    assert view["transactions"]["nodes"][0]["balanceAfter"] == "5.00"


async def test_an_event_delivered_twice_is_folded_once(factview: Factview) -> None:
    a = new_id("acc")
    deposit = account_event(
        "account.deposited", a, at(2), transactionId="t1", amount="4.00", currency="EUR"
    )
    marker = account_event(
        "account.deposited", a, at(3), transactionId="t2", amount="1.00", currency="EUR"
    )
    boot = factview.settings.kafka_bootstrap_servers
    await produce(boot, factview.accounts_topic, [deposit, deposit])
    await produce(boot, factview.accounts_topic, [deposit, marker])
    view = await eventually(
        lambda: account(factview, a),
        lambda v: v is not None and len(v["transactions"]["nodes"]) == 2,
    )
    # The summary is read before the rows, so read once more: it now includes what they showed.
    view = await account(factview, a)
    assert view is not None and view["balance"] == "5.00"
    assert view["version"] == 2
    logged = await factview.runtime.db.events.count_documents({"data.accountId": a})
    assert logged == 2


async def test_customer_total_balance_joins_two_accounts(factview: Factview) -> None:
    c, a1, a2 = new_id("cus"), new_id("acc"), new_id("acc")
    boot = factview.settings.kafka_bootstrap_servers
    # Accounts first: the customer's registration arrives later through the other topic.
    await produce(
        boot,
        factview.accounts_topic,
        [
            account_event("account.opened", a1, at(1), customerId=c, currency="EUR"),
            account_event(
                "account.deposited", a1, at(2), transactionId="t1", amount="10.50", currency="EUR"
            ),
            account_event("account.opened", a2, at(1), customerId=c, currency="EUR"),
            account_event(
                "account.deposited", a2, at(2), transactionId="t2", amount="2.25", currency="EUR"
            ),
        ],
    )
    await produce(
        boot,
        factview.customers_topic,
        [
            customer_event("customer.registered", c, at(0), name="Ada", email="ada@example.com"),
        ],
    )
    view = await eventually(
        lambda: customer(factview, c),
        lambda v: v is not None and v["name"] == "Ada" and v["totalBalance"] == "12.75",
    )
    assert sorted(x["id"] for x in view["accounts"]) == sorted([a1, a2])
    assert {x["id"]: x["balance"] for x in view["accounts"]} == {a1: "10.50", a2: "2.25"}
    acc = await account(factview, a1)
    assert acc is not None and acc["customer"] == {"id": c, "name": "Ada"}


BALANCES = """
query($id: ID!) { customer(id: $id) { balances { currency amount } totalBalance } }
"""


async def test_customer_balances_are_per_currency_and_total_balance_null_across(
    factview: Factview,
) -> None:
    c, usd, eur = new_id("cus"), new_id("acc"), new_id("acc")
    await produce(
        factview.settings.kafka_bootstrap_servers,
        factview.accounts_topic,
        [
            account_event("account.opened", usd, at(1), customerId=c, currency="USD"),
            account_event(
                "account.deposited", usd, at(2), transactionId="t1", amount="250.00", currency="USD"
            ),
            account_event("account.opened", eur, at(1), customerId=c, currency="EUR"),
            account_event(
                "account.deposited", eur, at(2), transactionId="t2", amount="10.00", currency="EUR"
            ),
            account_event(
                "account.withdrawn", eur, at(3), transactionId="t3", amount="3.00", currency="EUR"
            ),
        ],
    )

    async def balances() -> dict[str, Any] | None:
        body = await factview.graphql(BALANCES, id=c)
        assert "errors" not in body, body
        result: dict[str, Any] | None = body["data"]["customer"]
        return result

    expected = {
        "balances": [
            {"currency": "EUR", "amount": "7.00"},
            {"currency": "USD", "amount": "250.00"},
        ],
        "totalBalance": None,  # not "257.00": USD and EUR do not add up
    }
    assert await eventually(balances, lambda v: v == expected) == expected


async def test_a_deleted_customer_disappears(factview: Factview) -> None:
    c = new_id("cus")
    boot = factview.settings.kafka_bootstrap_servers
    await produce(
        boot,
        factview.customers_topic,
        [
            customer_event("customer.registered", c, at(0), name="Bo", email="bo@example.com"),
        ],
    )
    await eventually(lambda: customer(factview, c), lambda v: v is not None)
    await produce(boot, factview.customers_topic, [customer_event("customer.deleted", c, at(5))])
    await eventually(lambda: customer(factview, c), lambda v: v is None)


async def test_unknown_ids_are_null_not_errors(factview: Factview) -> None:
    body = await factview.graphql('{ account(id: "nope") { id } customer(id: "nope") { id } }')
    assert body["data"] == {"account": None, "customer": None}
    assert "errors" not in body


async def test_customers_connection_pages_with_opaque_cursors(factview: Factview) -> None:
    prefix = new_id("page")
    ids = [f"{prefix}-{i}" for i in range(5)]
    await produce(
        factview.settings.kafka_bootstrap_servers,
        factview.customers_topic,
        [
            customer_event("customer.registered", cid, at(0), name=cid, email=f"{cid}@example.com")
            for cid in ids
        ],
    )

    async def page(after: str | None) -> dict[str, Any]:
        body = await factview.graphql(
            "query($after: String) { customers(first: 2, after: $after) "
            "{ edges { cursor node { id } } pageInfo { hasNextPage endCursor } nodes { id } } }",
            after=after,
        )
        assert "errors" not in body, body
        result: dict[str, Any] = body["data"]["customers"]
        return result

    async def all_ids() -> list[str]:
        seen: list[str] = []
        after = None
        while True:
            p = await page(after)
            seen += [n["id"] for n in p["nodes"]]
            assert [e["node"]["id"] for e in p["edges"]] == [n["id"] for n in p["nodes"]]
            if not p["pageInfo"]["hasNextPage"]:
                return seen
            after = p["pageInfo"]["endCursor"]
            assert prefix not in after  # opaque, not the raw id

    seen = await eventually(all_ids, lambda s: all(i in s for i in ids))
    assert seen == sorted(seen)
    assert len(seen) == len(set(seen))


async def test_a_bad_cursor_is_a_coded_error(factview: Factview) -> None:
    body = await factview.graphql('{ customers(after: "garbage") { nodes { id } } }')
    assert body["errors"][0]["extensions"]["code"] == "BAD_CURSOR"
