"""The demo owners under test: served on a free port, their topic read back with a real consumer,
and their facts and error answers checked against the contract."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import jwt
from aiokafka import AIOKafkaConsumer
from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.bindings.kafka import KafkaMessage, from_kafka
from cloudevents.core.formats.json import JSONFormat
from starlette.applications import Starlette

from app.auth import Role, verifier_from
from app.devstack.embedded import free_port
from app.devstack.topics import ensure_topics
from app.http.serving import start_server
from tests.support.stack import OWNER_AUTH, TEST_JWT_SECRET, bearer
from tests.support.topics import from_the_start

RFC3339_MICROS_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
WAIT = 20.0  # seconds a fact may take to reach the topic before the test fails
# The owners verify with factview's own verifier and settings (app.auth), as in production.
VERIFIER = verifier_from(OWNER_AUTH)


@dataclass(frozen=True)
class Fact:
    key: str
    partition: int
    headers: dict[str, bytes]
    raw: dict[str, Any]  # the JSON value as sent, to check the wire format itself
    event: BaseCloudEvent


@dataclass
class TopicReader:
    """Reads a topic from the start with a real consumer, keeping every record decoded."""

    consumer: AIOKafkaConsumer
    facts: list[Fact] = field(default_factory=list)

    async def until(self, done: Callable[[list[Fact]], bool], timeout: float = WAIT) -> list[Fact]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not done(self.facts):
            if loop.time() > deadline:
                seen = [(f.key, f.event.get_type()) for f in self.facts]
                raise AssertionError(f"condition not met within {timeout}s; saw {seen}")
            batches = await self.consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    headers = dict(record.headers)
                    event = from_kafka(
                        KafkaMessage(headers=headers, key=record.key, value=record.value),
                        JSONFormat(),
                    )
                    self.facts.append(
                        Fact(
                            record.key.decode(),
                            record.partition,
                            headers,
                            json.loads(record.value),
                            event,
                        )
                    )
        return self.facts

    async def for_subject(self, subject: str, count: int) -> list[Fact]:
        await self.until(lambda facts: sum(f.key == subject for f in facts) >= count)
        return [f for f in self.facts if f.key == subject]


@asynccontextmanager
async def reading(bootstrap: str, topic: str) -> AsyncIterator[TopicReader]:
    async with from_the_start(bootstrap, topic) as consumer:
        yield TopicReader(consumer)


@asynccontextmanager
async def running(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """The owner on a free port, and a client that calls it as staff (as factview relays)."""
    port = free_port()
    server = await start_server(app, "127.0.0.1", port)
    try:
        async with httpx.AsyncClient(
            base_url=server.url, timeout=10, headers=bearer(OWNER_AUTH)
        ) as client:
            yield client
    finally:
        await server.stop()


@dataclass
class Owner:
    http: httpx.AsyncClient
    topic: str
    reader: TopicReader


@asynccontextmanager
async def serving(
    owner: ModuleType, name: str, kafka_bootstrap: str, unique: str, folder: Path
) -> AsyncIterator[Owner]:
    """The owner module's app on its own topic and SQLite file, and a reader of that topic."""
    topic = f"{name}.facts.{unique}"
    await ensure_topics(kafka_bootstrap, [topic])
    app = owner.create_app(str(folder / f"{name}.db"), kafka_bootstrap, topic, verifier=VERIFIER)
    async with running(app) as http, reading(kafka_bootstrap, topic) as reader:
        yield Owner(http, topic, reader)


def assert_fact(fact: Fact, source: str, type_: str, data: dict[str, Any]) -> None:
    event = fact.event
    assert event.get_specversion() == "1.0"
    assert event.get_source() == source
    assert event.get_type() == type_
    assert event.get_subject() == fact.key  # record key = entity id = subject
    assert event.get_datacontenttype() == "application/json"
    assert event.get_data() == data
    assert str(uuid.UUID(event.get_id())) == event.get_id()
    assert RFC3339_MICROS_UTC.fullmatch(fact.raw["time"]), fact.raw["time"]
    assert fact.headers.get("content-type") == b"application/cloudevents+json"  # structured


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]


def as_caller(role: Role, subject: str) -> dict[str, str]:
    return bearer(OWNER_AUTH, role, subject)


def signed(**claims: Any) -> dict[str, str]:
    """A token with exactly these claims (plus the right aud and iss), signed with the secret."""
    payload = {"aud": OWNER_AUTH.auth_audience, "iss": OWNER_AUTH.auth_issuer, **claims}
    return {"Authorization": f"Bearer {jwt.encode(payload, TEST_JWT_SECRET, algorithm='HS256')}"}
