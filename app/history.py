"""Reading the past from the log: the joined Customer view as of a business time, and the audit
trail of one entity's logged events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from consumers import replay
from consumers.facts import time_key
from consumers.projection import Projection, fold
from consumers.projections.account import AccountProjection
from consumers.projections.customer import CustomerProjection

Document = dict[str, Any]
# Where a page of events starts after: (timeKey, _id) of the last event of the previous page.
EventPosition = tuple[str, str]


class History:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db

    async def _fold_as_of(
        self, projection: type[Projection], keys: list[str], at: str
    ) -> dict[str, Document]:
        """Each key folded from its events up to `at` (keys with none are absent), one read."""
        logged = await replay.history(self.db, projection, keys, until=at)
        return {key: fold(projection, key, events) for key, events in logged.items() if events}

    async def account_as_of(self, account_id: str, as_of: datetime) -> Document | None:
        """The account as it stood at business time `as_of`."""
        folded = await self._fold_as_of(AccountProjection, [account_id], time_key(as_of))
        return folded.get(account_id)

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
        folded = await self._fold_as_of(AccountProjection, [str(a) for a in named if a], at)
        return [state for _, state in sorted(folded.items()) if state.get(join.on) == customer_id]

    async def customer_as_of(self, customer_id: str, as_of: datetime) -> Document | None:
        """The joined Customer view at business time `as_of` (None: not yet there, or deleted)."""
        folded = await self._fold_as_of(CustomerProjection, [customer_id], time_key(as_of))
        state = folded.get(customer_id)
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
