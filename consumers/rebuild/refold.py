"""Targeted re-fold: a few documents folded again from the log, in one transaction.

The fix for a bug that hit a few documents: the rest of the view is not read or written, and
reads keep being served. A fold committing at the same moment writes the same document, so one
of the two transactions conflicts and retries; the result is the log's fold either way.
"""

from __future__ import annotations

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from consumers.document import Document
from consumers.projection import Projection, Settled
from consumers.rebuild.writes import replace
from consumers.replay import refold


async def refold_documents(
    db: AsyncDatabase[Document],
    projection: type[Projection],
    ids: list[str],
    projections: tuple[type[Projection], ...],
) -> dict[str, Settled | None]:
    """Replace each document (and its rows) with the log's fold of it (None: nothing logged)."""
    result: dict[str, Settled | None] = {}
    rows = db[projection.rows.collection] if projection.rows is not None else None

    async def transaction(session: AsyncClientSession) -> None:
        nonlocal result
        result = await refold(db, projection, projections, ids, session)
        await replace(projection, result, db[projection.collection], rows, session)

    async with db.client.start_session() as session:
        await session.with_transaction(
            transaction,
            read_concern=ReadConcern("snapshot"),
            write_concern=WriteConcern("majority"),
        )
    return result
