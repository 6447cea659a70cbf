"""Money per currency: what a customer holds, summed from its account summaries (pure).

Amounts in different currencies are never added: USD 250 and EUR 7 are two totals, not 257.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

Summary = dict[str, Any]


def balances(accounts: list[Summary]) -> list[Summary]:
    """One total per currency, in currency order. An account whose opening is not folded yet
    has no currency and adds to none: its money cannot be counted in any."""
    totals: dict[str, Decimal] = {}
    for account in accounts:
        currency = account.get("currency")
        if currency:
            balance = account.get("balance", Decimal("0.00"))
            totals[currency] = totals.get(currency, Decimal("0.00")) + balance
    return [{"currency": c, "amount": totals[c]} for c in sorted(totals)]


def total_balance(accounts: list[Summary]) -> Decimal | None:
    """The sum when every account holds one currency; None across currencies (an account of
    unknown currency beside others counts as another)."""
    if len({a.get("currency") for a in accounts}) > 1:
        return None
    return sum((a.get("balance", Decimal("0.00")) for a in accounts), Decimal("0.00"))
