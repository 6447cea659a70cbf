"""The Account view: a summary document, and one row per transaction with its running balance.

The handlers do not depend on the order events arrive in, so a late event is applied as it
comes (the engine shifts the running balances after it on the server):
- the newest `account.opened` (in business time) names the customer and the currency;
  without one, the earliest movement's currency stands;
- a transaction's amount is its newest correction's, else the movement's own; every correction
  is kept on the row (with its position), so the past can be read back (`app/read/history.py`);
- a correction that comes before its transaction waits on the account until the row exists;
- two movements with one transactionId: the newest in business time describes the row.
"""

from __future__ import annotations

from decimal import Decimal

from consumers.facts import FactEvent, position
from consumers.projection import ROWS, Projection, Row, Rows, State, handles

# Two places, as the owners send money: an account with no movements reads "0.00", not "0".
ZERO = Decimal("0.00")


def signed(row: Row) -> Decimal:
    amount: Decimal = row["amount"]
    return amount if row["kind"] == "DEPOSIT" else -amount


def _corrected(row: Row, corrections: list[Row]) -> Row:
    ordered = sorted(corrections, key=lambda c: c["pos"])
    return {
        **row,
        "amount": ordered[-1]["amount"] if ordered else row["original"],
        "corrected": bool(ordered),
        "corrections": ordered,
        "lastCorrection": ordered[-1]["pos"] if ordered else None,
    }


def _movement(state: State, event: FactEvent, kind: str) -> State:
    tx_id = event.data["transactionId"]
    at = position(event.order)
    rows: dict[str, Row] = state[ROWS]
    if state["_currencyAt"] != "opened" and (
        state["_currencyAt"] is None or at < state["_currencyAt"]
    ):
        state["currency"] = event.data.get("currency")
        state["_currencyAt"] = at
    existing = rows.get(tx_id)
    if existing is not None and existing["pos"] > at:
        return state  # a newer movement already describes this transaction
    waiting = [p for p in state["pendingCorrections"] if p["transactionId"] == tx_id]
    state["pendingCorrections"] = [
        p for p in state["pendingCorrections"] if p["transactionId"] != tx_id
    ]
    corrections = list(existing["corrections"]) if existing is not None else []
    corrections += [{"pos": p["pos"], "amount": p["amount"]} for p in waiting]
    row: Row = {
        "accountId": state["id"],
        "id": tx_id,
        "kind": kind,
        "amount": ZERO,
        "original": Decimal(event.data["amount"]),
        "occurredAt": event.time,
        "corrected": False,
        "corrections": [],
        "lastCorrection": None,
        "pos": at,
    }
    # Rows are replaced, never changed in place; the map itself is the fold's own (copying it
    # per event made a fold from scratch quadratic in the account's history).
    rows[tx_id] = _corrected(row, corrections)
    return state


class AccountProjection(Projection):
    name = "account"
    # 2: transactions moved out of the account document into rows of their own.
    version = 2
    collection = "accounts"
    key_field = "accountId"
    rows = Rows(
        collection="transactions",
        parent="accountId",
        key_field="transactionId",
        running="balanceAfter",
        total="balance",
        count="transactionCount",
        value=signed,
    )

    @classmethod
    def initial(cls, key: str) -> State:
        return {
            "id": key,
            "customerId": None,
            "currency": None,
            "status": "OPEN",
            "balance": ZERO,
            "transactionCount": 0,
            "pendingCorrections": [],
            "version": 0,
            "updatedAt": None,
            # Which event set the customer and the currency, so a late one knows if it wins.
            "_openedAt": None,
            "_currencyAt": None,
        }

    @handles("account.opened")
    @staticmethod
    def opened(state: State, event: FactEvent) -> State:
        at = position(event.order)
        if state["_openedAt"] is None or at > state["_openedAt"]:
            state["customerId"] = event.data["customerId"]
            state["currency"] = event.data["currency"]
            state["_openedAt"] = at
            state["_currencyAt"] = "opened"
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
        correction = {"pos": position(event.order), "amount": Decimal(event.data["amount"])}
        rows: dict[str, Row] = state[ROWS]
        row = rows.get(tx_id)
        if row is not None:
            rows[tx_id] = _corrected(row, [*row["corrections"], correction])
            return state
        # The transaction is not here yet: the correction waits for it on the account.
        state["pendingCorrections"] = sorted(
            [*state["pendingCorrections"], {"transactionId": tx_id, **correction}],
            key=lambda p: p["pos"],
        )
        return state

    @handles("account.closed")
    @staticmethod
    def closed(state: State, event: FactEvent) -> State:
        state["status"] = "CLOSED"
        return state
