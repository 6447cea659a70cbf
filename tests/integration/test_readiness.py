"""/readyz says 503, naming the failed check, while Kafka is down or a view is being rebuilt."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx

from app.embedded import free_port, start_tansu
from app.store import database, make_client
from app.topics import ensure_topics
from consumers.rebuild_lock import LOCKS, lock_id
from consumers.versions import VIEW_VERSIONS
from tests.conftest import LOG_DIR
from tests.integration.conftest import eventually, factview_settings
from tests.integration.stack import running_factview


async def test_readyz_is_503_while_kafka_is_down(mongo_uri: str) -> None:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    port = free_port()
    broker = await asyncio.to_thread(start_tansu, port, LOG_DIR)
    try:
        bootstrap = f"127.0.0.1:{port}"
        settings = factview_settings(bootstrap, mongo_uri, uuid.uuid4().hex[:10])
        await ensure_topics(bootstrap, settings.kafka_topics)
        async with running_factview(settings) as fv:
            ready = await fv.http.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"]["kafka"] is True

            await asyncio.to_thread(broker.kill)
            unready = await eventually(
                lambda: fv.http.get("/readyz"), lambda r: r.status_code == 503, timeout=30
            )
            assert unready.json() == {
                "ready": False,
                "checks": {"mongodb": True, "kafka": False, "rebuilding": []},
            }
            assert (await fv.http.get("/healthz")).status_code == 200

            # The broker comes back: ready again.
            broker = await asyncio.to_thread(start_tansu, port, LOG_DIR)
            await eventually(
                lambda: fv.http.get("/readyz"), lambda r: r.status_code == 200, timeout=30
            )
    finally:
        broker.stop()


async def test_readyz_is_503_while_a_view_is_rebuilt(kafka_bootstrap: str, mongo_uri: str) -> None:
    unique = uuid.uuid4().hex[:10]
    settings = factview_settings(kafka_bootstrap, mongo_uri, unique)
    client = make_client(mongo_uri)
    db = database(client, settings.mongodb_database)
    try:
        # An account view folded by an older Account projection: the start rebuilds it. Another
        # process holds the rebuild lock, so the rebuild waits (and runs) until it is released.
        await db.accounts.insert_one({"_id": "a1", "balance": 0})
        await db[VIEW_VERSIONS].insert_one({"_id": "account", "versions": {"account": 0}})
        later = datetime.now(UTC) + timedelta(minutes=5)
        held = {"_id": lock_id("accounts"), "owner": "elsewhere", "phase": "rebuilding"}
        await db[LOCKS].insert_one({**held, "expiresAt": later})
        async with running_factview(settings, consume=False) as fv:

            async def readyz() -> httpx.Response:
                return await fv.http.get("/readyz")

            unready = await eventually(readyz, lambda r: r.status_code == 503)
            assert unready.json() == {
                "ready": False,
                "checks": {"mongodb": True, "rebuilding": ["account"]},
            }
            await db[LOCKS].delete_one({"_id": held["_id"]})
            ready = await eventually(readyz, lambda r: r.status_code == 200, timeout=30)
            assert ready.json()["checks"]["rebuilding"] == []
    finally:
        await client.drop_database(db.name)
        await client.close()
