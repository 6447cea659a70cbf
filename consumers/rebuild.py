"""Rebuild a view from the log: fold into a shadow collection, then swap it in atomically."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from consumers.facts import FactEvent
from consumers.log import from_log_document
from consumers.projection import Projection, State, fold

Document = dict[str, Any]
Progress = Callable[[int], None]

_CHUNK = 500


async def rebuild(
    db: AsyncDatabase[Document],
    projection: type[Projection],
    projections: tuple[type[Projection], ...],
    progress: Progress | None = None,
) -> int:
    """Fold the whole log into `<collection>__rebuild`, swap it in; returns the document count."""
    shadow = db[f"{projection.collection}__rebuild"]
    await shadow.drop()
    query = {"type": {"$in": list(projection.handlers)}}
    cursor = db.events.find(query).sort(
        [(f"data.{projection.key_field}", ASCENDING), ("timeKey", ASCENDING)]
    )
    states: dict[str, State] = {}
    key: str | None = None
    batch: list[FactEvent] = []
    written = 0

    async def flush() -> None:
        nonlocal written
        if len(states) >= _CHUNK:
            written += await _write(db, shadow.name, projection, projections, states)
            states.clear()

    async for doc in cursor:
        event = from_log_document(doc)
        event_key = projection.key(event)
        if event_key is None:
            continue
        if event_key != key and key is not None:
            states[key] = fold(projection, key, batch)
            batch = []
            await flush()
        key = event_key
        batch.append(event)
        if progress is not None:
            progress(1)
    if key is not None:
        states[key] = fold(projection, key, batch)
    written += await _write(db, shadow.name, projection, projections, states)
    if projection.join is not None:
        written += await _join_orphans(db, shadow.name, projection, projections)
    if written:
        await shadow.rename(projection.collection, dropTarget=True)
    else:
        await db[projection.collection].delete_many({})
    return written


async def _write(
    db: AsyncDatabase[Document],
    shadow: str,
    projection: type[Projection],
    projections: tuple[type[Projection], ...],
    states: dict[str, State],
) -> int:
    if not states:
        return 0
    if projection.join is not None:
        states = await _joined(db, projection, projections, states)
    await db[shadow].insert_many([{"_id": k, **s} for k, s in states.items()], ordered=False)
    return len(states)


async def _joined(
    db: AsyncDatabase[Document],
    projection: type[Projection],
    projections: tuple[type[Projection], ...],
    states: dict[str, State],
) -> dict[str, State]:
    join = projection.join
    assert join is not None
    other = next(p for p in projections if p.name == join.view)
    members: dict[str, list[State]] = {}
    async for doc in db[other.collection].find({join.on: {"$in": list(states)}}):
        doc.pop("_id", None)
        members.setdefault(str(doc[join.on]), []).append(doc)
    return {k: projection.joined(s, members.get(k, [])) for k, s in states.items()}


async def _join_orphans(
    db: AsyncDatabase[Document],
    shadow: str,
    projection: type[Projection],
    projections: tuple[type[Projection], ...],
) -> int:
    # Documents that exist only because another view names them (an account before its customer).
    join = projection.join
    assert join is not None
    other = next(p for p in projections if p.name == join.view)
    named = {str(k) for k in await db[other.collection].distinct(join.on) if k}
    present = {str(k) for k in await db[shadow].distinct("_id")}
    missing = {k: projection.initial(k) for k in sorted(named - present)}
    return await _write(db, shadow, projection, projections, missing)
