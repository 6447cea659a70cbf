"""Each Customer handler, and the join of its accounts."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from consumers.facts import FactEvent
from consumers.projection import fold
from consumers.projections.customer import CustomerProjection
from tests.support.facts import at


def ev(type_: str, t: float, id_: str, **data: Any) -> FactEvent:
    return FactEvent("customers", id_, type_, "c1", at(t), {"customerId": "c1", **data})


REGISTERED = ev("customer.registered", 0, "e0", name="Ada", email="ada@example.com")


def test_registered_then_updated_keeps_the_newest_whole_entity() -> None:
    updated = ev("customer.updated", 1, "e1", name="Ada L.", email="ada@l.org")
    for order in ([REGISTERED, updated], [updated, REGISTERED]):
        state = fold(CustomerProjection, "c1", order)
        assert (state["name"], state["email"], state["version"]) == ("Ada L.", "ada@l.org", 2)


def test_deleted_hides_the_customer() -> None:
    state = fold(CustomerProjection, "c1", [REGISTERED, ev("customer.deleted", 2, "e2")])
    assert state["deleted"] is True and not CustomerProjection.visible(state)
    assert CustomerProjection.visible(fold(CustomerProjection, "c1", [REGISTERED]))


def test_joined_embeds_account_summaries_and_sums_balances() -> None:
    accounts = [
        {
            "id": "b",
            "customerId": "c1",
            "currency": "EUR",
            "status": "OPEN",
            "balance": Decimal("2.25"),
            "transactions": [],
        },
        {
            "id": "a",
            "customerId": "c1",
            "currency": "EUR",
            "status": "CLOSED",
            "balance": Decimal("10.50"),
        },
    ]
    state = CustomerProjection.joined(fold(CustomerProjection, "c1", [REGISTERED]), accounts)
    assert state["accounts"] == [
        {"id": "a", "currency": "EUR", "status": "CLOSED", "balance": Decimal("10.50")},
        {"id": "b", "currency": "EUR", "status": "OPEN", "balance": Decimal("2.25")},
    ]
    assert state["totalBalance"] == Decimal("12.75")
    assert state["balances"] == [{"currency": "EUR", "amount": Decimal("12.75")}]


def _account(id_: str, currency: str | None, balance: str) -> dict[str, Any]:
    return {"id": id_, "customerId": "c1", "currency": currency, "balance": Decimal(balance)}


def test_balances_are_one_total_per_currency_and_total_balance_is_null_across_them() -> None:
    accounts = [
        _account("a", "USD", "250.00"),
        _account("b", "EUR", "10.00"),
        _account("c", "EUR", "-3.00"),
    ]
    state = CustomerProjection.joined(fold(CustomerProjection, "c1", [REGISTERED]), accounts)
    assert state["balances"] == [
        {"currency": "EUR", "amount": Decimal("7.00")},
        {"currency": "USD", "amount": Decimal("250.00")},
    ]
    assert state["totalBalance"] is None  # not "257.00": USD and EUR do not add up


def test_an_account_of_unknown_currency_is_left_out_of_balances() -> None:
    # Its account.opened (which names the currency) is not folded yet.
    accounts = [_account("a", None, "5.00"), _account("b", "EUR", "1.00")]
    state = CustomerProjection.joined(fold(CustomerProjection, "c1", [REGISTERED]), accounts)
    assert state["balances"] == [{"currency": "EUR", "amount": Decimal("1.00")}]
    assert state["totalBalance"] is None


def test_a_customer_without_accounts_has_no_balances_and_a_zero_total() -> None:
    state = CustomerProjection.joined(fold(CustomerProjection, "c1", [REGISTERED]), [])
    assert (state["balances"], state["totalBalance"]) == ([], Decimal("0.00"))


def test_a_registered_customer_is_exactly_its_document() -> None:
    # Every field a reader sees, and no other (a misspelt key in the initial state would linger).
    state = CustomerProjection.joined(fold(CustomerProjection, "c1", [REGISTERED]), [])
    assert {k: v for k, v in state.items() if not k.startswith("_")} == {
        "id": "c1",
        "name": "Ada",
        "email": "ada@example.com",
        "deleted": False,
        "accounts": [],
        "balances": [],
        "totalBalance": Decimal("0.00"),
        "version": 1,
        "updatedAt": at(0),
    }
    assert (state["_accountsVersion"], state["_accountsUpdatedAt"]) == (0, None)
