"""Running factview instances and real GraphQL clients, for the live and write tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from gql import Client, GraphQLRequest
from gql.transport.websockets import WebsocketsTransport

from app.devstack.embedded import free_port
from app.http.asgi import create_app
from app.http.serving import start_server
from app.runtime import Runtime
from app.settings import Settings
from tests.integration.conftest import Factview, bearer


@contextlib.asynccontextmanager
async def running_factview(settings: Settings, consume: bool = True) -> AsyncIterator[Factview]:
    runtime = await Runtime.start(settings, consume=consume)
    try:
        server = await start_server(create_app(settings, runtime), "127.0.0.1", free_port())
        try:
            async with httpx.AsyncClient(
                base_url=server.url, timeout=30, headers=bearer(settings)
            ) as http:
                yield Factview(settings, runtime, server, http)
        finally:
            await server.stop()
    finally:
        await runtime.stop()


def ws_url(fv: Factview) -> str:
    return fv.server.url.replace("http://", "ws://") + "/graphql"


@dataclass
class LiveSubscription:
    """A gql client on its own websocket connection, collecting one subscription's results."""

    results: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    errors: list[BaseException] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    async def next(self, timeout: float = 10.0) -> dict[str, Any]:
        try:
            return await asyncio.wait_for(self.results.get(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"no subscription result within {timeout}s (errors: {self.errors!r})"
            ) from None

    @property
    def ended(self) -> bool:
        return self.task is not None and self.task.done()

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


def subscribe(fv: Factview, query: str, **variables: Any) -> LiveSubscription:
    sub = LiveSubscription()

    async def run() -> None:
        transport = WebsocketsTransport(
            url=ws_url(fv),
            subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
            init_payload=bearer(fv.settings),
        )
        try:
            async with Client(transport=transport) as session:
                request = GraphQLRequest(query, variable_values=variables)
                async for result in session.subscribe(request):
                    sub.results.put_nowait(result)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            sub.errors.append(exc)

    sub.task = asyncio.create_task(run())
    return sub
