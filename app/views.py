"""Reading the views (and, for `asOf`, the log): the only place the schema gets data from."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from app.history import History
from app.transactions import Page, Past, Transactions
from consumers.projections.customer import CustomerProjection

Document = dict[str, Any]


class ViewReader:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db

    async def account(self, account_id: str) -> Document | None:
        return await self.db.accounts.find_one({"_id": account_id})

    async def account_as_of(self, account_id: str, as_of: datetime) -> Document | None:
        """The account as it stood at business time `as_of`, read from its rows and the log."""
        return await History(self.db).account_as_of(account_id, as_of)

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
        """A page of the account's transactions (as they stood at `as_of`, if given)."""
        reader = Transactions(self.db)
        past: Past | None = await reader.past(account_id, as_of) if as_of is not None else None
        return await reader.page(
            account_id, first=first, after=after, last=last, before=before, past=past
        )

    async def transactions_changed(
        self, account_id: str, rev: int, pos: str, limit: int
    ) -> list[Document]:
        """The account's rows changed after the feed position (rev, pos), in feed order."""
        return await Transactions(self.db).changed_since(account_id, rev, pos, limit)

    async def customer(self, customer_id: str) -> Document | None:
        doc = await self.db.customers.find_one({"_id": customer_id})
        if doc is None or not CustomerProjection.visible(doc):
            return None
        return doc

    async def customers(
        self, first: int, after: str | None, only: str | None = None
    ) -> tuple[list[Document], bool]:
        """One page of visible customers by id (or just `only`), and whether more follow."""
        query: Document = {"deleted": {"$ne": True}}
        if after is not None:
            query["_id"] = {"$gt": after}
        if only is not None:
            query["$and"] = [{"_id": only}]
        cursor = self.db.customers.find(query).sort("_id", ASCENDING).limit(first + 1)
        docs = [doc async for doc in cursor]
        return docs[:first], len(docs) > first

    async def accounts_of(self, customer_id: str) -> list[Document]:
        cursor = self.db.accounts.find({"customerId": customer_id}).sort("_id", ASCENDING)
        return [doc async for doc in cursor]
