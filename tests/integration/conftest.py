"""A factview instance per test module: its own database and topics on the session servers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from app.asgi import create_app
from app.auth import Role, token_for
from app.embedded import free_port
from app.runtime import Runtime
from app.serving import RunningServer, start_server
from app.settings import AuthSettings, Settings
from app.topics import ensure_topics


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


@pytest.fixture(scope="module")
async def factview(kafka_bootstrap: str, mongo_uri: str) -> AsyncIterator[Factview]:
    import uuid

    unique = uuid.uuid4().hex[:10]
    settings = factview_settings(kafka_bootstrap, mongo_uri, unique)
    await ensure_topics(kafka_bootstrap, settings.kafka_topics)
    runtime = await Runtime.start(settings)
    server = await start_server(create_app(settings, runtime), "127.0.0.1", free_port())
    async with httpx.AsyncClient(base_url=server.url, timeout=10, headers=bearer(settings)) as http:
        yield Factview(settings, runtime, server, http)
    await server.stop()
    await runtime.stop()
