"""The accounts owner against a real Tansu broker: facts out of the outbox, refusals with their
codes, input bounds, and no overdraft under concurrent withdrawals."""

from __future__ import annotations

import asyncio

from tests.integration.owners.harness import Fact, Owner, assert_error, assert_fact


def assert_account_facts(
    facts: list[Fact], account_id: str, deposit_tx: str, withdrawal_tx: str
) -> None:
    """The five facts of the account's story, in write order, each as the contract says."""
    assert_fact(
        facts[0],
        "accounts",
        "account.opened",
        {"accountId": account_id, "customerId": "c-1", "currency": "EUR"},
    )
    assert_fact(
        facts[1],
        "accounts",
        "account.deposited",
        {
            "accountId": account_id,
            "transactionId": deposit_tx,
            "amount": "10.00",
            "currency": "EUR",
        },
    )
    assert_fact(
        facts[2],
        "accounts",
        "account.withdrawn",
        {
            "accountId": account_id,
            "transactionId": withdrawal_tx,
            "amount": "3.50",
            "currency": "EUR",
        },
    )
    assert_fact(
        facts[3],
        "accounts",
        "account.transaction-corrected",
        {"accountId": account_id, "transactionId": deposit_tx, "amount": "12.00"},
    )
    assert_fact(facts[4], "accounts", "account.closed", {"accountId": account_id})


async def test_account_facts_and_refusals(accounts_owner: Owner) -> None:
    http = accounts_owner.http
    opened = await http.post("/accounts", json={"customerId": "c-1", "currency": "EUR"})
    assert opened.status_code == 201, opened.text
    account_id = opened.json()["accountId"]
    assert opened.json()["status"] == "OPEN" and opened.json()["balance"] == "0.00"
    base = f"/accounts/{account_id}"

    deposit = await http.post(f"{base}/deposits", json={"amount": "10"})
    assert deposit.status_code == 201, deposit.text
    assert deposit.json()["amount"] == "10.00" and deposit.json()["balance"] == "10.00"
    deposit_tx = deposit.json()["transactionId"]

    withdrawal = await http.post(f"{base}/withdrawals", json={"amount": "3.5"})
    assert withdrawal.status_code == 201, withdrawal.text
    assert withdrawal.json()["amount"] == "3.50" and withdrawal.json()["balance"] == "6.50"

    assert_error(
        await http.post(f"{base}/withdrawals", json={"amount": "6.51"}), 409, "insufficient_funds"
    )
    # A correction that would leave the balance negative is refused, and rolled back.
    assert_error(
        await http.post(f"{base}/transactions/{deposit_tx}/correction", json={"amount": "3.49"}),
        409,
        "insufficient_funds",
    )
    corrected = await http.post(
        f"{base}/transactions/{deposit_tx}/correction", json={"amount": "12.00"}
    )
    assert corrected.status_code == 200, corrected.text
    assert corrected.json()["balance"] == "8.50"

    closed = await http.post(f"{base}/close")
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "CLOSED"
    assert_error(await http.post(f"{base}/deposits", json={"amount": "1"}), 409, "account_closed")
    assert_error(await http.post(f"{base}/close"), 409, "account_closed")
    assert_error(await http.post("/accounts/nope/deposits", json={"amount": "1"}), 404, "not_found")
    assert_error(await http.get("/accounts/nope"), 404, "not_found")

    state = (await http.get(base)).json()
    assert state["balance"] == "8.50" and state["status"] == "CLOSED"

    # The close fact was emitted last; per-key order means every earlier fact has arrived too,
    # so the refused writes provably emitted nothing.
    responses = [opened, deposit, withdrawal, corrected, closed]
    facts = await accounts_owner.reader.for_subject(account_id, len(responses))
    assert [f.event.get_id() for f in facts] == [i for r in responses for i in r.json()["factIds"]]
    assert all(r.json()["source"] == "accounts" for r in responses)
    assert_account_facts(facts, account_id, deposit_tx, withdrawal.json()["transactionId"])
    assert len({f.partition for f in facts}) == 1


async def test_invalid_requests_are_refused_with_422(accounts_owner: Owner) -> None:
    http = accounts_owner.http
    for body in ({"customerId": "c"}, {"customerId": "c", "currency": "eur"}, {"currency": "EUR"}):
        assert_error(await http.post("/accounts", json=body), 422, "validation_error")
    assert_error(
        await http.post(
            "/accounts", content=b"{not json", headers={"content-type": "application/json"}
        ),
        422,
        "validation_error",
    )
    opened = await http.post("/accounts", json={"customerId": "c", "currency": "USD"})
    base = f"/accounts/{opened.json()['accountId']}"
    for amount in ("1.001", "-1", "0", "NaN", "Infinity", "ten", True, None, [1]):
        response = await http.post(f"{base}/deposits", json={"amount": amount})
        assert_error(response, 422, "validation_error")
    # A JSON number is read exactly (never as a float) and normalised to two places.
    exact = await http.post(f"{base}/deposits", content=b'{"amount": 0.1}')
    assert exact.status_code == 201, exact.text
    assert exact.json()["amount"] == "0.10"
    assert_error(await http.get("/no/such/route"), 404, "not_found")


async def test_concurrent_withdrawals_never_overdraw(accounts_owner: Owner) -> None:
    http = accounts_owner.http
    opened = await http.post("/accounts", json={"customerId": "c", "currency": "EUR"})
    base = f"/accounts/{opened.json()['accountId']}"
    await http.post(f"{base}/deposits", json={"amount": "10.00"})
    responses = await asyncio.gather(
        *(http.post(f"{base}/withdrawals", json={"amount": "3.00"}) for _ in range(6))
    )
    assert sorted(r.status_code for r in responses) == [201, 201, 201, 409, 409, 409]
    assert (await http.get(base)).json()["balance"] == "1.00"


async def test_owners_refuse_amounts_out_of_bounds_without_expanding_them(
    accounts_owner: Owner,
) -> None:
    http = accounts_owner.http
    opened = await http.post("/accounts", json={"customerId": "c", "currency": "EUR"})
    base = f"/accounts/{opened.json()['accountId']}"
    for raw in (
        b'{"amount": "1E+5000000"}',
        b'{"amount": 1E+5000000}',
        b'{"amount": "1E-5000000"}',
        b'{"amount": "1000000000000000"}',
        b'{"amount": "0.' + b"0" * 5000 + b'1"}',
    ):
        response = await http.post(f"{base}/deposits", content=raw)
        assert_error(response, 422, "validation_error")
        assert len(response.content) < 500
    assert (await http.get(base)).json()["balance"] == "0.00"
