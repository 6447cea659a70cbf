"""The GraphQL documents the mutation tests send, and the calls that send them."""

from __future__ import annotations

import uuid
from typing import Any

from tests.support.stack import Factview

REGISTER = """
mutation($name: String!, $email: String!) {
  registerCustomer(name: $name, email: $email) {
    __typename
    ... on RegisterCustomerSucceeded { customerId folded customer { id name email } }
    ... on UserError { message }
  }
}
"""


OPEN = """
mutation($customerId: ID!, $currency: String!) {
  openAccount(customerId: $customerId, currency: $currency) {
    __typename
    ... on OpenAccountSucceeded { accountId folded account { id balance customerId } }
    ... on UserError { message }
  }
}
"""


DEPOSIT = """
mutation($id: ID!, $amount: Decimal!, $wait: Boolean!) {
  deposit(accountId: $id, amount: $amount, waitForFold: $wait) {
    __typename
    ... on DepositSucceeded {
      transactionId amount balance folded consistencyToken
      account { balance version transactions { nodes { id amount balanceAfter } } }
    }
    ... on UserError { message }
  }
}
"""


WITHDRAW = """
mutation($id: ID!, $amount: Decimal!) {
  withdraw(accountId: $id, amount: $amount) {
    __typename
    ... on WithdrawSucceeded { balance folded }
    ... on UserError { message }
  }
}
"""


MOVE = """
mutation($id: ID!, $amount: Decimal!, $key: String) {
  deposit(accountId: $id, amount: $amount, waitForFold: false, idempotencyKey: $key) {
    __typename ... on ValidationFailed { field message } } }
"""


async def call(
    fv: Factview, query: str, headers: dict[str, str] | None = None, **variables: Any
) -> dict[str, Any]:
    response = await fv.http.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers or {}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    return body["data"]


async def new_account(fv: Factview) -> str:
    name = f"n-{uuid.uuid4().hex[:6]}"
    registered = (await call(fv, REGISTER, name=name, email=f"{name}@example.com"))[
        "registerCustomer"
    ]
    assert registered["__typename"] == "RegisterCustomerSucceeded", registered
    assert registered["folded"] is True
    assert registered["customer"]["name"] == name
    opened = (await call(fv, OPEN, customerId=registered["customerId"], currency="EUR"))[
        "openAccount"
    ]
    assert opened["__typename"] == "OpenAccountSucceeded", opened
    assert opened["folded"] is True and opened["account"]["balance"] == "0.00"
    return str(opened["accountId"])


async def customer_with_account(fv: Factview) -> tuple[str, str]:
    name = f"n-{uuid.uuid4().hex[:6]}"
    registered = (await call(fv, REGISTER, name=name, email=f"{name}@example.com"))[
        "registerCustomer"
    ]
    customer_id = str(registered["customerId"])
    opened = (await call(fv, OPEN, customerId=customer_id, currency="EUR"))["openAccount"]
    assert opened["folded"] is True, opened
    return customer_id, str(opened["accountId"])


async def transactions_of(fv: Factview, account_id: str) -> list[str]:
    """The account's transactions once a marker deposit is folded: every earlier write is too."""
    marker = (await call(fv, DEPOSIT, id=account_id, amount="0.01", wait=True))["deposit"]
    assert marker["folded"] is True, marker
    return [n["amount"] for n in marker["account"]["transactions"]["nodes"]]
