"""Folding documents again from the log: the shared ground of rebuild, refold and verification.

Everything here reads the log (and, for a joined view, the view it embeds) and computes what a
document should be; nothing writes. A key whose log holds no event for it, and that no joined
document names, has no document: `None`.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable

import bson
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo import ASCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from consumers.document import Document
from consumers.facts import FactEvent
from consumers.log import LogDocument, from_log_document
from consumers.projection import Projection, Settled, State, fold, settle

Advance = Callable[[int], None]
# A batch's reads in one reply: the driver's first reply holds 101 documents by default and
# the rest costs a getMore round trip; the server caps a reply at 16 MiB whatever this says.
ONE_REPLY = 100_000


def joined_view(
    projection: type[Projection], projections: Iterable[type[Projection]]
) -> type[Projection] | None:
    if projection.join is None:
        return None
    return next(p for p in projections if p.name == projection.join.view)


def own_query(projection: type[Projection]) -> Document:
    return {"type": {"$in": list(projection.handlers)}}


async def members(
    db: AsyncDatabase[Document],
    projection: type[Projection],
    projections: Iterable[type[Projection]],
    keys: Iterable[str],
    session: AsyncClientSession | None = None,
) -> dict[str, list[State]]:
    """The joined view's documents that name each key (e.g. a customer's accounts)."""
    other = joined_view(projection, projections)
    found: dict[str, list[State]] = defaultdict(list)
    if other is None or projection.join is None:
        return found
    on = projection.join.on
    cursor = db[other.collection].find(
        {on: {"$in": sorted(set(keys))}},
        projection.join.projection(),
        session=session,
        batch_size=ONE_REPLY,
    )
    async for doc in cursor:
        doc.pop("_id", None)
        found[str(doc[on])].append(doc)
    return found


async def history(
    db: AsyncDatabase[Document],
    projection: type[Projection],
    keys: Iterable[str],
    session: AsyncClientSession | None = None,
    until: str | None = None,
) -> dict[str, list[FactEvent]]:
    """Each key's logged events (up to the timeKey `until`, if given), in one read."""
    query = {**own_query(projection), f"data.{projection.key_field}": {"$in": sorted(set(keys))}}
    if until is not None:
        query["timeKey"] = {"$lte": until}
    found: dict[str, list[FactEvent]] = defaultdict(list)
    async for doc in db.events.find(query, session=session):
        event = from_log_document(doc)
        key = projection.key(event)
        if key is not None:
            found[key].append(event)
    return found


async def refold(
    db: AsyncDatabase[Document],
    projection: type[Projection],
    projections: Iterable[type[Projection]],
    keys: Iterable[str],
    session: AsyncClientSession | None = None,
) -> dict[str, Settled | None]:
    """Each key's document and rows as a fold of its whole log gives them (None: no document)."""
    wanted = sorted(set(keys))
    events = await history(db, projection, wanted, session)
    others = await members(db, projection, projections, wanted, session)
    result: dict[str, Settled | None] = {}
    for key in wanted:
        if not events.get(key) and not others.get(key):
            result[key] = None
            continue
        state, rows = settle(projection, fold(projection, key, events.get(key, [])))
        if projection.join is not None:
            state = projection.joined(state, others.get(key, []))
        result[key] = (state, rows)
    return result


