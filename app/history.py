"""Reading the past from the log: the joined Customer view as of a business time, and the audit
trail of one entity's logged events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from consumers.facts import time_key
from consumers.log import from_log_document
from consumers.projection import fold
from consumers.projections.account import AccountProjection
from consumers.projections.customer import CustomerProjection

Document = dict[str, Any]
# Where a page of events starts after: (timeKey, _id) of the last event of the previous page.
EventPosition = tuple[str, str]


class History:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db

    async def _fold_as_of(
        self, projection: type[AccountProjection] | type[CustomerProjection], key: str, at: str
    ) -> Document | None:
        query = {
            f"data.{projection.key_field}": key,
            "type": {"$in": list(projection.handlers)},
            "timeKey": {"$lte": at},
        }
        events = [from_log_document(d) async for d in self.db.events.find(query)]
        return fold(projection, key, events) if events else None

    async def accounts_as_of(self, customer_id: str, as_of: datetime) -> list[Document]:
        """The customer's accounts, each folded from its events up to `as_of`, by id."""
        at = time_key(as_of)
        join = CustomerProjection.join
        assert join is not None
        # An account belongs to the customer its events name (account.opened does).
        named = await self.db.events.distinct(
            f"data.{AccountProjection.key_field}",
            {
                f"data.{join.on}": customer_id,
                "type": {"$in": list(AccountProjection.handlers)},
                "timeKey": {"$lte": at},
            },
        )
        accounts = []
        for account_id in sorted(str(a) for a in named if a):
            state = await self._fold_as_of(AccountProjection, account_id, at)
            if state is not None and state.get(join.on) == customer_id:
                accounts.append(state)
        return accounts

    async def customer_as_of(self, customer_id: str, as_of: datetime) -> Document | None:
        """The joined Customer view at business time `as_of` (None: not yet there, or deleted)."""
        state = await self._fold_as_of(CustomerProjection, customer_id, time_key(as_of))
        accounts = await self.accounts_as_of(customer_id, as_of)
        if state is None and not accounts:
            return None
        state = CustomerProjection.joined(
            state or CustomerProjection.initial(customer_id), accounts
        )
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
