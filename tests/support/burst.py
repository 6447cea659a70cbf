"""A workload sent while consumers are killed: the accounts stream in slices (one per life), what
was sent remembered by where it landed, progress read from the log, and the end reached when the
views equal the reference fold."""

from __future__ import annotations

import random
from typing import Any

from aiokafka import AIOKafkaProducer
from cloudevents.core.v1.event import CloudEvent
from pymongo.asynchronous.database import AsyncDatabase

from tests.support import oracle, stored
from tests.support.facts import message
from tests.support.stack import eventually
from tests.support.workload import Workload

Ids = tuple[str, str]


class Burst:
    """A producer that remembers which event sits at each (topic, partition, offset)."""

    def __init__(self, bootstrap: str, db: AsyncDatabase[Any], load: Workload, lives: int) -> None:
        self.producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        self.db, self.load, self.lives = db, load, lives
        self.at: dict[tuple[str, int, int], Ids] = {}

    async def __aenter__(self) -> Burst:
        await self.producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.producer.stop()

    def slice(self, life: int) -> list[CloudEvent]:
        """The accounts events for one life (counting from 0): kills land mid-flow."""
        return self.load.accounts[life :: self.lives]

    async def send(self, topic: str, events: list[CloudEvent]) -> None:
        for event in events:
            msg = message(event)
            key = msg.key.encode() if isinstance(msg.key, str) else msg.key
            meta = await self.producer.send_and_wait(
                topic, msg.value, key=key, headers=list(msg.headers.items())
            )
            ids = (str(event.get_source()), str(event.get_id()))
            self.at[(topic, meta.partition, meta.offset)] = ids

    @property
    def ids(self) -> set[Ids]:
        return set(self.at.values())

    async def logged(self) -> int:
        return await self.db.events.count_documents({})

    async def logged_ids(self) -> set[Ids]:
        return {(e.source, e.id) for e in await stored.read_log(self.db)}

    async def progress(self, rng: random.Random, low: int, high: int, timeout: float) -> None:
        """Until the log holds a random number more events (all sent, at most): a kill after this
        lands mid-batch, mid-commit, anywhere."""
        target = min(await self.logged() + rng.randrange(low, high), len(self.ids))
        await eventually(self.logged, lambda n: n >= target, timeout)

    async def folded(self, expected: oracle.Views, timeout: float = 90) -> None:
        """Until every distinct event is logged and the views equal the reference fold."""

        async def mismatch() -> list[str]:
            if await self.logged() < len(self.load.unique_ids):
                return ["still catching up"]
            return oracle.differences(expected, await stored.read_views(self.db))

        await eventually(mismatch, lambda m: m == [], timeout=timeout)
