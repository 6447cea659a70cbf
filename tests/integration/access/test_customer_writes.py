"""Authorization of writes: a customer changing another's data is refused before any owner is
called; staff may."""

from __future__ import annotations

from tests.integration.access.harness import RecordingOwner, as_role
from tests.support.stack import Factview


async def test_a_customer_mutating_anothers_account_is_refused_before_the_owner(
    fv: Factview, two_customers: dict[str, str], owner: RecordingOwner
) -> None:
    ann = two_customers["ann"]
    attempts = [
        (
            'mutation($id: ID!) { withdraw(accountId: $id, amount: "1.00") { __typename } }',
            {"id": two_customers["bob_acc"]},
        ),
        (
            'mutation($id: ID!) { deposit(accountId: $id, amount: "1.00") { __typename } }',
            {"id": "acc-unknown"},
        ),
        (
            'mutation($id: ID!) { openAccount(customerId: $id, currency: "EUR") { __typename } }',
            {"id": two_customers["bob"]},
        ),
        (
            'mutation($id: ID!) { updateCustomer(id: $id, name: "Mallory") { __typename } }',
            {"id": two_customers["bob"]},
        ),
        ('mutation { registerCustomer(name: "M", email: "m@example.com") { __typename } }', {}),
    ]
    for query, variables in attempts:
        body = await as_role(fv, "customer", ann, query, **variables)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", body
        assert body["data"] is None
    assert owner.calls == []
    # Staff may, so the owner is called (and answers with its recorded refusal).
    body = await as_role(fv, "staff", "ops", attempts[0][0], **attempts[0][1])
    assert body["data"]["withdraw"]["__typename"] == "NotFound"
    assert owner.calls == [f"POST /accounts/{two_customers['bob_acc']}/withdrawals"]
