"""Idempotency keys on forwarded writes: a retry writes once, one key on several writes is refused
before any write, a key belongs to its caller, and a key is made per operation over a websocket."""

from __future__ import annotations

import uuid

import pytest
from gql import Client, GraphQLRequest
from gql.transport.websockets import WebsocketsTransport

from tests.integration.mutations.documents import (
    DEPOSIT,
    MOVE,
    call,
    customer_with_account,
    new_account,
    transactions_of,
)
from tests.integration.mutations.owners import Recording, Stack
from tests.support.stack import bearer, token, ws_url


async def test_a_retried_mutation_with_the_same_idempotency_key_deposits_once(
    stack: Stack,
) -> None:
    a = await new_account(stack.writer)
    key = {"Idempotency-Key": uuid.uuid4().hex}
    first = (await call(stack.writer, DEPOSIT, key, id=a, amount="5.00", wait=True))["deposit"]
    retry = (await call(stack.writer, DEPOSIT, key, id=a, amount="5.00", wait=True))["deposit"]
    assert first["__typename"] == retry["__typename"] == "DepositSucceeded"
    assert retry["transactionId"] == first["transactionId"]
    assert retry["account"]["balance"] == "5.00"
    assert len(retry["account"]["transactions"]["nodes"]) == 1
    # The same key for a different request is refused, and changes nothing.
    other = (await call(stack.writer, DEPOSIT, key, id=a, amount="6.00", wait=True))["deposit"]
    assert other["__typename"] == "IdempotencyKeyReused", other
    fresh = (await call(stack.writer, DEPOSIT, id=a, amount="1.00", wait=True))["deposit"]
    assert fresh["account"]["balance"] == "6.00"


SHARED_KEY_DOCUMENTS = {
    # The finding: one inline fragment is one top-level selection, but two writes.
    "inline-fragment": """
        mutation($id: ID!) { ... on Mutation {
          a: deposit(accountId: $id, amount: "5.00", waitForFold: false) { __typename }
          b: deposit(accountId: $id, amount: "5.00", waitForFold: false) { __typename } } }""",
    "named-fragment": """
        mutation($id: ID!) { ...Two }
        fragment Two on Mutation {
          a: deposit(accountId: $id, amount: "5.00", waitForFold: false) { __typename }
          b: withdraw(accountId: $id, amount: "1.00", waitForFold: false) { __typename } }""",
    "top-level": """
        mutation($id: ID!) {
          a: deposit(accountId: $id, amount: "5.00", waitForFold: false) { __typename }
          b: deposit(accountId: $id, amount: "7.00", waitForFold: false) { __typename } }""",
}


@pytest.mark.parametrize("document", SHARED_KEY_DOCUMENTS.values(), ids=SHARED_KEY_DOCUMENTS)
async def test_one_client_key_on_several_writes_is_refused_before_any_write(
    stack: Stack, document: str
) -> None:
    a = await new_account(stack.writer)
    response = await stack.writer.http.post(
        "/graphql",
        json={"query": document, "variables": {"id": a}},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    body = response.json()
    codes = {e["extensions"]["code"] for e in body["errors"]}
    assert codes == {"IDEMPOTENCY_KEY_SHARED"}, body
    assert body["data"] is None  # the first field refused, and with it the operation
    assert await transactions_of(stack.writer, a) == ["0.01"]


async def test_the_same_key_argument_on_two_writes_is_refused(stack: Stack) -> None:
    a = await new_account(stack.writer)
    document = """
        mutation($id: ID!, $k: String) {
          a: deposit(accountId: $id, amount: "5.00", waitForFold: false, idempotencyKey: $k) {
            __typename }
          b: deposit(accountId: $id, amount: "5.00", waitForFold: false, idempotencyKey: $k) {
            __typename } }"""
    response = await stack.writer.http.post(
        "/graphql", json={"query": document, "variables": {"id": a, "k": "same"}}
    )
    codes = {e["extensions"]["code"] for e in response.json()["errors"]}
    assert codes == {"IDEMPOTENCY_KEY_SHARED"}
    assert await transactions_of(stack.writer, a) == ["0.01"]


async def test_a_key_per_field_makes_each_write_once_and_a_retry_replays_them(
    stack: Stack,
) -> None:
    a = await new_account(stack.writer)
    document = """
        mutation($id: ID!, $k1: String, $k2: String) {
          a: deposit(accountId: $id, amount: "5.00", waitForFold: false, idempotencyKey: $k1) {
            ... on DepositSucceeded { transactionId } }
          b: deposit(accountId: $id, amount: "5.00", waitForFold: false, idempotencyKey: $k2) {
            ... on DepositSucceeded { transactionId } } }"""
    keys = {"k1": uuid.uuid4().hex, "k2": uuid.uuid4().hex}
    first = await call(stack.writer, document, id=a, **keys)
    retry = await call(stack.writer, document, id=a, **keys)
    assert first["a"]["transactionId"] != first["b"]["transactionId"]
    assert retry == first
    assert await transactions_of(stack.writer, a) == ["5.00", "5.00", "0.01"]


async def test_one_customers_key_does_not_block_or_reveal_anothers_write(stack: Stack) -> None:
    ann, anns = await customer_with_account(stack.writer)
    bob, bobs = await customer_with_account(stack.writer)
    key = uuid.uuid4().hex
    as_ann = {**bearer(stack.writer.settings, "customer", ann), "Idempotency-Key": key}
    as_bob = {**bearer(stack.writer.settings, "customer", bob), "Idempotency-Key": key}
    first = await call(stack.writer, DEPOSIT, as_ann, id=anns, amount="5.00", wait=True)
    # Bob, by chance or on purpose, sends the key Ann used: his write is his own.
    other = await call(stack.writer, DEPOSIT, as_bob, id=bobs, amount="5.00", wait=True)
    assert other["deposit"]["__typename"] == "DepositSucceeded", other
    assert other["deposit"]["transactionId"] != first["deposit"]["transactionId"]
    assert other["deposit"]["account"]["balance"] == "5.00"


async def test_over_a_websocket_the_owner_sees_the_verified_token_and_a_key_per_operation(
    recording: Recording,
) -> None:
    recording.owner.seen.clear()
    verified = token(recording.fv.settings, "staff", "ops")
    transport = WebsocketsTransport(
        url=ws_url(recording.fv),
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
        init_payload={"Authorization": f"Bearer {verified}"},
        # Headers on the upgrade request are not part of any operation: never relayed.
        headers={"Authorization": "Bearer forged-by-the-client", "Idempotency-Key": "per-socket"},
    )
    async with Client(transport=transport) as session:
        for variables in ({}, {}, {"key": "op-3"}):
            result = await session.execute(
                GraphQLRequest(MOVE, variable_values={"id": "a1", "amount": "1.00", **variables})
            )
            assert result["deposit"]["__typename"] == "DepositSucceeded", result
    seen = recording.owner.seen
    assert [r.headers["authorization"] for r in seen] == [f"Bearer {verified}"] * 3
    keys = [r.headers["idempotency-key"] for r in seen]
    assert "per-socket" not in keys
    assert keys[0] != keys[1] and keys[2] == "op-3"
