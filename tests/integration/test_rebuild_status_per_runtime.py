"""Rebuild status belongs to one runtime: a rebuild in one leaves another in the process ready."""

from __future__ import annotations

import uuid

import httpx

from app.store import database, make_client
from tests.support.rebuilds import stale_view_locked_elsewhere
from tests.support.stack import eventually, factview_settings, running_factview


async def test_one_runtimes_rebuild_leaves_another_runtime_ready(
    kafka_bootstrap: str, mongo_uri: str
) -> None:
    rebuilding = factview_settings(kafka_bootstrap, mongo_uri, uuid.uuid4().hex[:10])
    steady = factview_settings(kafka_bootstrap, mongo_uri, uuid.uuid4().hex[:10])
    client = make_client(mongo_uri)
    db = database(client, rebuilding.mongodb_database)
    try:
        # The first runtime rebuilds its account view at start and waits on a lock held elsewhere.
        release = await stale_view_locked_elsewhere(db)
        async with (
            running_factview(rebuilding, consume=False) as first,
            running_factview(steady, consume=False) as second,
        ):

            async def first_ready() -> httpx.Response:
                return await first.http.get("/readyz")

            unready = await eventually(first_ready, lambda r: r.status_code == 503)
            assert unready.json()["checks"]["rebuilding"] == ["account"]

            other = await second.http.get("/readyz")
            assert other.status_code == 200, other.text
            assert other.json() == {"ready": True, "checks": {"mongodb": True, "rebuilding": []}}
            # The first runtime was still rebuilding while the second answered.
            assert (await first_ready()).status_code == 503

            await release()
            await eventually(first_ready, lambda r: r.status_code == 200, timeout=30)
    finally:
        for name in (rebuilding.mongodb_database, steady.mongodb_database):
            await client.drop_database(name)
        await client.close()
