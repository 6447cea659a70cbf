"""`extensions.freshness`: the customer view's time moves with the accounts it embeds."""

from __future__ import annotations

import uuid

from tests.facts import account_event, at, customer_event, produce
from tests.integration.conftest import Factview, eventually


async def test_the_customer_view_is_as_fresh_as_the_accounts_it_embeds(
    factview: Factview,
) -> None:
    c, a = f"cus-{uuid.uuid4().hex[:6]}", f"acc-{uuid.uuid4().hex[:6]}"
    boot = factview.settings.kafka_bootstrap_servers
    await produce(
        boot,
        factview.customers_topic,
        [customer_event("customer.registered", c, at(1), name="Ada", email="ada@example.com")],
    )
    # Later, only account facts: the customer document re-embeds the account's balance.
    await produce(
        boot,
        factview.accounts_topic,
        [
            account_event("account.opened", a, at(70), customerId=c, currency="EUR"),
            account_event(
                "account.deposited", a, at(80), transactionId="t1", amount="5.00", currency="EUR"
            ),
        ],
    )

    async def freshness() -> dict[str, str]:
        body = await factview.graphql(
            "query($id: ID!) { customer(id: $id) { balances { amount } } }", id=c
        )
        assert "errors" not in body, body
        result: dict[str, str] = body["extensions"]["freshness"]
        if body["data"]["customer"] != {"balances": [{"amount": "5.00"}]}:
            return {}  # the deposit is not embedded yet
        return result

    fresh = await eventually(
        freshness, lambda f: f.get("account", "").startswith("2026-01-01T00:01:20")
    )
    # The answer shows the customer with the deposit of 00:01:20: its view is that fresh.
    assert fresh["customer"] == fresh["account"], fresh
