"""What reaches an owner is bounded: amounts out of bounds and ids that would change its path are
refused before the owner is called; a bounded amount arrives as two places."""

from __future__ import annotations

import pytest

from tests.integration.mutations.documents import MOVE, call
from tests.integration.mutations.owners import Recording


@pytest.mark.parametrize(
    "amount",
    ["1E+5000000", "1E-5000000", "1000000000000000", "0.001", "1.001", "1" + "0" * 40],
)
async def test_an_amount_out_of_bounds_is_refused_before_the_owner_is_called(
    recording: Recording, amount: str
) -> None:
    recording.owner.seen.clear()
    result = await call(recording.fv, MOVE, id="a1", amount=amount)
    assert result["deposit"]["__typename"] == "ValidationFailed", result
    assert result["deposit"]["field"] == "amount"
    assert recording.owner.seen == []


async def test_a_bounded_amount_reaches_the_owner_as_two_places(recording: Recording) -> None:
    recording.owner.seen.clear()
    for amount in ("12.5", "1.100", "1E+3", "999999999999999.99"):
        result = await call(recording.fv, MOVE, id="a1", amount=amount)
        assert result["deposit"]["__typename"] == "DepositSucceeded", result
    bodies = [r.body for r in recording.owner.seen]
    assert bodies == [
        b'{"amount":"12.50"}',
        b'{"amount":"1.10"}',
        b'{"amount":"1000.00"}',
        b'{"amount":"999999999999999.99"}',
    ]


BAD_IDS = [".", "..", "a/b", "../customers", "a\x00b", "a b", "%2e%2e", "x" * 129, ""]


@pytest.mark.parametrize("bad", BAD_IDS, ids=lambda v: repr(v)[:20])
async def test_ids_that_would_change_the_owners_path_are_refused(
    recording: Recording, bad: str
) -> None:
    recording.owner.seen.clear()
    deposit = (await call(recording.fv, MOVE, id=bad, amount="1.00"))["deposit"]
    assert (deposit["__typename"], deposit["field"]) == ("ValidationFailed", "accountId")
    update = await call(
        recording.fv,
        """mutation($id: ID!) { updateCustomer(id: $id, name: "x") {
             __typename ... on ValidationFailed { field } } }""",
        id=bad,
    )
    assert update["updateCustomer"] == {"__typename": "ValidationFailed", "field": "id"}
    opened = await call(
        recording.fv,
        """mutation($id: ID!) { openAccount(customerId: $id, currency: "EUR") {
             __typename ... on ValidationFailed { field } } }""",
        id=bad,
    )
    assert opened["openAccount"] == {"__typename": "ValidationFailed", "field": "customerId"}
    assert recording.owner.seen == []
