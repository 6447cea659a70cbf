"""Reading an account's transaction rows: keyset pages, the past, and the change feed.

Rows are ordered by `pos`, the business-time position (time, source, id) of the event that
placed them, indexed with the account: a page is one range read, and a cursor is a position,
so a late row never shifts a page already read. The feed orders rows by the revision
(`_rev`, the account's version when the row last changed) and then by position, so a client
that resumes after its last row sees every later change once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from consumers.facts import time_key
from consumers.projections.account import AccountProjection, signed

Document = dict[str, Any]
ROWS = AccountProjection.rows
assert ROWS is not None
COLLECTION = ROWS.collection
# Just above every position at a given timeKey (positions join their parts with NUL).
_AFTER_TIME = "\x01"


def until(as_of: datetime) -> str:
    """The position bound of everything at or before `as_of` (exclusive)."""
    return time_key(as_of) + _AFTER_TIME


@dataclass(frozen=True)
class Page:
    rows: list[Document]
    has_next: bool
    has_previous: bool


@dataclass
class Past:
    """What rows looked like at a business time: corrections made later are taken back."""

    bound: str
    # Rows at or before the bound that were corrected after it, by position.
    later: list[Document] = field(default_factory=list)

    def amount(self, row: Document) -> tuple[Decimal, bool]:
        earlier = [c for c in row.get("corrections") or [] if c["pos"] < self.bound]
        return (earlier[-1]["amount"] if earlier else row["original"]), bool(earlier)

    def undo_before(self, at: str) -> Decimal:
        """How much later corrections of rows up to position `at` changed the running balance."""
        total = Decimal("0.00")
        for row in self.later:
            if row["pos"] <= at:
                amount, _ = self.amount(row)
                total += signed(row) - signed({**row, "amount": amount})
        return total

    def row(self, row: Document) -> Document:
        amount, corrected = self.amount(row)
        return {
            **row,
            "amount": amount,
            "corrected": corrected,
            "balanceAfter": row["balanceAfter"] - self.undo_before(row["pos"]),
        }


class Transactions:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.rows = db[COLLECTION]

    async def past(self, account_id: str, as_of: datetime) -> Past:
        bound = until(as_of)
        cursor = self.rows.find({"accountId": account_id, "lastCorrection": {"$gte": bound}}).sort(
            "pos", ASCENDING
        )
        return Past(bound, [r async for r in cursor if r["pos"] < bound])

    async def page(
        self,
        account_id: str,
        *,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        past: Past | None = None,
    ) -> Page:
        """Relay's rules: `first` from the oldest (after `after`), `last` from the newest."""
        span: Document = {}
        if after is not None:
            span["$gt"] = after
        upper = [b for b in (before, past.bound if past else None) if b is not None]
        if upper:
            span["$lt"] = min(upper)
        query: Document = {"accountId": account_id}
        if span:
            query["pos"] = span
        newest = last is not None
        size = last if newest else first
        assert size is not None
        if size == 0:
            return Page([], False, False)
        cursor = (
            self.rows.find(query).sort("pos", DESCENDING if newest else ASCENDING).limit(size + 1)
        )
        found = [r async for r in cursor]
        more = len(found) > size
        found = found[:size]
        if newest:
            found.reverse()
        if past is not None:
            found = [past.row(r) for r in found]
        if newest:
            return Page(found, has_next=before is not None, has_previous=more)
        return Page(found, has_next=more, has_previous=after is not None)

    async def count(self, account_id: str, bound: str) -> int:
        return await self.rows.count_documents({"accountId": account_id, "pos": {"$lt": bound}})

    async def last_before(self, account_id: str, bound: str) -> Document | None:
        return await self.rows.find_one(
            {"accountId": account_id, "pos": {"$lt": bound}}, sort=[("pos", DESCENDING)]
        )

    async def changed_since(
        self, account_id: str, rev: int, pos: str, limit: int
    ) -> list[Document]:
        """Rows after the feed position (rev, pos), in feed order."""
        same = self.rows.find({"accountId": account_id, "_rev": rev, "pos": {"$gt": pos}}).sort(
            "pos", ASCENDING
        )
        found = [r async for r in same.limit(limit)]
        if len(found) < limit:
            later = (
                self.rows.find({"accountId": account_id, "_rev": {"$gt": rev}})
                .sort([("_rev", ASCENDING), ("pos", ASCENDING)])
                .limit(limit - len(found))
            )
            found += [r async for r in later]
        return found
