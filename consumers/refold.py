"""Targeted re-fold: a few documents folded again from the log, in one transaction.

The fix for a bug that hit a few documents: the rest of the view is not read or written, and
reads keep being served. A fold committing at the same moment writes the same document, so one
of the two transactions conflicts and retries; the result is the log's fold either way.
"""

from __future__ import annotations

from typing import Any

from pymongo import DeleteOne, ReplaceOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from consumers.projection import Projection, State
from consumers.projections import PROJECTIONS
from consumers.replay import refold

Document = dict[str, Any]


async def refold_documents(
    db: AsyncDatabase[Document],
    projection: type[Projection],
    ids: list[str],
    projections: tuple[type[Projection], ...] = PROJECTIONS,
) -> dict[str, State | None]:
    """Replace each document with the log's fold of it (None: removed, the log has nothing)."""
    result: dict[str, State | None] = {}

    async def transaction(session: AsyncClientSession) -> None:
        nonlocal result
        result = await refold(db, projection, projections, ids, session)
        writes: list[ReplaceOne[Document] | DeleteOne] = [
            ReplaceOne({"_id": k}, {"_id": k, **s}, upsert=True)
            if s is not None
            else DeleteOne({"_id": k})
            for k, s in result.items()
        ]
        if writes:
            await db[projection.collection].bulk_write(writes, ordered=False, session=session)

    async with db.client.start_session() as session:
        await session.with_transaction(
            transaction,
            read_concern=ReadConcern("snapshot"),
            write_concern=WriteConcern("majority"),
        )
    return result
