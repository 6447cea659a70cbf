"""A rebuild that starts and then waits: the condition /readyz reports as `rebuilding`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from consumers.rebuild.fence import LOCKS, lock_id
from consumers.rebuild.versions import VIEW_VERSIONS


async def stale_view_locked_elsewhere(db: AsyncDatabase[Any]) -> Callable[[], Awaitable[None]]:
    """An account view folded by an older projection, its rebuild lock held by another process.

    A runtime started on `db` rebuilds the view at start and waits until the lock goes; the
    returned function releases it.
    """
    await db.accounts.insert_one({"_id": "a1", "balance": 0})
    await db[VIEW_VERSIONS].insert_one({"_id": "account", "versions": {"account": 0}})
    later = datetime.now(UTC) + timedelta(minutes=5)
    held = {"_id": lock_id("accounts"), "owner": "elsewhere", "phase": "rebuilding"}
    await db[LOCKS].insert_one({**held, "expiresAt": later})

    async def release() -> None:
        await db[LOCKS].delete_one({"_id": held["_id"]})

    return release
