"""How fresh each view is: the newest business time folded into it, read from the views.

Any instance can answer, consumer or not, because the answer lives in MongoDB. Reads are
cached for a moment so a busy API does not ask on every request.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any

from pymongo import DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from consumers.projection import Projection
from consumers.projections import PROJECTIONS

Document = dict[str, Any]


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
        # A view that embeds another (a customer its accounts) changes when the embedded
        # documents do, though its own updatedAt counts only its own events.
        for projection in self.projections:
            joined = projection.join.view if projection.join is not None else None
            if joined in newest:
                own = newest.get(projection.name)
                newest[projection.name] = max(newest[joined], own) if own else newest[joined]
        self._newest, self._read_at, self._read_started = newest, time.monotonic(), started
