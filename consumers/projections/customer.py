"""The Customer view: the customer's facts joined with a summary of each of its accounts."""

from __future__ import annotations

from decimal import Decimal

from consumers.facts import FactEvent
from consumers.projection import Join, Projection, State, handles
from consumers.projections.balances import balances, total_balance
from consumers.projections.customer_overview import CUSTOMER_OVERVIEW


class CustomerProjection(Projection):
    name = "customer"
    # 2: `balances` (one total per currency); `totalBalance` is null across currencies.
    version = 2
    collection = "customers"
    key_field = "customerId"
    # Accounts name their customer; the customer document embeds them as they change.
    join = Join(
        view="account",
        on="customerId",
        # version and updatedAt: summed up for the published overview (customer_overview.py).
        fields=("id", "currency", "status", "balance", "version", "updatedAt"),
    )
    # Each change is published as `customer-overview.changed` (consumers/outbox.py).
    publishes = CUSTOMER_OVERVIEW

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
        # What the published overview's version and time derive from (customer_overview.py).
        state["_accountsVersion"] = sum(int(a.get("version", 0)) for a in others)
        times = [a["updatedAt"] for a in others if a.get("updatedAt") is not None]
        state["_accountsUpdatedAt"] = max(times, default=None)
        state["balances"] = balances(accounts)
        state["totalBalance"] = total_balance(accounts)
        return state

    @classmethod
    def visible(cls, state: State) -> bool:
        return not state.get("deleted", False)
