"""The fold engine: one MongoDB transaction per batch for the log append and every view change."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bson.binary import Binary
from pymongo import ReplaceOne, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from consumers import outbox, replay, rows
from consumers.decoding import RawRecord
from consumers.document import Document
from consumers.facts import FactEvent
from consumers.log import to_log_document
from consumers.ownership import Ownership
from consumers.projection import ROWS, Projection, Row, State, fold, settle
from consumers.rebuild.fence import ViewFenced, guard, wait_lifted

# Per document, its stored rows that a batch names (row key -> row).
StoredRows = dict[str, dict[str, Row]]
# The mark on a document whose fold raised: {error, since, eventIds}; `refold` clears it.
QUARANTINE = "_quarantine"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    record: RawRecord
    reason: str


@dataclass
class BatchOutcome:
    logged: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    refolded: int = 0
    published: int = 0
    changed: dict[str, list[str]] = field(default_factory=dict)
    # Documents whose fold raised in this batch, by view: marked stale, not folded (quarantine).
    quarantined: dict[str, dict[str, str]] = field(default_factory=dict)
    # What the batch held and what of it was new to the log (metrics count these).
    consumed: list[FactEvent] = field(default_factory=list)
    dead_topics: list[str] = field(default_factory=list)
    fresh: list[FactEvent] = field(default_factory=list)
    seconds: float = 0.0


def _to_state(doc: Document) -> State:
    state = dict(doc)
    state.pop("_id", None)
    return state


def _to_document(key: str, state: State) -> Document:
    return {"_id": key, **state}


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
            states, loaded, before = await self._fold_view(projection, fresh, session, outcome)
            row_writes = await self._plan_rows(projection, states, loaded, before, session)
            if projection.join is not None:
                states = await self._join(projection, states, loaded, changed, session)
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
                        ReplaceOne({"_id": key}, _to_document(key, state), upsert=True)
                        for key, state in changed[projection.name].items()
                    ],
                    ordered=False,
                    session=session,
                )
            outcome.changed[projection.name] = sorted(changed[projection.name])
        if self.publish:
            outcome.published = await outbox.write(self.db, self.projections, changed, session)

    async def _fold_view(
        self,
        projection: type[Projection],
        fresh: list[FactEvent],
        session: AsyncClientSession,
        outcome: BatchOutcome,
    ) -> tuple[dict[str, State], dict[str, State], StoredRows]:
        """The batch's documents folded, the documents as stored, and their stored rows."""
        by_key: dict[str, list[FactEvent]] = defaultdict(list)
        for event in fresh:
            key = projection.key(event) if event.type in projection.handlers else None
            if key is not None:
                by_key[key].append(event)
        if not by_key:
            return {}, {}, {}
        loaded = await self._load(projection, list(by_key), session)
        if projection.rows is not None:
            folded, before = await self._fold_with_rows(
                projection, by_key, loaded, session, outcome
            )
            return folded, loaded, before
        states: dict[str, State] = {}
        late: list[str] = []
        for key, new_events in by_key.items():
            current = loaded.get(key)
            if current is not None and QUARANTINE in current:
                # Its events are logged; it stays as it was until `refold` folds it from the log.
                continue
            if current is None:
                states[key] = self._fold_or_quarantine(projection, key, new_events, None, outcome)
                continue
            last = tuple(current.get("_last") or ())
            if last and min(e.order for e in new_events) < last:
                late.append(key)
            else:
                states[key] = self._fold_or_quarantine(
                    projection, key, new_events, current, outcome
                )
        if late:
            # Late events: fold those documents again from the log, in business time, with
            # one read of the log for all of them.
            logged = await replay.history(self.db, projection, late, session)
            for key in late:
                states[key] = self._fold_or_quarantine(
                    projection, key, logged[key], None, outcome, loaded.get(key), whole=True
                )
            outcome.refolded += len(late)
        return states, loaded, {}

    async def _fold_with_rows(
        self,
        projection: type[Projection],
        by_key: dict[str, list[FactEvent]],
        loaded: dict[str, State],
        session: AsyncClientSession,
        outcome: BatchOutcome,
    ) -> tuple[dict[str, State], StoredRows]:
        # Handlers of a view with rows take events in any order, so a late event is folded
        # as it comes: only the rows the batch names are read, never the history.
        declared = projection.rows
        assert declared is not None
        wanted = {
            key: {k for e in events if (k := declared.key(e)) is not None}
            for key, events in by_key.items()
        }
        stored_rows = await rows.load(self.db, declared, wanted, session)
        states: dict[str, State] = {}
        for key, new_events in by_key.items():
            if QUARANTINE in loaded.get(key, {}):
                # Its events are logged; it stays as it was until `refold` folds it from the log.
                continue
            before = stored_rows.get(key, {})

            def stored(key: str = key, before: dict[str, Row] = before) -> State:
                state = _copy_state(loaded[key]) if key in loaded else projection.initial(key)
                state[ROWS] = {k: rows.content(declared, r) for k, r in before.items()}
                return state

            try:
                states[key] = fold(projection, key, new_events, stored())
            except Exception as exc:
                # The document and its rows stay as stored (no row writes), marked stale.
                states[key] = self._quarantined(projection, key, new_events, stored(), exc, outcome)
        return states, stored_rows

    async def _plan_rows(
        self,
        projection: type[Projection],
        states: dict[str, State],
        loaded: dict[str, State],
        before: StoredRows,
        session: AsyncClientSession,
    ) -> list[rows.Write]:
        """Take each state's rows out and plan their writes; sets the document's total and count."""
        declared = projection.rows
        if declared is None:
            return []
        writes: list[rows.Write] = []
        for key, state in states.items():
            after = state.pop(ROWS)
            planned = await rows.plan(
                self.db, declared, key, loaded.get(key), state, before.get(key, {}), after, session
            )
            state[declared.total] = planned.total
            state[declared.count] = planned.count
            writes += planned.writes
        return writes

    def _fold_or_quarantine(
        self,
        projection: type[Projection],
        key: str,
        events: list[FactEvent],
        current: State | None,
        outcome: BatchOutcome,
        stored: State | None = None,
        whole: bool = False,
    ) -> State:
        """The fold (`whole`: of a document's whole log); or, when it raises (a bug, data no
        handler foresaw), the document as it was, marked stale, so the partition keeps folding."""
        try:
            state = fold(projection, key, events, _copy_state(current) if current else None)
            return settle(projection, state)[0] if whole else state
        except Exception as exc:
            kept = _copy_state(stored or current or projection.initial(key))
            return self._quarantined(projection, key, events, kept, exc, outcome)

    @staticmethod
    def _quarantined(
        projection: type[Projection],
        key: str,
        events: list[FactEvent],
        kept: State,
        exc: Exception,
        outcome: BatchOutcome,
    ) -> State:
        error = f"{type(exc).__name__}: {exc}"
        outcome.quarantined.setdefault(projection.name, {})[key] = error
        kept[QUARANTINE] = {
            "error": error,
            "since": datetime.now(UTC),
            "eventIds": [e.id for e in sorted(events, key=lambda e: e.order)][-10:],
        }
        return kept

    async def _join(
        self,
        projection: type[Projection],
        states: dict[str, State],
        loaded: dict[str, State],
        changed: dict[str, dict[str, State]],
        session: AsyncClientSession,
    ) -> dict[str, State]:
        assert projection.join is not None
        join = projection.join
        affected = set(states)
        affected.update(
            str(s[join.on]) for s in changed.get(join.view, {}).values() if s.get(join.on)
        )
        if not affected:
            return states
        missing = [k for k in affected if k not in states]
        if missing:
            more = await self._load(projection, missing, session)
            loaded.update(more)
            for key in missing:
                states[key] = _copy_state(more[key]) if key in more else projection.initial(key)
        members = await replay.members(self.db, projection, self.projections, affected, session)
        return {
            key: projection.joined(state, members.get(key, [])) for key, state in states.items()
        }

    async def _load(
        self, projection: type[Projection], keys: list[str], session: AsyncClientSession
    ) -> dict[str, State]:
        cursor = self.db[projection.collection].find(
            {"_id": {"$in": keys}}, session=session, batch_size=replay.ONE_REPLY
        )
        return {doc["_id"]: _to_state(doc) async for doc in cursor}


def _copy_state(state: State) -> State:
    # Handlers may change what they are given; the loaded copy must stay as read for comparison.
    copied: State = {}
    for name, value in state.items():
        if isinstance(value, list):
            copied[name] = [dict(v) if isinstance(v, dict) else v for v in value]
        elif isinstance(value, dict):
            copied[name] = dict(value)
        else:
            copied[name] = value
    return copied
