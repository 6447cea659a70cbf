"""Which consumer folds which partition, recorded in MongoDB, so a successor takes over at once.

Kafka assigns partitions; this module makes the assignment hold in the database too:

- Each consumer process is an instance (host:pid:random) with one MongoDB session of its own,
  used for every batch transaction. On each assignment it takes a new group-wide `epoch` and
  claims its partitions in `partition_owners` (instance, epoch, session id).
- A claim of a partition whose previous owner never released it (it died) ends that owner's
  open transaction at once with `killSessions`, instead of waiting for the server to reap it
  (`transactionLifetimeLimitSeconds`, 60 s by default): its writes no longer block the successor.
- A live consumer losing partitions finishes its batch first, then releases them (the runner
  waits a bounded time: a batch stuck behind a dead owner's transaction is let go unreleased,
  so its successor kills that session too, and the fence refuses the batch).
- Every batch transaction checks (and bumps) the owner record of each partition it holds, so a
  consumer that lost a partition can never commit a batch of it: one owner at a time. Each
  logged event carries its consumer and epoch, so the log shows who folded what.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

import structlog
from pymongo import ReturnDocument, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, PyMongoError

from consumers.decoding import RawRecord
from consumers.document import Document
from consumers.facts import FactEvent

log = structlog.get_logger("factview.consumer")
Partition = tuple[str, int]


class Fenced(Exception):
    """Partitions of this batch now belong to another consumer; they must not be committed."""

    def __init__(self, lost: set[Partition]) -> None:
        super().__init__(f"partitions owned by another consumer: {sorted(lost)}")
        self.lost = lost


def new_instance_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def partitions_of(
    events: Iterable[FactEvent], records: Iterable[RawRecord]
) -> dict[Partition, int]:
    """Each partition a batch holds, with its highest offset."""
    highest: dict[Partition, int] = {}
    for event in events:
        if event.position is not None:
            key = (event.position.topic, event.position.partition)
            highest[key] = max(highest.get(key, -1), event.position.offset)
    for record in records:
        key = (record.topic, record.partition)
        highest[key] = max(highest.get(key, -1), record.offset)
    return highest


class Ownership:
    def __init__(
        self, db: AsyncDatabase[Document], group: str, instance: str | None = None
    ) -> None:
        self.db = db
        self.group = group
        self.instance = instance or new_instance_id()
        self.epoch = 0
        self.session: AsyncClientSession | None = None
        self.owned: set[Partition] = set()
        # Set once the current assignment is claimed: batches wait for it (aiokafka may hand
        # out records of a new assignment before its listener has finished).
        self.claimed = asyncio.Event()

    def _id(self, partition: Partition) -> str:
        return f"{self.group}:{partition[0]}:{partition[1]}"

    def open(self) -> None:
        """This consumer's one session: its id is what a successor kills."""
        if self.session is None:
            self.session = self.db.client.start_session()

    async def close(self) -> None:
        if self.session is not None:
            await self.session.end_session()
            self.session = None

    @property
    def lsid(self) -> Document | None:
        return dict(self.session.session_id) if self.session is not None else None

    def stamp(self) -> Document:
        """Fields every event this consumer logs carries."""
        return {"consumer": self.instance, "epoch": self.epoch}

    async def claim(self, partitions: set[Partition]) -> None:
        """Own `partitions` under a new epoch; end the open transactions of dead previous owners.

        Retried until it succeeds: consuming before the claim would only be fenced.
        """
        delay = 0.1
        while True:
            try:
                await self._claim(partitions)
                self.claimed.set()
                return
            except PyMongoError as exc:
                log.warning("claiming partitions failed, retrying", error=str(exc), retry_in=delay)
                await asyncio.sleep(delay)  # backoff while the database is away
                delay = min(delay * 2, 2.0)

    async def _claim(self, partitions: set[Partition]) -> None:
        self.open()
        counter = await self.db.consumer_groups.find_one_and_update(
            {"_id": self.group},
            {"$inc": {"epoch": 1}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        assert counter is not None  # upserted
        self.epoch = int(counter["epoch"])
        self.owned = set(partitions)
        if not partitions:
            return
        ids = {self._id(p): p for p in partitions}
        previous = [d async for d in self.db.partition_owners.find({"_id": {"$in": list(ids)}})]
        unreleased = [
            d
            for d in previous
            if d.get("lsid") is not None
            and d.get("instance") != self.instance
            and d.get("epoch", 0) < self.epoch
        ]
        if unreleased:
            # They never released: dead (or cut off). Their open transaction, if any, ends now.
            await self.db.client.admin.command("killSessions", [d["lsid"] for d in unreleased])
            log.info(
                "ended previous owners' sessions",
                instances=sorted({d["instance"] for d in unreleased}),
                partitions=sorted(d["_id"] for d in unreleased),
            )
        now = datetime.now(UTC)
        for doc_id, (topic, partition) in ids.items():
            fields = {
                "group": self.group,
                "topic": topic,
                "partition": partition,
                "instance": self.instance,
                "epoch": self.epoch,
                "lsid": self.lsid,
                "since": now,
            }
            taken = await self.db.partition_owners.update_one(
                {"_id": doc_id, "epoch": {"$lt": self.epoch}}, {"$set": fields}
            )
            if taken.matched_count == 0:
                try:
                    await self.db.partition_owners.insert_one({"_id": doc_id, **fields})
                except DuplicateKeyError:
                    # A newer epoch holds it already: our batches of it will be fenced.
                    self.owned.discard((topic, partition))
        log.info(
            "partitions claimed",
            instance=self.instance,
            epoch=self.epoch,
            partitions=sorted(f"{t}:{p}" for t, p in self.owned),
        )

    async def release(self, partitions: set[Partition]) -> None:
        """After the last batch of `partitions` committed: nothing of ours is left open there."""
        self.claimed.clear()
        if not partitions:
            return
        ids = [self._id(p) for p in partitions]
        try:
            await self.db.partition_owners.update_many(
                {"_id": {"$in": ids}, "instance": self.instance}, {"$set": {"lsid": None}}
            )
        except PyMongoError as exc:
            # The successor then kills our (idle) session: harmless.
            log.warning("releasing partitions failed", error=str(exc))
        self.owned -= partitions

    async def fence(
        self, events: list[FactEvent], records: list[RawRecord], session: AsyncClientSession
    ) -> None:
        """Inside the batch's transaction: every partition of the batch is still ours."""
        highest = partitions_of(events, records)
        if not highest:
            return
        writes = [
            UpdateOne(
                {"_id": self._id(p), "instance": self.instance, "epoch": self.epoch},
                {"$max": {"offset": offset}},
            )
            for p, offset in highest.items()
        ]
        result = await self.db.partition_owners.bulk_write(writes, ordered=False, session=session)
        if result.matched_count == len(writes):
            return
        mine = {
            (d["topic"], d["partition"])
            async for d in self.db.partition_owners.find(
                {
                    "_id": {"$in": [self._id(p) for p in highest]},
                    "instance": self.instance,
                    "epoch": self.epoch,
                },
                session=session,
            )
        }
        raise Fenced(set(highest) - mine)
