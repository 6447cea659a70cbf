"""The fold engine: one MongoDB transaction per batch for the log append and every view change."""

from __future__ import annotations

from datetime import UTC, datetime

from bson.binary import Binary
from pymongo import ReplaceOne, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from consumers import outbox, rows
from consumers.batch import BatchOutcome, DeadLetter
from consumers.document import Document
from consumers.facts import FactEvent
from consumers.log import to_log_document
from consumers.ownership import Ownership
from consumers.projection import Projection, State
from consumers.rebuild.fence import ViewFenced, guard, wait_lifted
from consumers.view_fold import fold_view, join, plan_rows


class FoldEngine:
    """Appends a batch to the log and folds it into the views, exactly once, in one transaction."""

    def __init__(
        self,
        db: AsyncDatabase[Document],
        projections: tuple[type[Projection], ...],
        consumer_group: str = "factview",
        publish: bool = False,
    ) -> None:
        self.db = db
        self.projections = projections
        self.consumer_group = consumer_group
        # Write the outbox rows of views that publish (off unless PUBLISH_TOPIC is set).
        self.publish = publish
        # Set by the Kafka runner (consumers/ownership.py): its own session, a fence checked
        # in each batch's transaction, and the consumer stamped on each logged event.
        self.owner: Ownership | None = None

    async def apply(
        self,
        events: list[FactEvent],
        dead: list[DeadLetter] | None = None,
        redriven: list[str] | None = None,
    ) -> BatchOutcome:
        """Log, fold and dead-letter one batch; returns once the transaction has committed.

        `redriven` names dead letters whose events this batch carries: they are marked in the
        same transaction, so a letter is never both folded and still pending.
        """
        dead = dead or []
        redriven = redriven or []
        outcome = BatchOutcome()

        async def transaction(session: AsyncClientSession) -> BatchOutcome:
            # with_transaction may run this again after a transient error: start from nothing.
            nonlocal outcome
            outcome = BatchOutcome()
            # A rebuild about to swap a view in fences folding off (consumers/rebuild/shadow.py).
            await guard(self.db, self._collections, session)
            if self.owner is not None:
                await self.owner.fence(events, [letter.record for letter in dead], session)
            fresh = await self._append(events, session, outcome)
            await self._dead_letter(dead, session, outcome)
            if redriven:
                await self.db.dead_letters.update_many(
                    {"_id": {"$in": redriven}},
                    {"$set": {"status": "redriven", "redrivenAt": datetime.now(UTC)}},
                    session=session,
                )
            await self._fold(fresh, session, outcome)
            outcome.consumed, outcome.fresh = events, fresh
            outcome.dead_topics = [letter.record.topic for letter in dead]
            return outcome

        while True:
            try:
                own = self.owner.session if self.owner is not None else None
                if own is not None:
                    await own.with_transaction(
                        transaction,
                        read_concern=ReadConcern("snapshot"),
                        write_concern=WriteConcern("majority"),
                    )
                    return outcome
                async with self.db.client.start_session() as session:
                    await session.with_transaction(
                        transaction,
                        read_concern=ReadConcern("snapshot"),
                        write_concern=WriteConcern("majority"),
                    )
                return outcome
            except ViewFenced:
                # The fence lasts one catch-up and a rename; then fold the batch as usual.
                await wait_lifted(self.db, self._collections)

    @property
    def _collections(self) -> list[str]:
        return [p.collection for p in self.projections]

    async def _append(
        self, events: list[FactEvent], session: AsyncClientSession, outcome: BatchOutcome
    ) -> list[FactEvent]:
        unique: dict[str, FactEvent] = {}
        for event in events:
            unique.setdefault(event.log_id, event)
        if not unique:
            return []
        # In a transaction a duplicate-key error would abort everything, so look first.
        cursor = self.db.events.find({"_id": {"$in": list(unique)}}, {"_id": 1}, session=session)
        seen = {doc["_id"] async for doc in cursor}
        fresh = [e for key, e in unique.items() if key not in seen]
        if fresh:
            docs = [to_log_document(e) for e in fresh]
            if self.owner is not None:
                stamp = self.owner.stamp()
                for doc in docs:
                    doc.update(stamp)
            await self.db.events.insert_many(docs, ordered=False, session=session)
        outcome.logged = len(fresh)
        outcome.duplicates = len(events) - len(fresh)
        return fresh

    async def _dead_letter(
        self, dead: list[DeadLetter], session: AsyncClientSession, outcome: BatchOutcome
    ) -> None:
        outcome.dead_lettered = len(dead)
        if not dead:
            return
        now = datetime.now(UTC)
        writes = []
        for letter in dead:
            r = letter.record
            writes.append(
                UpdateOne(
                    {"_id": f"{self.consumer_group}:{r.topic}:{r.partition}:{r.offset}"},
                    {
                        "$set": {
                            "topic": r.topic,
                            "partition": r.partition,
                            "offset": r.offset,
                            "consumerGroup": self.consumer_group,
                            "key": Binary(r.key) if r.key is not None else None,
                            "value": Binary(r.value) if r.value is not None else None,
                            "headers": [{"key": k, "value": Binary(v)} for k, v in r.headers],
                            "reason": letter.reason,
                            "lastSeen": now,
                        },
                        # A record seen again after its redrive stays redriven: its event is logged.
                        "$setOnInsert": {"firstSeen": now, "status": "pending"},
                        "$inc": {"attempts": 1},
                    },
                    upsert=True,
                )
            )
        # One round trip for all of a batch's letters, in the batch's transaction.
        await self.db.dead_letters.bulk_write(writes, ordered=True, session=session)

    async def _fold(
        self, fresh: list[FactEvent], session: AsyncClientSession, outcome: BatchOutcome
    ) -> None:
        changed: dict[str, dict[str, State]] = {}
        for projection in self.projections:
            states, loaded, before = await fold_view(self.db, projection, fresh, session, outcome)
            row_writes = await plan_rows(self.db, projection, states, loaded, before, session)
            if projection.join is not None:
                states = await join(
                    self.db, projection, self.projections, states, loaded, changed, session
                )
            changed[projection.name] = {k: s for k, s in states.items() if loaded.get(k) != s}
            if row_writes:
                assert projection.rows is not None
                await self.db[projection.rows.collection].bulk_write(
                    rows.in_phases(row_writes), ordered=True, session=session
                )
            # Write each changed document once per batch, in one round trip.
            if changed[projection.name]:
                await self.db[projection.collection].bulk_write(
                    [
                        ReplaceOne({"_id": key}, {"_id": key, **state}, upsert=True)
                        for key, state in changed[projection.name].items()
                    ],
                    ordered=False,
                    session=session,
                )
            outcome.changed[projection.name] = sorted(changed[projection.name])
        if self.publish:
            outcome.published = await outbox.write(self.db, self.projections, changed, session)
