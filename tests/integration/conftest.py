"""A factview instance per test module (its own database and topics on the session servers), and a
MongoDB client with the store's codecs for tests that read or break the database directly."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from pymongo import AsyncMongoClient

from app.devstack.topics import ensure_topics
from app.store import make_client
from consumers.document import Document
from tests.support.stack import Factview, factview_settings, running_factview


@pytest.fixture(scope="module")
async def factview(kafka_bootstrap: str, mongo_uri: str) -> AsyncIterator[Factview]:
    unique = uuid.uuid4().hex[:10]
    settings = factview_settings(kafka_bootstrap, mongo_uri, unique)
    await ensure_topics(kafka_bootstrap, settings.kafka_topics)
    async with running_factview(settings, http_timeout=10) as fv:
        yield fv


@pytest.fixture
async def client(mongo_uri: str) -> AsyncIterator[AsyncMongoClient[Document]]:
    client = make_client(mongo_uri)
    yield client
    await client.close()
