"""Reading the past: views as of a business time, and the audit trail of one entity's events.

An account as of a time is read from its indexed rows (the last row at or before the time
gives the balance, later corrections taken back) and from the few non-movement facts in the
log; its history is never folded again. A customer's own facts are few: they are folded.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from app.transactions import Transactions, until
from consumers import replay
from consumers.facts import time_key
from consumers.log import from_log_document
from consumers.projection import fold
from consumers.projections.account import ZERO, AccountProjection
from consumers.projections.customer import CustomerProjection

Document = dict[str, Any]
# Where a page of events starts after: (timeKey, _id) of the last event of the previous page.
EventPosition = tuple[str, str]
_MOVEMENTS = ["account.deposited", "account.withdrawn"]
_STANDING = ["account.opened", "account.closed"]


class History:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db
        self.transactions = Transactions(db)

    def _log(self, account_id: str, types: list[str], bound: str) -> Document:
        return {
            f"data.{AccountProjection.key_field}": account_id,
            "type": {"$in": types},
            "timeKey": {"$lt": bound},
        }

    async def account_as_of(self, account_id: str, as_of: datetime) -> Document | None:
        """The account as it stood at business time `as_of` (None: no event of it yet)."""
        bound = until(as_of)
        folded = self._log(account_id, list(AccountProjection.handlers), bound)
        version = await self.db.events.count_documents(folded)
        if version == 0:
            return None
        newest = await self.db.events.find_one(folded, sort=[("timeKey", DESCENDING)])
        # Opened and closed are few: folding them gives the customer, currency and status.
        standing = [
            from_log_document(d)
            async for d in self.db.events.find(self._log(account_id, _STANDING, bound))
        ]
        state = fold(AccountProjection, account_id, standing)
        currency = state["currency"]
        if currency is None:
            # The earliest in business-time order: ties broken by (source, id) as folds do.
            first = await self.db.events.find_one(
                self._log(account_id, _MOVEMENTS, bound),
                sort=[("timeKey", ASCENDING), ("source", ASCENDING), ("id", ASCENDING)],
            )
            currency = (first or {}).get("data", {}).get("currency")
        past = await self.transactions.past(account_id, as_of)
        last = await self.transactions.last_before(account_id, bound)
        assert newest is not None
        return {
            "id": account_id,
            "customerId": state["customerId"],
            "currency": currency,
            "status": state["status"],
            "balance": past.row(last)["balanceAfter"] if last is not None else ZERO,
            "transactionCount": await self.transactions.count(account_id, bound),
            "version": version,
            # As a stored view holds it (BSON keeps milliseconds).
            "updatedAt": newest["time"],
        }

    async def accounts_as_of(self, customer_id: str, as_of: datetime) -> list[Document]:
        """The customer's accounts as of `as_of`, by id."""
        join = CustomerProjection.join
        assert join is not None
        # An account belongs to the customer its events name (account.opened does).
        named = await self.db.events.distinct(
            f"data.{AccountProjection.key_field}",
            {
                f"data.{join.on}": customer_id,
                "type": {"$in": list(AccountProjection.handlers)},
                "timeKey": {"$lt": until(as_of)},
            },
        )
        found = [await self.account_as_of(str(a), as_of) for a in sorted(named) if a]
        return [a for a in found if a is not None and a.get(join.on) == customer_id]

    async def customer_as_of(self, customer_id: str, as_of: datetime) -> Document | None:
        """The joined Customer view at business time `as_of` (None: not yet there, or deleted)."""
        logged = await replay.history(
            self.db, CustomerProjection, [customer_id], until=time_key(as_of)
        )
        events = logged.get(customer_id, [])
        accounts = await self.accounts_as_of(customer_id, as_of)
        if not events and not accounts:
            return None
        state = CustomerProjection.joined(fold(CustomerProjection, customer_id, events), accounts)
        return state if CustomerProjection.visible(state) else None

    async def events(
        self, subject: str, first: int, after: EventPosition | None, descending: bool
    ) -> tuple[list[Document], bool]:
        """A page of the subject's logged events in business-time order; whether more follow."""
        query: Document = {"subject": subject}
        if after is not None:
            time_at, log_id = after
            beyond = "$lt" if descending else "$gt"
            query["$or"] = [
                {"timeKey": {beyond: time_at}},
                {"timeKey": time_at, "_id": {beyond: log_id}},
            ]
        direction = DESCENDING if descending else ASCENDING
        cursor = (
            self.db.events.find(query)
            .sort([("timeKey", direction), ("_id", direction)])
            .limit(first + 1)
        )
        docs = [doc async for doc in cursor]
        return docs[:first], len(docs) > first
