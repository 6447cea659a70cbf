"""Account and Transaction types, and the `account` query."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from schema.consistency import TOKEN_DESCRIPTION, await_token
from schema.context import Info
from schema.pagination import Connection, check_first, connection, decode_cursor, encode_cursor
from schema.quarantine import Quarantine

if TYPE_CHECKING:
    from schema.customers import Customer


@strawberry.enum
class AccountStatus(enum.Enum):
    OPEN = "OPEN"
    CLOSED = "CLOSED"


@strawberry.enum
class TransactionKind(enum.Enum):
    DEPOSIT = "DEPOSIT"
    WITHDRAWAL = "WITHDRAWAL"


@strawberry.type
class Transaction:
    id: strawberry.ID
    kind: TransactionKind
    amount: Decimal
    occurred_at: datetime
    balance_after: Decimal
    corrected: bool

    @classmethod
    def from_view(cls, tx: dict[str, Any]) -> Transaction:
        return cls(
            id=strawberry.ID(tx["id"]),
            kind=TransactionKind(tx["kind"]),
            amount=tx["amount"],
            occurred_at=tx["occurredAt"],
            balance_after=tx["balanceAfter"],
            corrected=tx["corrected"],
        )


@strawberry.type
class Account:
    id: strawberry.ID
    customer_id: strawberry.ID | None
    currency: str | None
    status: AccountStatus
    balance: Decimal
    version: int
    updated_at: datetime | None
    view: strawberry.Private[dict[str, Any]]
    # Set when the account's fold raised: it is stale until refolded (README "Quarantine").
    quarantine: Quarantine | None = None

    @classmethod
    def from_view(cls, doc: dict[str, Any]) -> Account:
        customer_id = doc.get("customerId")
        return cls(
            id=strawberry.ID(doc["id"]),
            customer_id=strawberry.ID(customer_id) if customer_id else None,
            currency=doc.get("currency"),
            status=AccountStatus(doc.get("status", "OPEN")),
            balance=doc.get("balance", Decimal("0.00")),
            version=doc.get("version", 0),
            updated_at=doc.get("updatedAt"),
            view=doc,
            quarantine=Quarantine.of(doc),
        )

    @strawberry.field
    async def customer(
        self, info: Info
    ) -> Annotated[Customer, strawberry.lazy("schema.customers")] | None:
        from schema.customers import Customer

        if not self.customer_id:
            return None
        doc = await info.context.views.customer(str(self.customer_id))
        return Customer.from_view(doc) if doc else None

    @strawberry.field
    def transactions(
        self, first: int | None = 50, after: str | None = None
    ) -> Connection[Transaction]:
        first = check_first(50 if first is None else first)
        start = 0
        if after is not None:
            value = decode_cursor("transaction", after)
            start = int(value) + 1 if value.isdigit() else 0
        txs = self.view.get("transactions", [])
        page = txs[start : start + first]
        items = [
            (encode_cursor("transaction", str(start + i)), Transaction.from_view(tx))
            for i, tx in enumerate(page)
        ]
        return connection(items, start + first < len(txs))


@strawberry.type
class AccountQuery:
    @strawberry.field
    async def account(
        self,
        info: Info,
        id: strawberry.ID,
        as_of: datetime | None = None,
        consistency_token: Annotated[
            str | None, strawberry.argument(description=TOKEN_DESCRIPTION)
        ] = None,
    ) -> Account | None:
        await await_token(info, consistency_token)
        views = info.context.views
        doc = await (views.account_as_of(str(id), as_of) if as_of else views.account(str(id)))
        return Account.from_view(doc) if doc else None
