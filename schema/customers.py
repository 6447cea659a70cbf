"""Customer type, and the `customer` and `customers` queries."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import strawberry

from schema.accounts import Account
from schema.context import Info
from schema.pagination import Connection, check_first, connection, decode_cursor, encode_cursor


@strawberry.type
class Customer:
    id: strawberry.ID
    name: str | None
    email: str | None
    total_balance: Decimal

    @classmethod
    def from_view(cls, doc: dict[str, Any]) -> Customer:
        return cls(
            id=strawberry.ID(doc["id"]),
            name=doc.get("name"),
            email=doc.get("email"),
            total_balance=doc.get("totalBalance", Decimal("0")),
        )

    @strawberry.field
    async def accounts(self, info: Info) -> list[Account]:
        docs = await info.context.views.accounts_of(str(self.id))
        return [Account.from_view(doc) for doc in docs]


@strawberry.type
class CustomerQuery:
    @strawberry.field
    async def customer(self, info: Info, id: strawberry.ID) -> Customer | None:
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
