"""Rebuild status belongs to one runtime: a rebuild in one leaves another in the process ready."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx

from app.store import database, make_client
from consumers.rebuild.fence import LOCKS, lock_id
from consumers.rebuild.versions import VIEW_VERSIONS
from tests.support.stack import eventually, factview_settings, running_factview


async def test_one_runtimes_rebuild_leaves_another_runtime_ready(
    kafka_bootstrap: str, mongo_uri: str
) -> None:
    rebuilding = factview_settings(kafka_bootstrap, mongo_uri, uuid.uuid4().hex[:10])
    steady = factview_settings(kafka_bootstrap, mongo_uri, uuid.uuid4().hex[:10])
    client = make_client(mongo_uri)
    db = database(client, rebuilding.mongodb_database)
    try:
        # The first runtime's account view was folded by an older projection, and another
        # process holds its rebuild lock: its rebuild starts and waits until the lock goes.
        await db.accounts.insert_one({"_id": "a1", "balance": 0})
        await db[VIEW_VERSIONS].insert_one({"_id": "account", "versions": {"account": 0}})
        later = datetime.now(UTC) + timedelta(minutes=5)
        held = {"_id": lock_id("accounts"), "owner": "elsewhere", "phase": "rebuilding"}
        await db[LOCKS].insert_one({**held, "expiresAt": later})
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

            await db[LOCKS].delete_one({"_id": held["_id"]})
            await eventually(first_ready, lambda r: r.status_code == 200, timeout=30)
    finally:
        for name in (rebuilding.mongodb_database, steady.mongodb_database):
            await client.drop_database(name)
        await client.close()
