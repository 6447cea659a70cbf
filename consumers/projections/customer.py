"""The Customer view: the customer's facts joined with a summary of each of its accounts."""

from __future__ import annotations

from decimal import Decimal

from consumers.facts import FactEvent
from consumers.projection import Join, Projection, State, handles


class CustomerProjection(Projection):
    name = "customer"
    # 2: `balances` (one total per currency); `totalBalance` is null across currencies.
    version = 2
    collection = "customers"
    key_field = "customerId"
    # Accounts name their customer; the customer document embeds them as they change.
    join = Join(view="account", on="customerId", fields=("id", "currency", "status", "balance"))

    @classmethod
    def initial(cls, key: str) -> State:
        return {
            "id": key,
            "name": None,
            "email": None,
            "deleted": False,
            "accounts": [],
            "balances": [],
            "totalBalance": Decimal("0.00"),
            "version": 0,
            "updatedAt": None,
        }

    @handles("customer.registered")
    @staticmethod
    def registered(state: State, event: FactEvent) -> State:
        state["name"] = event.data["name"]
        state["email"] = event.data["email"]
        return state

    @handles("customer.updated")
    @staticmethod
    def updated(state: State, event: FactEvent) -> State:
        # A Fact Event carries the whole entity, so the newest one simply replaces.
        state["name"] = event.data["name"]
        state["email"] = event.data["email"]
        return state

    @handles("customer.deleted")
    @staticmethod
    def deleted(state: State, event: FactEvent) -> State:
        state["deleted"] = True
        return state

    @classmethod
    def joined(cls, state: State, others: list[State]) -> State:
        accounts = [
            {
                "id": a["id"],
                "currency": a.get("currency"),
                "status": a.get("status", "OPEN"),
                "balance": a.get("balance", Decimal("0.00")),
            }
            for a in sorted(others, key=lambda a: str(a["id"]))
        ]
        state["accounts"] = accounts
        state["balances"] = balances(accounts)
        state["totalBalance"] = total_balance(accounts)
        return state

    @classmethod
    def visible(cls, state: State) -> bool:
        return not state.get("deleted", False)


def balances(accounts: list[State]) -> list[State]:
    """One total per currency, by currency (an account whose opening is not folded yet has
    no currency and stays out: its money cannot be counted in any)."""
    totals: dict[str, Decimal] = {}
    for account in accounts:
        currency = account["currency"]
        if currency is not None:
            totals[currency] = totals.get(currency, Decimal("0.00")) + account["balance"]
    return [{"currency": c, "amount": totals[c]} for c in sorted(totals)]


def total_balance(accounts: list[State]) -> Decimal | None:
    """The sum when every account holds one currency; None across currencies (or with an
    account of unknown currency beside others), since EUR and USD do not add up."""
    if len({a["currency"] for a in accounts}) > 1:
        return None
    return sum((a["balance"] for a in accounts), Decimal("0.00"))
