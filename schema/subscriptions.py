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
from schema.accounts import Account
from schema.context import Info
from schema.customers import Customer

T = TypeVar("T")
Document = dict[str, Any]


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
