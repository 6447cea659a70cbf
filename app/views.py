"""Reading the views (and, for `asOf`, the log): the only place the schema gets data from."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from app.history import History
from consumers.projections.customer import CustomerProjection

Document = dict[str, Any]


class ViewReader:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db

    async def account(self, account_id: str) -> Document | None:
        return await self.db.accounts.find_one({"_id": account_id})

    async def account_as_of(self, account_id: str, as_of: datetime) -> Document | None:
        """The account as it stood at business time `as_of`, folded from the log."""
        return await History(self.db).account_as_of(account_id, as_of)

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
