"""Idempotency keys at the owners: a retry replays the first answer, a key is never reused for
another request, concurrent retries write once, and a key belongs to its caller."""

from __future__ import annotations

import asyncio
import uuid

from tests.integration.owners.harness import Owner, as_caller, assert_error


async def test_idempotency_key_replays_and_refuses_reuse(accounts_owner: Owner) -> None:
    http = accounts_owner.http
    open_key = {"Idempotency-Key": f"open-{uuid.uuid4()}"}
    opened = await http.post(
        "/accounts", json={"customerId": "c", "currency": "EUR"}, headers=open_key
    )
    again = await http.post(
        "/accounts", json={"currency": "EUR", "customerId": "c"}, headers=open_key
    )
    assert (
        (again.status_code, again.json())
        == (opened.status_code, opened.json())
        == (201, opened.json())
    )
    account_id = opened.json()["accountId"]
    base = f"/accounts/{account_id}"

    key = {"Idempotency-Key": f"deposit-{uuid.uuid4()}"}
    first = await http.post(f"{base}/deposits", json={"amount": "5.00"}, headers=key)
    replay = await http.post(f"{base}/deposits", json={"amount": "5.00"}, headers=key)
    assert first.status_code == 201
    assert (replay.status_code, replay.json()) == (first.status_code, first.json())
    reused = await http.post(f"{base}/deposits", json={"amount": "6.00"}, headers=key)
    assert_error(reused, 422, "idempotency_key_reused")
    assert_error(
        await http.post(f"{base}/withdrawals", json={"amount": "5.00"}, headers=key),
        422,
        "idempotency_key_reused",
    )

    marker = await http.post(f"{base}/deposits", json={"amount": "1.00"})
    assert (await http.get(base)).json()["balance"] == "6.00"
    # The marker is the last fact for this account; once it is in, nothing else can be pending.
    marker_id = marker.json()["factIds"][0]
    await accounts_owner.reader.until(lambda facts: marker_id in {f.event.get_id() for f in facts})
    facts = [f for f in accounts_owner.reader.facts if f.key == account_id]
    expected = [*opened.json()["factIds"], *first.json()["factIds"], marker_id]
    assert [f.event.get_id() for f in facts] == expected


async def test_concurrent_retries_with_one_idempotency_key_write_once(
    accounts_owner: Owner,
) -> None:
    http = accounts_owner.http
    opened = await http.post("/accounts", json={"customerId": "c", "currency": "EUR"})
    account_id = opened.json()["accountId"]
    base = f"/accounts/{account_id}"
    # A client that timed out retries the same deposit several times at once.
    key = {"Idempotency-Key": f"retry-{uuid.uuid4()}"}
    responses = await asyncio.gather(
        *(http.post(f"{base}/deposits", json={"amount": "5.00"}, headers=key) for _ in range(6))
    )
    assert {r.status_code for r in responses} == {201}, [r.text for r in responses]
    assert len({r.text for r in responses}) == 1  # every retry replays the one write
    assert (await http.get(base)).json()["balance"] == "5.00"
    # Exactly one deposit fact was published for it.
    marker = await http.post(f"{base}/deposits", json={"amount": "1.00"})
    marker_id = marker.json()["factIds"][0]
    await accounts_owner.reader.until(lambda facts: marker_id in {f.event.get_id() for f in facts})
    deposits = [
        f
        for f in accounts_owner.reader.facts
        if f.key == account_id and f.event.get_type() == "account.deposited"
    ]
    assert [f.event.get_id() for f in deposits] == [*responses[0].json()["factIds"], marker_id]


async def test_idempotency_keys_are_scoped_to_their_caller(accounts_owner: Owner) -> None:
    http = accounts_owner.http
    as_ann, as_bob = as_caller("customer", "ann"), as_caller("customer", "bob")
    anns = (await http.post("/accounts", json={"customerId": "ann", "currency": "EUR"})).json()
    bobs = (await http.post("/accounts", json={"customerId": "bob", "currency": "EUR"})).json()
    key = {"Idempotency-Key": f"k-{uuid.uuid4()}"}

    first = await http.post(
        f"/accounts/{anns['accountId']}/deposits",
        json={"amount": "5.00"},
        headers={**as_ann, **key},
    )
    assert first.status_code == 201, first.text
    # Another caller using the same key makes its own write: it neither collides with Ann's
    # key (squatting, or learning that Ann used it) nor gets Ann's answer back.
    other = await http.post(
        f"/accounts/{bobs['accountId']}/deposits",
        json={"amount": "5.00"},
        headers={**as_bob, **key},
    )
    assert other.status_code == 201, other.text
    assert other.json()["transactionId"] != first.json()["transactionId"]
    # Ann's own retry still replays her first answer.
    retry = await http.post(
        f"/accounts/{anns['accountId']}/deposits",
        json={"amount": "5.00"},
        headers={**as_ann, **key},
    )
    assert retry.json() == first.json()
    assert (await http.get(f"/accounts/{anns['accountId']}")).json()["balance"] == "5.00"
    assert (await http.get(f"/accounts/{bobs['accountId']}")).json()["balance"] == "5.00"
