"""Session fixtures: each real server is started once per test session, on free loopback ports."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from pymongo import AsyncMongoClient

from app.devstack.embedded import ServerProcess, mongodb_uri, start_secantus, start_tansu

LOG_DIR = Path(__file__).resolve().parent.parent / "test-artifacts" / "server-logs"

# `ci` (what `make test` runs): a few hundred examples for each property that does not set its
# own count; a failure prints the blob that replays it (@reproduce_failure). `dev`: a quick loop.
settings.register_profile("ci", max_examples=200, print_blob=True)
settings.register_profile("dev", max_examples=30, print_blob=True)
# `mutation` (make mutation): thousands of short sessions; each property still runs its edge
# cases and a few random examples.
settings.register_profile("mutation", max_examples=10)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def kafka_server() -> Iterator[ServerProcess]:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    server = start_tansu(log_dir=LOG_DIR)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mongo_server() -> Iterator[ServerProcess]:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    server = start_secantus(log_dir=LOG_DIR)
    yield server
    server.stop()


# Servers started once outside the session (`make mutation` runs thousands of short sessions
# against one broker and one database); unset, each session starts its own.
EXTERNAL_KAFKA = "FACTVIEW_TEST_KAFKA_BOOTSTRAP"
EXTERNAL_MONGODB = "FACTVIEW_TEST_MONGODB_URI"


@pytest.fixture(scope="session")
def kafka_bootstrap(request: pytest.FixtureRequest) -> str:
    if external := os.environ.get(EXTERNAL_KAFKA):
        return external
    server: ServerProcess = request.getfixturevalue("kafka_server")
    return f"127.0.0.1:{server.port}"


@pytest.fixture(scope="session")
def mongo_uri(request: pytest.FixtureRequest) -> str:
    if external := os.environ.get(EXTERNAL_MONGODB):
        # Several servers, space-separated: each session takes one (SecantusDB is one
        # Python process, so one server is what a run of many short sessions waits on).
        uris = external.split()
        return uris[os.getpid() % len(uris)]
    server: ServerProcess = request.getfixturevalue("mongo_server")
    return mongodb_uri(server.port)


@pytest.fixture
async def mongo_client(mongo_uri: str) -> AsyncIterator[AsyncMongoClient[dict[str, object]]]:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongo_uri)
    yield client
    await client.close()


@pytest.fixture
def unique() -> str:
    """A short unique suffix, so tests on the session servers never share topics or databases."""
    return uuid.uuid4().hex[:10]
