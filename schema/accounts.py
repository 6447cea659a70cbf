"""Account and Transaction types, and the `account` query."""

from __future__ import annotations

import enum
import re
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from graphql import GraphQLError

from schema.consistency import TOKEN_DESCRIPTION, await_token
from schema.context import Info
from schema.pagination import (
    Connection,
    check_first,
    check_last,
    connection,
    decode_cursor,
    encode_cursor,
)
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


# A row's position: timeKey, source and event id joined by NUL (consumers.facts.position).
_POSITION = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z\x00[^\x00]*\x00[^\x00]*")
PAGE_CURSOR = "transaction"


def _bad_cursor(cursor: str) -> GraphQLError:
    return GraphQLError(f"invalid transaction cursor {cursor!r}", extensions={"code": "BAD_CURSOR"})


def transaction_position(cursor: str) -> str:
    """The row position a page cursor names, or BAD_CURSOR."""
    position = decode_cursor(PAGE_CURSOR, cursor)
    if not _POSITION.fullmatch(position):
        raise _bad_cursor(cursor)
    return position


def page_cursor(row: dict[str, Any]) -> str:
    return encode_cursor(PAGE_CURSOR, row["pos"])


@strawberry.type
class Account:
    id: strawberry.ID
    customer_id: strawberry.ID | None
    currency: str | None
    status: AccountStatus
    balance: Decimal
    version: int
    updated_at: datetime | None
    transaction_count: int
    view: strawberry.Private[dict[str, Any]]
    # Set when the account was read as of a business time: its transactions are read likewise.
    as_of: strawberry.Private[datetime | None] = None
    # Set when the account's fold raised: it is stale until refolded (README "Quarantine").
    quarantine: Quarantine | None = None

    @classmethod
    def from_view(cls, doc: dict[str, Any], as_of: datetime | None = None) -> Account:
        customer_id = doc.get("customerId")
        return cls(
            id=strawberry.ID(doc["id"]),
            customer_id=strawberry.ID(customer_id) if customer_id else None,
            currency=doc.get("currency"),
            status=AccountStatus(doc.get("status", "OPEN")),
            balance=doc.get("balance", Decimal("0.00")),
            version=doc.get("version", 0),
            updated_at=doc.get("updatedAt"),
            transaction_count=doc.get("transactionCount", 0),
            view=doc,
            as_of=as_of,
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

    # Relay pages in business-time order (oldest first): first/after from the oldest,
    # last/before from the newest. Cursors are positions (time, source, id): a late
    # transaction never shifts a page already read, and a cursor survives a rebuild.
    @strawberry.field
    async def transactions(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Transaction]:
        if first is not None and last is not None:
            raise GraphQLError(
                "pass first or last, not both", extensions={"code": "BAD_USER_INPUT"}
            )
        if last is None:
            first = check_first(50 if first is None else first)
        else:
            last = check_last(last)
        page = await info.context.views.transactions(
            str(self.id),
            first=first,
            after=transaction_position(after) if after is not None else None,
            last=last,
            before=transaction_position(before) if before is not None else None,
            as_of=self.as_of,
        )
        items = [(page_cursor(row), Transaction.from_view(row)) for row in page.rows]
        return connection(items, page.has_next, page.has_previous)


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
        views = info.context.views
        # A foreign account is refused before any wait (a missing one may be what the write made).
        await await_token(info, consistency_token, lambda: views.account(str(id)))
        doc = await (views.account_as_of(str(id), as_of) if as_of else views.account_by_id(str(id)))
        return Account.from_view(doc, as_of) if doc else None
