"""The Account view: status, balance and transactions with running balances, in business time."""

from __future__ import annotations

from decimal import Decimal

from consumers.facts import FactEvent
from consumers.projection import Projection, State, handles

# Two places, as the owners send money: an account with no movements reads "0.00", not "0".
ZERO = Decimal("0.00")


def _signed(tx: State) -> Decimal:
    amount: Decimal = tx["amount"]
    return amount if tx["kind"] == "DEPOSIT" else -amount


def _rebalance(state: State) -> State:
    # A corrected amount changes the running balance of every later transaction.
    balance = ZERO
    for tx in state["transactions"]:
        balance += _signed(tx)
        tx["balanceAfter"] = balance
    state["balance"] = balance
    return state


def _movement(state: State, event: FactEvent, kind: str) -> State:
    tx_id = event.data["transactionId"]
    amount = Decimal(event.data["amount"])
    corrected = False
    pending = state["pendingCorrections"]
    if tx_id in {p["transactionId"] for p in pending}:
        # The correction was folded first; it wins over the original amount.
        amount = next(Decimal(p["amount"]) for p in pending if p["transactionId"] == tx_id)
        state["pendingCorrections"] = [p for p in pending if p["transactionId"] != tx_id]
        corrected = True
    if state["currency"] is None:
        state["currency"] = event.data.get("currency")
    tx = {
        "id": tx_id,
        "kind": kind,
        "amount": amount,
        "occurredAt": event.time,
        "balanceAfter": ZERO,
        "corrected": corrected,
    }
    state["transactions"] = [t for t in state["transactions"] if t["id"] != tx_id] + [tx]
    return _rebalance(state)


class AccountProjection(Projection):
    name = "account"
    version = 1
    collection = "accounts"
    key_field = "accountId"

    @classmethod
    def initial(cls, key: str) -> State:
        return {
            "id": key,
            "customerId": None,
            "currency": None,
            "status": "OPEN",
            "balance": ZERO,
            "transactions": [],
            "pendingCorrections": [],
            "version": 0,
            "updatedAt": None,
        }

    @handles("account.opened")
    @staticmethod
    def opened(state: State, event: FactEvent) -> State:
        state["customerId"] = event.data["customerId"]
        state["currency"] = event.data["currency"]
        return state

    @handles("account.deposited")
    @staticmethod
    def deposited(state: State, event: FactEvent) -> State:
        return _movement(state, event, "DEPOSIT")

    @handles("account.withdrawn")
    @staticmethod
    def withdrawn(state: State, event: FactEvent) -> State:
        return _movement(state, event, "WITHDRAWAL")

    @handles("account.transaction-corrected")
    @staticmethod
    def corrected(state: State, event: FactEvent) -> State:
        tx_id = event.data["transactionId"]
        amount = Decimal(event.data["amount"])
        for tx in state["transactions"]:
            if tx["id"] == tx_id:
                tx["amount"] = amount
                tx["corrected"] = True
                return _rebalance(state)
        pending = [p for p in state["pendingCorrections"] if p["transactionId"] != tx_id]
        state["pendingCorrections"] = [*pending, {"transactionId": tx_id, "amount": str(amount)}]
        return state

    @handles("account.closed")
    @staticmethod
    def closed(state: State, event: FactEvent) -> State:
        state["status"] = "CLOSED"
        return state
