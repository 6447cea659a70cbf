"""/readyz: ready when MongoDB answers, Kafka answers (if this process consumes), and no view
is being rebuilt here; each check reports, so an operator sees which one failed."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from pymongo.errors import PyMongoError

if TYPE_CHECKING:
    from app.runtime import Runtime

CHECK_TIMEOUT = 2.0


async def readiness(runtime: Runtime) -> dict[str, Any]:
    checks: dict[str, Any] = {"mongodb": await _mongo(runtime)}
    if runtime.runner is not None:
        checks["kafka"] = await runtime.runner.reachable(CHECK_TIMEOUT)
    rebuilding = sorted(runtime.rebuilding)
    checks["rebuilding"] = rebuilding
    ready = all(v for k, v in checks.items() if k != "rebuilding") and not rebuilding
    return {"ready": ready, "checks": checks}


async def _mongo(runtime: Runtime) -> bool:
    try:
        await asyncio.wait_for(runtime.db.command("ping"), CHECK_TIMEOUT)
    except (TimeoutError, PyMongoError):
        return False
    return True
