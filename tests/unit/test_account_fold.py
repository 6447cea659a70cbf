"""Each Account handler, and business-time order, folded with no I/O."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

from consumers.facts import FactEvent
from consumers.projection import State, fold, settle
from consumers.projections.account import AccountProjection
from tests.support.facts import at


def ev(type_: str, t: float, id_: str, **data: Any) -> FactEvent:
    return FactEvent("accounts", id_, type_, "a1", at(t), {"accountId": "a1", **data})


OPENED = ev("account.opened", 0, "e0", customerId="c1", currency="EUR")
DEP10 = ev("account.deposited", 1, "e1", transactionId="t1", amount="10.00", currency="EUR")
WD3 = ev("account.withdrawn", 2, "e2", transactionId="t2", amount="3.00", currency="EUR")


def view(events: list[FactEvent], state: State | None = None) -> dict[str, Any]:
    """The account as stored, with its rows (running balances set) as `transactions`."""
    document, rows = settle(AccountProjection, fold(AccountProjection, "a1", events, state))
    return {**document, "transactions": rows}


def balances(state: dict[str, Any]) -> list[tuple[str, Decimal]]:
    return [(t["id"], t["balanceAfter"]) for t in state["transactions"]]


def test_opened_sets_owner_and_currency() -> None:
    state = view([OPENED])
    assert (state["customerId"], state["currency"], state["status"]) == ("c1", "EUR", "OPEN")
    assert state["balance"] == Decimal("0") and state["version"] == 1


def test_deposit_then_withdrawal_is_the_articles_seven() -> None:
    state = view([OPENED, DEP10, WD3])
    assert state["balance"] == Decimal("7.00")
    assert str(state["balance"]) == "7.00"
    assert balances(state) == [("t1", Decimal("10.00")), ("t2", Decimal("7.00"))]
    assert state["version"] == 3 and state["updatedAt"] == at(2)


def test_any_arrival_order_folds_to_the_same_state() -> None:
    late = ev("account.deposited", 0.5, "e3", transactionId="t0", amount="1.00", currency="EUR")
    results = {
        repr(view(list(order))) for order in itertools.permutations([OPENED, DEP10, WD3, late])
    }
    assert len(results) == 1
    state = view([WD3, late, DEP10, OPENED])
    assert balances(state) == [
        ("t0", Decimal("1.00")),
        ("t1", Decimal("11.00")),
        ("t2", Decimal("8.00")),
    ]


def test_correction_replaces_the_amount_and_every_later_balance() -> None:
    fix = ev("account.transaction-corrected", 3, "e4", transactionId="t1", amount="12.00")
    state = view([OPENED, DEP10, WD3, fix])
    assert balances(state) == [("t1", Decimal("12.00")), ("t2", Decimal("9.00"))]
    assert [t["corrected"] for t in state["transactions"]] == [True, False]
    assert state["balance"] == Decimal("9.00")


def test_correction_folded_before_its_transaction_is_kept_and_applied() -> None:
    fix = ev("account.transaction-corrected", 0.5, "e4", transactionId="t1", amount="12.00")
    waiting = fold(AccountProjection, "a1", [OPENED, fix])
    assert waiting["rows"] == {} and [
        (p["transactionId"], p["amount"]) for p in waiting["pendingCorrections"]
    ] == [("t1", Decimal("12.00"))]
    state = view([DEP10], waiting)
    assert balances(state) == [("t1", Decimal("12.00"))]
    assert state["transactions"][0]["corrected"] is True
    assert state["pendingCorrections"] == []


def test_closed_marks_the_status() -> None:
    closed = ev("account.closed", 5, "e5")
    assert view([OPENED, closed])["status"] == "CLOSED"


def test_events_before_opened_fill_the_document_in() -> None:
    state = view([DEP10])
    assert state["customerId"] is None and state["currency"] == "EUR"
    assert state["balance"] == Decimal("10.00")


def test_ties_in_time_break_by_source_and_id() -> None:
    a = ev("account.deposited", 1, "b-second", transactionId="x", amount="1.00", currency="EUR")
    b = ev("account.deposited", 1, "a-first", transactionId="y", amount="2.00", currency="EUR")
    assert [t["id"] for t in view([a, b])["transactions"]] == ["y", "x"]


def test_unknown_types_change_nothing() -> None:
    other = FactEvent("accounts", "z", "account.renamed", "a1", at(1), {"accountId": "a1"})
    assert fold(AccountProjection, "a1", [other]) == {**AccountProjection.initial("a1"), "rows": {}}


def test_a_late_correction_older_than_the_applied_one_does_not_win() -> None:
    newer = ev("account.transaction-corrected", 5, "e6", transactionId="t1", amount="12.00")
    older = ev("account.transaction-corrected", 4, "e5", transactionId="t1", amount="11.00")
    state = view([older], fold(AccountProjection, "a1", [OPENED, DEP10, newer]))
    assert balances(state) == [("t1", Decimal("12.00"))]
    assert [c["amount"] for c in state["transactions"][0]["corrections"]] == [
        Decimal("11.00"),
        Decimal("12.00"),
    ]


def test_the_opened_currency_wins_over_an_earlier_movement_in_any_order() -> None:
    usd = ev("account.deposited", 0.5, "e7", transactionId="t9", amount="1.00", currency="USD")
    for order in itertools.permutations([OPENED, usd, DEP10]):
        assert view(list(order))["currency"] == "EUR"
    assert view([DEP10, usd])["currency"] == "USD"  # no opened: the earliest movement's


def test_an_opened_account_is_exactly_its_summary_and_no_rows() -> None:
    # Every field a reader sees, and no other: a misspelt key in the initial state would
    # linger in every stored account beside the one the handlers write.
    document, rows = settle(AccountProjection, fold(AccountProjection, "a1", [OPENED]))
    assert {k: v for k, v in document.items() if not k.startswith("_")} == {
        "id": "a1",
        "customerId": "c1",
        "currency": "EUR",
        "status": "OPEN",
        "balance": Decimal("0.00"),
        "transactionCount": 0,
        "pendingCorrections": [],
        "version": 1,
        "updatedAt": at(0),
    }
    assert rows == []
