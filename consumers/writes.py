"""Replacing whole documents (and their rows) with what a fold of the log gives them.

The one way rebuild (shadow and stragglers) and refold write: a document is replaced or, when
the log holds nothing for it, deleted; its rows are replaced all together.
"""

from __future__ import annotations

from typing import Any

from pymongo import DeleteMany, DeleteOne, InsertOne, ReplaceOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection

from consumers.projection import Projection, Settled

Document = dict[str, Any]


async def replace(
    projection: type[Projection],
    folded: dict[str, Settled | None],
    documents: AsyncCollection[Document],
    rows: AsyncCollection[Document] | None = None,
    session: AsyncClientSession | None = None,
) -> None:
    """Write each key's fold into `documents` (and its rows into `rows`), or delete it."""
    writes: list[ReplaceOne[Document] | DeleteOne] = [
        ReplaceOne({"_id": k}, {"_id": k, **f[0]}, upsert=True)
        if f is not None
        else DeleteOne({"_id": k})
        for k, f in folded.items()
    ]
    if writes:
        await documents.bulk_write(writes, ordered=False, session=session)
    if projection.rows is None or rows is None or not folded:
        return
    row_writes: list[DeleteMany | InsertOne[Document]] = [
        DeleteMany({projection.rows.parent: {"$in": sorted(folded)}})
    ]
    row_writes += [InsertOne(row) for f in folded.values() if f is not None for row in f[1]]
    await rows.bulk_write(row_writes, ordered=True, session=session)
