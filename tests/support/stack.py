"""Running factview instances for tests: settings, tokens, the instance with its HTTP client, and
real GraphQL subscription clients. The one place a test starts factview."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from gql import Client, GraphQLRequest
from gql.transport.websockets import WebsocketsTransport

from app.auth import Role, token_for
from app.devstack.embedded import free_port
from app.http.asgi import create_app
from app.http.serving import RunningServer, start_server
from app.runtime import Runtime
from app.settings import AuthSettings, Settings
from consumers.projections import PROJECTIONS


@dataclass
class Factview:
    settings: Settings
    runtime: Runtime
    server: RunningServer
    http: httpx.AsyncClient

    @property
    def customers_topic(self) -> str:
        return self.settings.kafka_topics[0]

    @property
    def accounts_topic(self) -> str:
        return self.settings.kafka_topics[1]

    async def graphql(self, query: str, **variables: Any) -> dict[str, Any]:
        response = await self.http.post("/graphql", json={"query": query, "variables": variables})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


async def eventually(
    probe: Callable[[], Awaitable[Any]], until: Callable[[Any], bool], timeout: float = 15.0
) -> Any:
    """Call probe until its result satisfies `until`, or fail with the last result."""
    deadline = time.monotonic() + timeout
    result = await probe()
    while not until(result):
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last result: {result!r}")
        await asyncio.sleep(0.05)  # poll interval between probes, bounded by the deadline
        result = await probe()
    return result


TEST_JWT_SECRET = "factview-tests-" + "x" * 32


def token(settings: AuthSettings, role: Role = "staff", subject: str = "ops") -> str:
    """A real HS256 token for this instance's secret, audience and issuer."""
    return token_for(settings, subject, role)


def bearer(settings: AuthSettings, role: Role = "staff", subject: str = "ops") -> dict[str, str]:
    return {"Authorization": f"Bearer {token(settings, role, subject)}"}


# What the demo owners in tests verify tokens with: the same secret as every test instance.
OWNER_AUTH = AuthSettings(_env_file=None, auth_jwt_secret=TEST_JWT_SECRET)  # type: ignore[call-arg,arg-type]


def factview_settings(
    kafka_bootstrap: str, mongo_uri: str, unique: str, **overrides: Any
) -> Settings:
    values: dict[str, Any] = {
        "kafka_bootstrap_servers": kafka_bootstrap,
        "kafka_topics": [f"customers.facts.{unique}", f"accounts.facts.{unique}"],
        "kafka_group_id": f"factview-{unique}",
        "mongodb_uri": mongo_uri,
        "mongodb_database": f"factview_{unique}",
        "graphiql": False,
        "startup_timeout_seconds": 10,
        "auth_jwt_secret": TEST_JWT_SECRET,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@contextlib.asynccontextmanager
async def running_factview(
    settings: Settings, consume: bool = True, http_timeout: float = 30
) -> AsyncIterator[Factview]:
    runtime = await Runtime.start(settings, PROJECTIONS, consume=consume)
    try:
        server = await start_server(create_app(settings, runtime), "127.0.0.1", free_port())
        try:
            async with httpx.AsyncClient(
                base_url=server.url, timeout=http_timeout, headers=bearer(settings)
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