async def fold_log(
    db: AsyncDatabase[Document],
    projection: type[Projection],
    projections: tuple[type[Projection], ...],
    chunk: int = 500,
    advance: Advance | None = None,
) -> AsyncIterator[dict[str, Settled]]:
    """Every document of the view, folded from the whole log, in chunks of about `chunk`.

    The log is read once, sorted by key then business time (the index the engine's re-fold
    uses), so one key's events are folded together and memory stays at one chunk.
    """
    sort = [(f"data.{projection.key_field}", ASCENDING), ("timeKey", ASCENDING)]
    cursor = db.events.find(own_query(projection)).sort(sort).batch_size(chunk)
    seen: set[str] = set()
    states: dict[str, Settled] = {}
    key: str | None = None
    events: list[FactEvent] = []
    async for doc in cursor:
        if advance is not None:
            advance(1)
        event = from_log_document(doc)
        event_key = projection.key(event)
        if event_key is None:
            continue
        if event_key != key and key is not None:
            states[key] = settle(projection, fold(projection, key, events))
            events = []
            if len(states) >= chunk:
                seen.update(states)
                yield await _join(db, projection, projections, states)
                states = {}
        key = event_key
        events.append(event)
    if key is not None:
        states[key] = settle(projection, fold(projection, key, events))
    seen.update(states)
    if states:
        yield await _join(db, projection, projections, states)
    # Documents that exist only because the joined view names them (accounts of a customer
    # whose own facts have not arrived).
    other = joined_view(projection, projections)
    if other is not None and projection.join is not None:
        named = {str(k) for k in await db[other.collection].distinct(projection.join.on) if k}
        orphans = sorted(named - seen)
        for start in range(0, len(orphans), chunk):
            part = {
                k: settle(projection, projection.initial(k)) for k in orphans[start : start + chunk]
            }
            yield await _join(db, projection, projections, part)


async def _join(
    db: AsyncDatabase[Document],
    projection: type[Projection],
    projections: tuple[type[Projection], ...],
    states: dict[str, Settled],
) -> dict[str, Settled]:
    if projection.join is None:
        return states
    others = await members(db, projection, projections, states)
    return {k: (projection.joined(s, others.get(k, [])), r) for k, (s, r) in states.items()}


async def affected_keys(
    db: AsyncDatabase[Document],
    projection: type[Projection],
    projections: tuple[type[Projection], ...],
    logged: Iterable[LogDocument],
) -> set[str]:
    """The view's documents that newly logged events change: their own, or through the join."""
    keys: set[str] = set()
    other_keys: set[str] = set()
    other = joined_view(projection, projections)
    for doc in logged:
        data = doc.get("data") or {}
        if doc.get("type") in projection.handlers:
            value = data.get(projection.key_field)
            if isinstance(value, str) and value:
                keys.add(value)
        if other is not None and doc.get("type") in other.handlers:
            value = data.get(other.key_field)
            if isinstance(value, str) and value:
                other_keys.add(value)
    if other is not None and projection.join is not None and other_keys:
        # The event's own data may not name the joined key (a deposit names only its account),
        # but the joined document, committed with the event, does.
        on = projection.join.on
        cursor = db[other.collection].find({"_id": {"$in": sorted(other_keys)}}, {on: 1})
        keys.update([str(d[on]) async for d in cursor if d.get(on)])
    return keys


def encoded(key: str, folded: Settled, db: AsyncDatabase[Document]) -> list[bytes]:
    """The document's BSON, then its rows', as written: encoded once, checksummed from those."""
    state, rows = folded
    options = db.codec_options
    return [bson.encode({"_id": key, **state}, codec_options=options)] + [
        bson.encode(row, codec_options=options) for row in rows
    ]


def digest(raw: bytes | memoryview) -> bytes:
    """A checksum of one document's BSON bytes.

    Byte-exact, field order included: a fold always builds a document's fields in the same
    order and MongoDB keeps the order it was given, so what the server returns for a document
    must be the very bytes a fold of it encodes (BSON dates already hold only milliseconds).
    """
    return hashlib.blake2b(raw, digest_size=16).digest()


def xor(digests: Iterable[bytes]) -> bytes:
    """Digests combined in any order (XOR): one document with its rows, or a whole view."""
    total = 0
    for d in digests:
        total ^= int.from_bytes(d, "big")
    return total.to_bytes(16, "big")


def digest_all(raws: Iterable[bytes | memoryview]) -> bytes:
    """One checksum for a document with its rows, in any order (each row has its own `_id`)."""
    return xor(digest(raw) for raw in raws)


# Reading documents back as their raw bytes: nothing decoded but what is asked for.
RAW = CodecOptions(document_class=RawBSONDocument)


def combine(digests: Iterable[bytes]) -> str:
    """An order-free checksum of a whole collection (XOR of the document digests)."""
    return xor(digests).hex()
