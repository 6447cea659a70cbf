"""Who may write: the owners verify the relayed token and authorize each write."""

from __future__ import annotations

import time
from typing import Any

import httpx
import jwt
import pytest

from tests.integration.owners.harness import Owner, as_caller, assert_error, signed


async def test_owners_take_no_write_without_a_valid_token(
    accounts_owner: Owner, customers_owner: Owner
) -> None:
    http = accounts_owner.http
    opened = await http.post("/accounts", json={"customerId": "c-1", "currency": "EUR"})
    base = f"/accounts/{opened.json()['accountId']}"
    deposit = await http.post(f"{base}/deposits", json={"amount": "10.00"})
    transaction = deposit.json()["transactionId"]
    forged = jwt.encode(
        {"sub": "ops", "role": "staff", "aud": "factview", "iss": "factview", "exp": 2**40},
        "some-other-secret-of-at-least-32-chars",
        algorithm="HS256",
    )
    for headers in (
        {"Authorization": ""},  # none at all (the client's default header, blanked)
        {"Authorization": "Bearer garbage"},
        {"Authorization": f"Bearer {forged}"},
        signed(sub="ops", role="staff", exp=int(time.time()) - 120),  # expired
    ):
        for method, path, body in (
            ("POST", f"{base}/withdrawals", {"amount": "10.00"}),
            ("POST", f"{base}/transactions/{transaction}/correction", {"amount": "0.00"}),
            ("POST", f"{base}/close", None),
            ("GET", base, None),
            ("POST", "/accounts", {"customerId": "c-1", "currency": "EUR"}),
        ):
            response = await http.request(method, path, json=body, headers=headers)
            assert_error(response, 401, "unauthenticated")
            # Generic to the caller: which check failed is in the owner's log only.
            assert response.json()["error"]["message"] == "a valid bearer token is required"
        patched = await customers_owner.http.patch(
            "/customers/c-1", json={"name": "Mallory"}, headers=headers
        )
        assert_error(patched, 401, "unauthenticated")
    state = (await http.get(base)).json()
    assert (state["balance"], state["status"]) == ("10.00", "OPEN")
    assert [t["amount"] for t in state["transactions"]] == ["10.00"]


async def assert_customer_changes_only_itself(staff: httpx.AsyncClient, ann: Any, bob: Any) -> None:
    """Ann, a customer, changes herself and nothing of Bob's."""
    as_ann = as_caller("customer", ann["customerId"])
    # Customers: itself only; registering is staff's.
    assert_error(
        await staff.patch(f"/customers/{bob['customerId']}", json={"name": "X"}, headers=as_ann),
        403,
        "forbidden",
    )
    assert_error(
        await staff.delete(f"/customers/{bob['customerId']}", headers=as_ann), 403, "forbidden"
    )
    assert_error(
        await staff.post("/customers", json={"name": "Eve", "email": "e@x.com"}, headers=as_ann),
        403,
        "forbidden",
    )
    own = await staff.patch(
        f"/customers/{ann['customerId']}", json={"name": "Ann B."}, headers=as_ann
    )
    assert own.status_code == 200, own.text
    assert (await staff.get(f"/customers/{bob['customerId']}")).json()["name"] == "Bob"


async def test_a_customer_writes_only_to_itself_and_its_accounts(
    accounts_owner: Owner, customers_owner: Owner
) -> None:
    staff = customers_owner.http
    ann = (await staff.post("/customers", json={"name": "Ann", "email": "a@example.com"})).json()
    bob = (await staff.post("/customers", json={"name": "Bob", "email": "b@example.com"})).json()
    as_ann = as_caller("customer", ann["customerId"])

    await assert_customer_changes_only_itself(staff, ann, bob)

    # Accounts: its own only; corrections are staff's.
    http = accounts_owner.http
    bobs = (
        await http.post("/accounts", json={"customerId": bob["customerId"], "currency": "EUR"})
    ).json()["accountId"]
    await http.post(f"/accounts/{bobs}/deposits", json={"amount": "50.00"})
    assert_error(
        await http.post(
            "/accounts", json={"customerId": bob["customerId"], "currency": "EUR"}, headers=as_ann
        ),
        403,
        "forbidden",
    )
    opened = await http.post(
        "/accounts", json={"customerId": ann["customerId"], "currency": "EUR"}, headers=as_ann
    )
    assert opened.status_code == 201, opened.text
    anns = opened.json()["accountId"]
    deposit = await http.post(f"/accounts/{anns}/deposits", json={"amount": "5.00"}, headers=as_ann)
    assert deposit.status_code == 201, deposit.text
    for method, path, body in (
        ("POST", f"/accounts/{bobs}/withdrawals", {"amount": "50.00"}),
        ("POST", f"/accounts/{bobs}/deposits", {"amount": "1.00"}),
        ("POST", f"/accounts/{bobs}/close", None),
        ("GET", f"/accounts/{bobs}", None),
        ("POST", "/accounts/no-such-account/deposits", {"amount": "1.00"}),  # no probing either
        (
            "POST",
            f"/accounts/{anns}/transactions/{deposit.json()['transactionId']}/correction",
            {"amount": "500.00"},
        ),
    ):
        response = await http.request(method, path, json=body, headers=as_ann)
        assert_error(response, 403, "forbidden")
    assert (await http.get(f"/accounts/{bobs}")).json()["balance"] == "50.00"
    assert (await http.get(f"/accounts/{anns}")).json()["balance"] == "5.00"
    # Staff may do all of it.
    assert_error(
        await http.post("/accounts/no-such-account/deposits", json={"amount": "1.00"}),
        404,
        "not_found",
    )
    corrected = await http.post(
        f"/accounts/{anns}/transactions/{deposit.json()['transactionId']}/correction",
        json={"amount": "6.00"},
    )
    assert corrected.status_code == 200, corrected.text


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": str(int(time.time()) + 600)},  # a numeric string
        {"exp": int(time.time()) + 10**10},  # lives ~300 years
        {"iat": int(time.time()), "exp": int(time.time()) + 25 * 3600},  # over 24 h
        {"exp": int(time.time()) + 600, "nbf": "0"},
    ],
    ids=["string-exp", "no-iat-far-exp", "iat-25h", "string-nbf"],
)
async def test_owners_refuse_tokens_with_odd_dates_or_long_lives(
    accounts_owner: Owner, claims: dict[str, Any]
) -> None:
    http = accounts_owner.http
    opened = await http.post("/accounts", json={"customerId": "c", "currency": "EUR"})
    response = await http.post(
        f"/accounts/{opened.json()['accountId']}/deposits",
        json={"amount": "1.00"},
        headers=signed(sub="ops", role="staff", **claims),
    )
    assert_error(response, 401, "unauthenticated")
