"""The probes: /healthz, /metrics, and /readyz.

/readyz is ready when MongoDB answers, Kafka answers (if this process consumes), and no view is
being rebuilt here; each check reports, so an operator sees which one failed."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from pymongo.errors import PyMongoError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.metrics import CONTENT_TYPE

if TYPE_CHECKING:
    from app.runtime import Runtime

CHECK_TIMEOUT = 2.0


async def readiness(runtime: Runtime) -> dict[str, Any]:
    checks: dict[str, Any] = {"mongodb": await _mongo(runtime)}
    if runtime.consumers is not None:
        checks["kafka"] = await runtime.consumers.runner.reachable(CHECK_TIMEOUT)
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


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    report = await readiness(request.app.state.runtime)
    return JSONResponse(report, status_code=200 if report["ready"] else 503)


def metrics_app(runtime: Runtime) -> Starlette:
    """/metrics alone, for its own port (METRICS_PORT): business volumes stay off the API port."""

    async def metrics(request: Request) -> Response:
        return Response(await runtime.metrics_exposition(), media_type=CONTENT_TYPE)

    return Starlette(routes=[Route("/metrics", metrics)])


async def metrics(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    body = await runtime.metrics_exposition()
    return Response(body, media_type=CONTENT_TYPE)
