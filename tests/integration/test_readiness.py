"""/readyz says 503, naming the failed check, while Kafka is down or a view is being rebuilt."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from app.devstack.embedded import free_port, start_tansu
from app.devstack.topics import ensure_topics
from app.store import database, make_client
from tests.conftest import LOG_DIR
from tests.support.rebuilds import stale_view_locked_elsewhere
from tests.support.stack import eventually, factview_settings, running_factview


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
        # The start rebuilds the account view, and waits until another process's lock goes.
        release = await stale_view_locked_elsewhere(db)
        async with running_factview(settings, consume=False) as fv:

            async def readyz() -> httpx.Response:
                return await fv.http.get("/readyz")

            unready = await eventually(readyz, lambda r: r.status_code == 503)
            assert unready.json() == {
                "ready": False,
                "checks": {"mongodb": True, "rebuilding": ["account"]},
            }
            await release()
            ready = await eventually(readyz, lambda r: r.status_code == 200, timeout=30)
            assert ready.json()["checks"]["rebuilding"] == []
    finally:
        await client.drop_database(db.name)
        await client.close()
