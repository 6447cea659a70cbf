"""A batch folded into one view's documents, in memory: the engine writes what comes out.

The documents the batch touches are loaded and their new events folded onto them. A late event
(older than the newest one a document has folded) refolds its document from the log, in business
time; a view with rows folds events as they come, reading only the rows the batch names. Then
each document's rows are planned and the joined view's documents embedded.
"""

from __future__ import annotations

from collections import defaultdict

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from consumers import replay, rows
from consumers.batch import BatchOutcome
from consumers.document import Document
from consumers.facts import FactEvent
from consumers.projection import ROWS, Projection, Row, State, copy_state, fold
from consumers.quarantine import QUARANTINE, fold_or_quarantine, quarantined

# Per document, its stored rows that a batch names (row key -> row).
StoredRows = dict[str, dict[str, Row]]


async def load(
    db: AsyncDatabase[Document],
    projection: type[Projection],
    keys: list[str],
    session: AsyncClientSession,
) -> dict[str, State]:
    """The stored documents of `keys` (those that exist), as states."""
    cursor = db[projection.collection].find(
        {"_id": {"$in": keys}}, session=session, batch_size=replay.ONE_REPLY
    )
    return {doc["_id"]: _to_state(doc) async for doc in cursor}


def _to_state(doc: Document) -> State:
    state = dict(doc)
    state.pop("_id", None)
    return state


async def fold_view(
    db: AsyncDatabase[Document],
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
    loaded = await load(db, projection, list(by_key), session)
    if projection.rows is not None:
        folded, before = await _fold_with_rows(db, projection, by_key, loaded, session, outcome)
        return folded, loaded, before
    states, late = _fold_in_order(projection, by_key, loaded, outcome)
    if late:
        states.update(await _refold_late(db, projection, late, loaded, session, outcome))
    return states, loaded, {}


def _fold_in_order(
    projection: type[Projection],
    by_key: dict[str, list[FactEvent]],
    loaded: dict[str, State],
    outcome: BatchOutcome,
) -> tuple[dict[str, State], list[str]]:
    """Each document's new events folded onto it; and the documents a late event reached."""
    states: dict[str, State] = {}
    late: list[str] = []
    for key, new_events in by_key.items():
        current = loaded.get(key)
        if current is not None and QUARANTINE in current:
            # Its events are logged; it stays as it was until `refold` folds it from the log.
            continue
        if current is None:
            states[key] = fold_or_quarantine(projection, key, new_events, None, outcome)
            continue
        last = tuple(current.get("_last") or ())
        if last and min(e.order for e in new_events) < last:
            late.append(key)
        else:
            states[key] = fold_or_quarantine(projection, key, new_events, current, outcome)
    return states, late


async def _refold_late(
    db: AsyncDatabase[Document],
    projection: type[Projection],
    late: list[str],
    loaded: dict[str, State],
    session: AsyncClientSession,
    outcome: BatchOutcome,
) -> dict[str, State]:
    """Late events: those documents folded again from the log, in business time, with one read
    of the log for all of them."""
    logged = await replay.history(db, projection, late, session)
    states = {
        key: fold_or_quarantine(
            projection, key, logged[key], None, outcome, loaded.get(key), whole=True
        )
        for key in late
    }
    outcome.refolded += len(late)
    return states


async def _fold_with_rows(
    db: AsyncDatabase[Document],
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
    stored_rows = await rows.load(db, declared, wanted, session)
    states: dict[str, State] = {}
    for key, new_events in by_key.items():
        if QUARANTINE in loaded.get(key, {}):
            # Its events are logged; it stays as it was until `refold` folds it from the log.
            continue
        before = stored_rows.get(key, {})

        def stored(key: str = key, before: dict[str, Row] = before) -> State:
            state = copy_state(loaded[key]) if key in loaded else projection.initial(key)
            state[ROWS] = {k: rows.content(declared, r) for k, r in before.items()}
            return state

        try:
            states[key] = fold(projection, key, new_events, stored())
        except Exception as exc:
            # The document and its rows stay as stored (no row writes), marked stale.
            states[key] = quarantined(projection, key, new_events, stored(), exc, outcome)
    return states, stored_rows


async def plan_rows(
    db: AsyncDatabase[Document],
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
            db, declared, key, loaded.get(key), state, before.get(key, {}), after, session
        )
        state[declared.total] = planned.total
        state[declared.count] = planned.count
        writes += planned.writes
    return writes


async def join(
    db: AsyncDatabase[Document],
    projection: type[Projection],
    projections: tuple[type[Projection], ...],
    states: dict[str, State],
    loaded: dict[str, State],
    changed: dict[str, dict[str, State]],
    session: AsyncClientSession,
) -> dict[str, State]:
    """The documents the batch folded, or whose joined documents it changed, with those embedded."""
    declared = projection.join
    assert declared is not None
    affected = set(states)
    affected.update(
        str(s[declared.on]) for s in changed.get(declared.view, {}).values() if s.get(declared.on)
    )
    if not affected:
        return states
    missing = [k for k in affected if k not in states]
    if missing:
        more = await load(db, projection, missing, session)
        loaded.update(more)
        for key in missing:
            states[key] = copy_state(more[key]) if key in more else projection.initial(key)
    members = await replay.members(db, projection, projections, affected, session)
    return {key: projection.joined(state, members.get(key, [])) for key, state in states.items()}
