"""Automatic rebuilds at start: a view folded by another projection version is rebuilt.

The rebuild runs in the background while the old view keeps serving. Several processes may
start at once: each tries, the view's lock lets one run, and the version check under that lock
makes the others skip once it has swapped, so a bump costs exactly one rebuild. A process that
finds the lock held waits for it to be released (or to lapse, if its holder died) and checks
again.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import structlog
from pymongo.asynchronous.database import AsyncDatabase

from consumers.document import Document
from consumers.projection import Projection
from consumers.rebuild import versions
from consumers.rebuild.fence import LOCKS, LockHeld, lock_id
from consumers.rebuild.shadow import rebuild

log = structlog.get_logger("factview.rebuilds")


async def outdated(
    db: AsyncDatabase[Document], projections: tuple[type[Projection], ...]
) -> list[type[Projection]]:
    """Views whose stored versions differ from the code's; fresh, empty views are recorded."""
    found = []
    for projection in projections:
        if not await versions.is_current(db, projection, projections):
            found.append(projection)
        elif await db[versions.VIEW_VERSIONS].find_one({"_id": projection.name}) is None:
            await versions.record(db, projection, projections, rebuilt=False)
    return found


def start(
    db: AsyncDatabase[Document],
    projections: tuple[type[Projection], ...],
    rebuilding: set[str],
) -> asyncio.Task[None]:
    """Check versions and rebuild what is outdated, in a background task.

    `rebuilding` (the caller's, e.g. the Runtime's) holds the views being rebuilt meanwhile.
    """
    return asyncio.create_task(_run(db, projections, rebuilding), name="factview-rebuilds")


async def _run(
    db: AsyncDatabase[Document], projections: tuple[type[Projection], ...], rebuilding: set[str]
) -> None:
    try:
        # Registry order: a joined view is rebuilt after the view it embeds.
        for projection in await outdated(db, projections):
            await _rebuild_once(db, projection, projections, rebuilding)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.error("automatic rebuild failed", error=f"{type(exc).__name__}: {exc}")


async def _rebuild_once(
    db: AsyncDatabase[Document],
    projection: type[Projection],
    projections: tuple[type[Projection], ...],
    rebuilding: set[str],
) -> None:
    name = projection.name
    rebuilding.add(name)
    log.info("view outdated: rebuilding in the background; serving the old view", view=name)
    try:
        while True:
            try:
                result = await rebuild(db, projection, projections, only_if_outdated=True)
            except LockHeld as held:
                log.info("rebuild running elsewhere; waiting for it", view=name, detail=str(held))
                await _lock_released(db, projection)
                continue
            if result.skipped:
                log.info("view already rebuilt by another process", view=name)
            else:
                log.info(
                    "view rebuilt",
                    view=name,
                    documents=result.documents,
                    events=result.events,
                    caught_up=result.caught_up,
                    seconds=round(result.seconds, 2),
                )
            return
    finally:
        rebuilding.discard(name)


async def _lock_released(db: AsyncDatabase[Document], projection: type[Projection]) -> None:
    query: Document = {"_id": lock_id(projection.collection)}
    while True:
        held = await db[LOCKS].find_one(query)
        if held is None or held["expiresAt"] <= datetime.now(UTC):
            return
        await asyncio.sleep(0.5)  # another process's rebuild takes seconds: poll gently
