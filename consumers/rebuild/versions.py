"""Which projection versions each stored view was folded with (`view_versions`).

A joined view embeds another view's documents, so its signature holds both versions: a new
Account fold makes the Customer view (which embeds account balances) outdated too.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pymongo.asynchronous.database import AsyncDatabase

from consumers.document import Document
from consumers.projection import Projection
from consumers.replay import joined_view

VIEW_VERSIONS = "view_versions"


def signature(
    projection: type[Projection], projections: tuple[type[Projection], ...]
) -> dict[str, int]:
    versions = {projection.name: projection.version}
    other = joined_view(projection, projections)
    if other is not None:
        versions[other.name] = other.version
    return versions


async def is_current(
    db: AsyncDatabase[Document],
    projection: type[Projection],
    projections: tuple[type[Projection], ...],
) -> bool:
    """Whether the stored view was folded by this code (an empty, unversioned view is)."""
    stored = await db[VIEW_VERSIONS].find_one({"_id": projection.name})
    if stored is None:
        return await db[projection.collection].find_one({}, {"_id": 1}) is None
    return bool(stored.get("versions") == signature(projection, projections))


async def record(
    db: AsyncDatabase[Document],
    projection: type[Projection],
    projections: tuple[type[Projection], ...],
    rebuilt: bool,
) -> None:
    update: Document = {
        "$set": {"versions": signature(projection, projections), "at": datetime.now(UTC)}
    }
    if rebuilt:
        update["$inc"] = {"rebuilds": 1}
    await db[VIEW_VERSIONS].update_one({"_id": projection.name}, update, upsert=True)
