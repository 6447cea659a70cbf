"""`accountUpdated` and `customerUpdated`: the view's state now, then each time it changes.

The first message is the current state (when the document exists), so a client never misses
a change between its last query and its subscription. A customer who is deleted (or a
document that disappears) ends the subscription: the client receives `complete`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any, TypeVar

import strawberry
from graphql import GraphQLError

from app.live import HubStopped, SubscriberDropped
from consumers.projections.customer import CustomerProjection
from schema.accounts import (
    PAGE_CURSOR,
    Account,
    Transaction,
    page_cursor,
    transaction_position,
)
from schema.context import Info
from schema.customers import Customer
from schema.pagination import Edge, decode_cursor, encode_cursor

T = TypeVar("T")
Document = dict[str, Any]
FEED_CURSOR = "transactions-feed"
# Rows read per round trip while a feed catches up.
_FEED_CHUNK = 100
# Above every position: a feed position (rev, _END) is "every row of revision rev".
_END = "\U0010ffff"


def _feed_cursor(row: Document) -> str:
    return encode_cursor(FEED_CURSOR, f"{row['_rev']}|{row['pos']}")


def _feed_position(cursor: str) -> tuple[int, str]:
    rev, sep, pos = decode_cursor(FEED_CURSOR, cursor).partition("|")
    if not sep or not rev.isdigit() or len(rev) > 18:
        raise GraphQLError(f"invalid feed cursor {cursor!r}", extensions={"code": "BAD_CURSOR"})
    return int(rev), pos


def _edge(row: Document, cursor: str) -> Edge[Transaction]:
    return Edge(cursor=cursor, node=Transaction.from_view(row))


async def _transaction_feed(
    info: Info, account_id: str, after: str | None
) -> AsyncGenerator[Edge[Transaction], None]:
    """Rows after the cursor, then every row the folds change, each once, in feed order.

    A page cursor (or none) starts with the rows after that position in business-time order,
    each with its page cursor; then, and after a feed cursor, rows come in the order they
    changed (revision, then position), each with a feed cursor to resume from.
    """
    views = info.context.views
    hub = info.context.live
    if hub is None:
        raise GraphQLError("live updates are not enabled", extensions={"code": "UNAVAILABLE"})
    feed: tuple[int, str] | None = None
    start: str | None = None
    if after is not None and decode_cursor_kind(after) == FEED_CURSOR:
        feed = _feed_position(after)
    elif after is not None:
        start = transaction_position(after)
    async with hub.subscribe("accounts", account_id) as subscriber:
        changes = aiter(subscriber)
        account = await views.account_by_id(account_id)  # FORBIDDEN unless the caller may see it
        # Rows sent while reading history that changed after it began: not sent again.
        sent: dict[str, int] = {}
        if feed is None:
            since = (account or {}).get("version", 0)
            feed = (since, _END)
            while True:
                page = await views.transactions(account_id, first=_FEED_CHUNK, after=start)
                for row in page.rows:
                    if row["_rev"] > since:
                        sent[row["_id"]] = row["_rev"]
                    yield _edge(row, page_cursor(row))
                if not page.has_next:
                    break
                start = page.rows[-1]["pos"]
        try:
            while True:
                rows = await views.transactions_changed(account_id, *feed, _FEED_CHUNK)
                for row in rows:
                    feed = (row["_rev"], row["pos"])
                    if sent.get(row["_id"]) == row["_rev"]:
                        continue
                    yield _edge(row, _feed_cursor(row))
                if len(rows) == _FEED_CHUNK:
                    continue
                # Every change to the account's rows also changes the account in the same
                # transaction: its change is the signal to read the rows again.
                doc = await anext(changes)
                if doc is not None and not views.may_see_account(doc):
                    return
        except SubscriberDropped as exc:
            raise GraphQLError(str(exc), extensions={"code": "SLOW_SUBSCRIBER"}) from None
        except HubStopped as exc:
            raise GraphQLError(str(exc), extensions={"code": "SHUTTING_DOWN"}) from None


def decode_cursor_kind(cursor: str) -> str:
    """The kind a cursor names (`transaction` or the feed's), without checking the rest."""
    for kind in (FEED_CURSOR, PAGE_CURSOR):
        try:
            decode_cursor(kind, cursor)
        except GraphQLError:
            continue
        return kind
    return PAGE_CURSOR


async def _follow(
    info: Info,
    collection: str,
    doc_id: str,
    read: Callable[[str], Awaitable[Document | None]],
    visible: Callable[[Document], bool],
    to_type: Callable[[Document], T],
) -> AsyncGenerator[T, None]:
    hub = info.context.live
    if hub is None:
        raise GraphQLError("live updates are not enabled", extensions={"code": "UNAVAILABLE"})
    # Register before reading, so a change committed in between is not lost.
    async with hub.subscribe(collection, doc_id) as subscriber:
        last = await read(doc_id)
        try:
            if last is not None:
                yield to_type(last)
            async for doc in subscriber:
                if doc is None or not visible(doc):
                    return  # gone (deleted): the stream completes
                if doc == last:
                    continue  # already sent: read at start, then seen again on the stream
                last = doc
                yield to_type(doc)
        except SubscriberDropped as exc:
            raise GraphQLError(str(exc), extensions={"code": "SLOW_SUBSCRIBER"}) from None
        except HubStopped as exc:
            raise GraphQLError(str(exc), extensions={"code": "SHUTTING_DOWN"}) from None


@strawberry.type
class Subscription:
    # The account's state now, then each time it changes.
    @strawberry.subscription
    async def account_updated(self, info: Info, id: strawberry.ID) -> AsyncGenerator[Account, None]:
        views = info.context.views
        async for account in _follow(
            # Ownership is checked again on each change (staff may follow an account not yet
            # opened; a customer gets FORBIDDEN for it, as for another's, so ids tell nothing).
            info,
            "accounts",
            str(id),
            views.account_by_id,
            views.may_see_account,
            Account.from_view,
        ):
            yield account

    # Rows after the cursor first, then each new or changed row (late rows and the rows whose
    # balanceAfter they changed), each with its cursor: resuming from the last one misses
    # nothing and repeats nothing.
    @strawberry.subscription
    async def account_transactions(
        self, info: Info, account_id: strawberry.ID, after: str | None = None
    ) -> AsyncGenerator[Edge[Transaction], None]:
        async for edge in _transaction_feed(info, str(account_id), after):
            yield edge

    # The customer's state now, then each time it changes; completes when the customer is deleted.
    @strawberry.subscription
    async def customer_updated(
        self, info: Info, id: strawberry.ID
    ) -> AsyncGenerator[Customer, None]:
        views = info.context.views
        async for customer in _follow(
            info,
            "customers",
            str(id),
            views.customer,
            CustomerProjection.visible,
            Customer.from_view,
        ):
            yield customer
