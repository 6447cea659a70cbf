"""How fresh each view is: the newest business time folded into it, read from the views.

Any instance can answer, consumer or not, because the answer lives in MongoDB. Reads are
cached for a moment so a busy API does not ask on every request.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from datetime import datetime
from typing import Any

from pymongo import DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from consumers.projection import Projection
from consumers.projections import PROJECTIONS

Document = dict[str, Any]

# What one customer may read of each view: its own document, its own accounts.
_OWN = {"customer": "_id", "account": "customerId"}
_CACHED_SUBJECTS = 4096


class Freshness:
    def __init__(
        self,
        db: AsyncDatabase[Document],
        projections: tuple[type[Projection], ...] = PROJECTIONS,
        max_age_seconds: float = 1.0,
    ) -> None:
        self.db = db
        self.projections = projections
        self.max_age = max_age_seconds
        self._read_at = float("-inf")
        self._read_started = float("-inf")
        self._newest: dict[str, datetime] = {}
        # One read at a time: when the cache expires under load, every request in flight
        # would otherwise ask at once (a sorted find_one costs SecantusDB ~50-100 ms; 32
        # requests at once stalled them all for ~3 s).
        self._reading = asyncio.Lock()
        self._by_subject: OrderedDict[str, tuple[float, dict[str, datetime]]] = OrderedDict()

    async def newest(self, fresh: bool = False) -> dict[str, datetime]:
        """View name → newest folded event time (views with nothing folded are absent).

        `fresh`: from a read that began after this call, not the cache; a mutation's answer
        must not say its view is older than the write it just folded.
        """
        asked = time.monotonic()
        if fresh or asked - self._read_at > self.max_age:
            async with self._reading:
                # Someone else may have read meanwhile: late enough for this caller?
                if self._read_started < asked if fresh else self._expired():
                    await self._read()
        return dict(self._newest)

    def _expired(self) -> bool:
        return time.monotonic() - self._read_at > self.max_age

    async def newest_for(self, subject: str, fresh: bool = False) -> dict[str, datetime]:
        """Like newest(), over what one customer may read: when anyone else acted stays hidden."""
        now = time.monotonic()
        cached = self._by_subject.get(subject)
        if not fresh and cached is not None and now - cached[0] <= self.max_age:
            return dict(cached[1])
        newest: dict[str, datetime] = {}
        for projection in self.projections:
            field = _OWN.get(projection.name)
            if field is None:
                continue
            doc = await self.db[projection.collection].find_one(
                {field: subject, "updatedAt": {"$ne": None}},
                {"updatedAt": 1},
                sort=[("updatedAt", DESCENDING)],
            )
            if doc is not None:
                newest[projection.name] = doc["updatedAt"]
        newest = self._with_joins(newest)
        self._by_subject[subject] = (now, newest)
        self._by_subject.move_to_end(subject)
        while len(self._by_subject) > _CACHED_SUBJECTS:
            self._by_subject.popitem(last=False)
        return dict(newest)

    async def _read(self) -> None:
        started = time.monotonic()
        newest: dict[str, datetime] = {}
        for projection in self.projections:
            doc = await self.db[projection.collection].find_one(
                {"updatedAt": {"$ne": None}},
                {"updatedAt": 1},
                sort=[("updatedAt", DESCENDING)],
            )
            if doc is not None:
                newest[projection.name] = doc["updatedAt"]
        newest = self._with_joins(newest)
        self._newest, self._read_at, self._read_started = newest, time.monotonic(), started

    def _with_joins(self, newest: dict[str, datetime]) -> dict[str, datetime]:
        """A view that embeds another (a customer its accounts) changes when the embedded
        documents do, though its own updatedAt counts only its own events."""
        for projection in self.projections:
            joined = projection.join.view if projection.join is not None else None
            if joined in newest:
                own = newest.get(projection.name)
                newest[projection.name] = max(newest[joined], own) if own else newest[joined]
        return newest
