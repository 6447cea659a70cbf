"""Read-your-writes across instances: a mutation that waits for its fold, a consistency token read
on another instance, a subscription there, and a mutation's freshness."""

from __future__ import annotations

from datetime import datetime

from tests.integration.mutations.documents import DEPOSIT, OPEN, REGISTER, call, new_account
from tests.integration.mutations.owners import Stack
from tests.support.stack import subscribe


async def test_deposit_waiting_for_the_fold_returns_a_view_with_the_deposit(stack: Stack) -> None:
    a = await new_account(stack.writer)
    result = (await call(stack.writer, DEPOSIT, id=a, amount="10.00", wait=True))["deposit"]
    assert result["__typename"] == "DepositSucceeded", result
    assert result["folded"] is True
    assert result["balance"] == "10.00"
    nodes = result["account"]["transactions"]["nodes"]
    assert [(n["id"], n["amount"]) for n in nodes] == [(result["transactionId"], "10.00")]
    assert result["account"]["balance"] == "10.00"


async def test_a_consistency_token_makes_a_later_read_include_the_write(stack: Stack) -> None:
    a = await new_account(stack.writer)
    result = (await call(stack.writer, DEPOSIT, id=a, amount="3.00", wait=False))["deposit"]
    assert result["__typename"] == "DepositSucceeded" and result["folded"] is False
    # Read on the other instance: the token carries the facts to wait for, not the instance.
    data = await call(
        stack.reader,
        "query($id: ID!, $t: String) { account(id: $id, consistencyToken: $t) { balance } }",
        id=a,
        t=result["consistencyToken"],
    )
    assert data["account"]["balance"] == "3.00"


async def test_a_bad_consistency_token_is_a_coded_error(stack: Stack) -> None:
    response = await stack.reader.http.post(
        "/graphql",
        json={"query": '{ account(id: "x", consistencyToken: "forged") { id } }'},
    )
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_CONSISTENCY_TOKEN"


async def test_a_subscriber_on_one_instance_sees_a_write_made_through_another(
    stack: Stack,
) -> None:
    a = await new_account(stack.writer)
    sub = subscribe(
        stack.reader, "subscription($id: ID!) { accountUpdated(id: $id) { balance } }", id=a
    )
    try:
        assert (await sub.next())["accountUpdated"]["balance"] == "0.00"
        result = (await call(stack.writer, DEPOSIT, id=a, amount="7.00", wait=False))["deposit"]
        assert result["__typename"] == "DepositSucceeded"
        assert (await sub.next(timeout=15))["accountUpdated"]["balance"] == "7.00"
    finally:
        await sub.close()


async def test_a_mutation_s_freshness_is_not_older_than_its_own_folded_write(
    stack: Stack,
) -> None:
    fv = stack.writer
    customer = (await call(fv, REGISTER, name="Fresh", email="fresh@example.com"))[
        "registerCustomer"
    ]
    opened = await call(fv, OPEN, customerId=customer["customerId"], currency="EUR")
    account_id = opened["openAccount"]["accountId"]
    freshness = fv.runtime.freshness
    assert freshness is not None
    cached_for = freshness.max_age
    # A cache that never expires during the test: only a read made for the mutation can
    # show its write (with the default second, a slow fold would hide a stale answer).
    freshness.max_age = 3600
    try:
        primed = await freshness.newest(fresh=True)  # now cached: the account as opened
        response = await fv.http.post(
            "/graphql",
            json={
                "query": 'mutation($id: ID!) { deposit(accountId: $id, amount: "1.00") '
                "{ ... on DepositSucceeded { folded account { updatedAt } } } }",
                "variables": {"id": account_id},
            },
        )
    finally:
        freshness.max_age = cached_for
    body = response.json()
    assert body["data"]["deposit"]["folded"] is True, body
    written = datetime.fromisoformat(body["data"]["deposit"]["account"]["updatedAt"])
    shown = {k: datetime.fromisoformat(v) for k, v in body["extensions"]["freshness"].items()}
    assert primed["account"] < written
    assert shown["account"] >= written, (shown, written)
    assert shown["customer"] >= written, "the customer view embeds the account"
