"""History from the log: `events(subject, first, after, order)`, the audit trail of an entity,
and the joined Customer view as of a business time (`customer(id, asOf)`)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.scalars import JSON

from app.access import Forbidden
from app.history import History
from schema.accounts import Account
from schema.context import Info
from schema.customers import Customer
from schema.pagination import Connection, check_first, connection, decode_cursor, encode_cursor


@strawberry.enum
class EventOrder(enum.Enum):
    ASC = "ASC"
    DESC = "DESC"


@strawberry.type(description="A Fact Event as factview logged it.")
class LoggedEvent:
    id: strawberry.ID
    source: str
    type: str
    time: datetime
    subject: strawberry.ID | None
    data: JSON
    topic: str | None
    partition: int | None
    offset: int | None
    received_at: datetime

    @classmethod
    def from_log(cls, doc: dict[str, Any]) -> LoggedEvent:
        subject = doc.get("subject")
        return cls(
            id=strawberry.ID(doc["id"]),
            source=doc["source"],
            type=doc["type"],
            # The log's `time` is stored to the millisecond; timeKey keeps the exact instant.
            time=datetime.strptime(doc["timeKey"], "%Y-%m-%dT%H:%M:%S.%f%z"),
            subject=strawberry.ID(subject) if subject is not None else None,
            data=_plain(doc.get("data")),
            topic=doc.get("topic"),
            partition=doc.get("partition"),
            offset=doc.get("offset"),
            received_at=doc["receivedAt"],
        )


def _plain(value: Any) -> Any:
    # JSON carries what the owner sent; anything else the store handed back becomes a string.
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _position(cursor: str) -> tuple[str, str]:
    time_at, sep, log_id = decode_cursor("event", cursor).partition("|")
    if not sep:
        raise GraphQLError(
            f"invalid cursor {cursor!r} for event", extensions={"code": "BAD_CURSOR"}
        )
    return time_at, log_id


async def _may_read_events(info: Info, subject: str) -> None:
    """Staff read any trail; a customer reads its own and its accounts'."""
    views = info.context.views
    principal = views.principal  # raises UNAUTHENTICATED for an anonymous caller
    if principal.role == "staff" or subject == principal.subject:
        return
    # Another customer's account and an unknown subject answer alike: one FORBIDDEN.
    try:
        mine = await views.account(subject) is not None
    except Forbidden:
        mine = False
    if not mine:
        raise Forbidden(f"events of {subject}")


@strawberry.type
class HistoryQuery:
    @strawberry.field
    async def events(
        self,
        info: Info,
        subject: strawberry.ID,
        first: int | None = 20,
        after: str | None = None,
        order: EventOrder = EventOrder.ASC,
    ) -> Connection[LoggedEvent]:
        first = check_first(20 if first is None else first)
        await _may_read_events(info, str(subject))
        position = _position(after) if after is not None else None
        docs, has_next = await History(info.context.views.db).events(
            str(subject), first, position, descending=order is EventOrder.DESC
        )
        items = [
            (encode_cursor("event", f"{d['timeKey']}|{d['_id']}"), LoggedEvent.from_log(d))
            for d in docs
        ]
        return connection(items, has_next)


async def customer_as_of(info: Info, customer_id: str, as_of: datetime) -> Customer | None:
    info.context.views.require_customer(customer_id)  # the same rule as the live customer
    doc = await History(info.context.views.db).customer_as_of(customer_id, as_of)
    if doc is None:
        return None
    customer = Customer.from_view(doc)
    customer.as_of = as_of
    return customer


async def accounts_as_of(info: Info, customer_id: str, as_of: datetime) -> list[Account]:
    docs = await History(info.context.views.db).accounts_as_of(customer_id, as_of)
    return [Account.from_view(doc, as_of) for doc in docs]
