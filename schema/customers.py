"""Customer type, and the `customer` and `customers` queries."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Annotated, Any

import strawberry

from consumers.projections.balances import balances as balances_of
from consumers.projections.balances import total_balance as total_balance_of
from schema.accounts import Account
from schema.consistency import TOKEN_DESCRIPTION, await_token
from schema.context import Info
from schema.pagination import Connection, check_first, connection, decode_cursor, encode_cursor
from schema.quarantine import Quarantine


@strawberry.type(description="What a customer holds in one currency.")
class CurrencyBalance:
    currency: str
    amount: Decimal


@strawberry.type
class Customer:
    id: strawberry.ID
    name: str | None
    email: str | None
    balances: list[CurrencyBalance] = strawberry.field(
        description="One total per currency, by currency."
    )
    total_balance: Decimal | None = strawberry.field(
        description="The sum of the balances when every account holds one currency; "
        "null when they hold several.",
        deprecation_reason="Sums across currencies are null; use `balances`.",
    )
    # Set when the customer was read as of a business time: its accounts are read likewise.
    as_of: strawberry.Private[datetime | None] = None
    # Set when the customer's fold raised: it is stale until refolded (README "Quarantine").
    quarantine: Quarantine | None = None

    @classmethod
    def from_view(cls, doc: dict[str, Any]) -> Customer:
        accounts = doc.get("accounts", [])
        if "balances" in doc:
            totals, total = doc["balances"], doc.get("totalBalance")
        else:  # stored by an older fold, until the rebuild its version change started swaps in
            totals, total = balances_of(accounts), total_balance_of(accounts)
        return cls(
            id=strawberry.ID(doc["id"]),
            name=doc.get("name"),
            email=doc.get("email"),
            balances=[CurrencyBalance(currency=b["currency"], amount=b["amount"]) for b in totals],
            total_balance=total,
            quarantine=Quarantine.of(doc),
        )

    @strawberry.field
    async def accounts(self, info: Info) -> list[Account]:
        if self.as_of is not None:
            past = await info.context.views.accounts_as_of(str(self.id), self.as_of)
            return [Account.from_view(doc, self.as_of) for doc in past]
        docs = await info.context.views.accounts_of(str(self.id))
        return [Account.from_view(doc) for doc in docs]


async def _customer_as_of(info: Info, customer_id: str, as_of: datetime) -> Customer | None:
    doc = await info.context.views.customer_as_of(customer_id, as_of)
    if doc is None:
        return None
    customer = Customer.from_view(doc)
    customer.as_of = as_of
    return customer


async def _require_customer(info: Info, customer_id: str) -> None:
    info.context.views.require_customer(customer_id)


@strawberry.type
class CustomerQuery:
    @strawberry.field
    async def customer(
        self,
        info: Info,
        id: strawberry.ID,
        consistency_token: Annotated[
            str | None, strawberry.argument(description=TOKEN_DESCRIPTION)
        ] = None,
        as_of: datetime | None = None,
    ) -> Customer | None:
        await await_token(info, consistency_token, partial(_require_customer, info, str(id)))
        if as_of is not None:
            return await _customer_as_of(info, str(id), as_of)
        doc = await info.context.views.customer(str(id))
        return Customer.from_view(doc) if doc else None

    @strawberry.field
    async def customers(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> Connection[Customer]:
        first = check_first(20 if first is None else first)
        after_id = decode_cursor("customer", after) if after is not None else None
        docs, has_next = await info.context.views.customers(first, after_id)
        items = [(encode_cursor("customer", d["id"]), Customer.from_view(d)) for d in docs]
        return connection(items, has_next)
