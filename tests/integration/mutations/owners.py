"""What factview forwards writes to in these tests: the real demo owners behind two instances, and
stand-ins (real HTTP servers) that hang or record what reaches them."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.devstack.embedded import free_port
from app.http.serving import start_server
from tests.support.stack import Factview


@dataclass
class Stack:
    writer: Factview  # consumes and forwards writes (instance B)
    reader: Factview  # serves only, same database (instance A)


@dataclass
class SlowOwner:
    url: str
    seen: list[dict[str, str]]


@contextlib.asynccontextmanager
async def slow_owner() -> AsyncIterator[SlowOwner]:
    """A real HTTP server that takes the request and answers only when the test ends."""
    release = asyncio.Event()
    seen: list[dict[str, str]] = []

    async def hang(request: Request) -> JSONResponse:
        seen.append(dict(request.headers))
        await release.wait()
        return JSONResponse({"error": {"code": "late", "message": "too late"}}, status_code=500)

    app = Starlette(routes=[Route("/{path:path}", hang, methods=["POST", "PATCH"])])
    server = await start_server(app, "127.0.0.1", free_port())
    try:
        yield SlowOwner(server.url, seen)
    finally:
        release.set()
        await server.stop()


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class RecordingOwner:
    url: str
    seen: list[Recorded]


@contextlib.asynccontextmanager
async def recording_owner() -> AsyncIterator[RecordingOwner]:
    """A real HTTP owner that records every request and accepts it like the accounts owner."""
    seen: list[Recorded] = []

    async def accept(request: Request) -> JSONResponse:
        body = await request.body()
        seen.append(Recorded(request.method, request.url.path, dict(request.headers), body))
        return JSONResponse(
            {
                "accountId": request.path_params["path"].split("/")[1],
                "transactionId": uuid.uuid4().hex,
                "amount": "1.00",
                "balance": "1.00",
                "factIds": [],
                "source": "accounts",
            },
            status_code=201,
        )

    app = Starlette(routes=[Route("/{path:path}", accept, methods=["POST", "PATCH"])])
    server = await start_server(app, "127.0.0.1", free_port())
    try:
        yield RecordingOwner(server.url, seen)
    finally:
        await server.stop()


@dataclass
class Recording:
    fv: Factview
    owner: RecordingOwner
