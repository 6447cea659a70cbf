"""Authorization on every node and edge: the views as one principal may see them.

Resolvers read through GuardedViews only, so no path through the graph (by id, a connection,
an edge, a subscription, a mutation's payload) can reach a document its caller may not see.
A denied object reads as null plus a FORBIDDEN error, never with its data.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from graphql import GraphQLError

from app.auth import Principal
from app.transactions import Page
from app.views import ViewReader

Document = dict[str, Any]


class Unauthenticated(GraphQLError):
    def __init__(self, reason: str = "authentication required") -> None:
        super().__init__(reason, extensions={"code": "UNAUTHENTICATED"})


class Forbidden(GraphQLError):
    def __init__(self, what: str) -> None:
        super().__init__(f"not allowed: {what}", extensions={"code": "FORBIDDEN"})


class GuardedViews(ViewReader):
    def __init__(self, reader: ViewReader, principal: Principal | None) -> None:
        super().__init__(reader.db)
        self._principal = principal

    @property
    def caller(self) -> Principal | None:
        return self._principal

    @property
    def principal(self) -> Principal:
        if self._principal is None:
            raise Unauthenticated()
        return self._principal

    def may_see_account(self, doc: Document) -> bool:
        return self.principal.may_see_customer(doc.get("customerId"))

    def require_customer(self, customer_id: str) -> None:
        """Refuse, before any read, what this principal may not see or change."""
        if not self.principal.may_see_customer(customer_id):
            raise Forbidden(f"customer {customer_id}")

    def require_staff(self, what: str) -> None:
        if self.principal.role != "staff":
            raise Forbidden(what)

    async def require_account(self, account_id: str) -> Document | None:
        """The account if this principal may see it (None if unknown and staff)."""
        doc = await super().account(account_id)
        # An unknown account has no owner to check against: only staff may touch it.
        if (doc is None and self.principal.role != "staff") or (
            doc is not None and not self.may_see_account(doc)
        ):
            raise Forbidden(f"account {account_id}")
        return doc

    async def account(self, account_id: str) -> Document | None:
        principal = self.principal  # an anonymous caller learns nothing, not even absence
        doc = await super().account(account_id)
        if doc is not None and not principal.may_see_customer(doc.get("customerId")):
            raise Forbidden(f"account {account_id}")
        return doc

    async def account_by_id(self, account_id: str) -> Document | None:
        """A read by id: a customer cannot tell another's account from a missing one (both
        FORBIDDEN, same message); staff read a missing one as None."""
        doc = await self.account(account_id)
        if doc is None and self.principal.role != "staff":
            raise Forbidden(f"account {account_id}")
        return doc

    async def account_as_of(self, account_id: str, as_of: datetime) -> Document | None:
        await self.account_by_id(account_id)
        doc = await super().account_as_of(account_id, as_of)
        if doc is not None and not self.may_see_account(doc):
            raise Forbidden(f"account {account_id}")
        return doc

    async def transactions(
        self,
        account_id: str,
        *,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        as_of: datetime | None = None,
    ) -> Page:
        await self.account(account_id)
        return await super().transactions(
            account_id, first=first, after=after, last=last, before=before, as_of=as_of
        )

    async def transactions_changed(
        self, account_id: str, rev: int, pos: str, limit: int
    ) -> list[Document]:
        await self.account(account_id)
        return await super().transactions_changed(account_id, rev, pos, limit)

    async def customer(self, customer_id: str) -> Document | None:
        self.require_customer(customer_id)
        return await super().customer(customer_id)

    async def customers(
        self, first: int, after: str | None, only: str | None = None
    ) -> tuple[list[Document], bool]:
        # A customer's connection holds just itself; staff page through everyone.
        if self.principal.role != "staff":
            only = self.principal.subject
        return await super().customers(first, after, only)

    async def accounts_of(self, customer_id: str) -> list[Document]:
        self.require_customer(customer_id)
        return await super().accounts_of(customer_id)
