"""What the Customer view publishes: the customer overview (CONTRACT "Facts factview publishes").

Pure: computed from the customer document alone, with its embedded account summaries. The
per-currency `balances` are summed here from those summaries rather than read from the view,
so what is published does not depend on which totals the view happens to store.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from consumers.outbox import Publication, Published
from consumers.projections.balances import balances

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def money(amount: Decimal) -> str:
    return f"{amount:f}"


def published_balances(accounts: list[dict[str, Any]]) -> list[dict[str, str]]:
    """One total per currency, in currency order, money as decimal strings."""
    return [{"currency": b["currency"], "amount": money(b["amount"])} for b in balances(accounts)]


def overview(state: dict[str, Any]) -> Published:
    """The published overview of one customer document.

    `version` counts the facts the overview is composed of: the customer's own and those of each
    account it embeds (summed by CustomerProjection.joined). Every fact folded into any of them
    raises it, a rebuild gives the same number (each count is a pure function of the log), and
    it never falls as facts arrive.
    """
    accounts = state.get("accounts") or []
    version = int(state.get("version", 0)) + int(state.get("_accountsVersion", 0))
    times = [t for t in (state.get("updatedAt"), state.get("_accountsUpdatedAt")) if t]
    # Milliseconds, as MongoDB keeps them: a time computed from a freshly folded state must not
    # sort after the same time read back from the view by the next batch.
    newest = max(times, default=_EPOCH)
    newest = newest.replace(microsecond=newest.microsecond // 1000 * 1000)
    data = {
        "customerId": state["id"],
        "name": state.get("name"),
        "email": state.get("email"),
        "deleted": bool(state.get("deleted", False)),
        "accounts": [
            {
                "accountId": a["id"],
                "currency": a.get("currency"),
                "status": a.get("status", "OPEN"),
                "balance": money(a.get("balance", Decimal("0.00"))),
            }
            for a in sorted(accounts, key=lambda a: str(a["id"]))
        ],
        "balances": published_balances(accounts),
        "version": version,
    }
    return Published(data, version, newest)


CUSTOMER_OVERVIEW = Publication(
    type="customer-overview.changed", entity="customer-overview", describe=overview
)
