"""A subscription through the graphql-ws npm client (Node), a client no one here wrote."""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.devstack.topics import ensure_topics
from tests.support.facts import account_event, at, produce
from tests.support.stack import Factview, factview_settings, running_factview, token, ws_url

CLIENT = Path(__file__).resolve().parent / "node"


@pytest.fixture(scope="module")
async def fv(kafka_bootstrap: str, mongo_uri: str) -> AsyncIterator[Factview]:
    settings = factview_settings(kafka_bootstrap, mongo_uri, uuid.uuid4().hex[:10])
    await ensure_topics(kafka_bootstrap, settings.kafka_topics)
    async with running_factview(settings) as instance:
        yield instance


async def test_graphql_ws_client_receives_the_update(fv: Factview) -> None:
    node = shutil.which("node")
    assert node is not None, "node is missing: `make test` installs it with npm"
    assert (CLIENT / "node_modules" / "graphql-ws").is_dir(), "run `make test` (npm ci)"
    a = f"acc-{uuid.uuid4().hex[:6]}"
    boot = fv.settings.kafka_bootstrap_servers
    await produce(
        boot,
        fv.accounts_topic,
        [
            account_event("account.opened", a, at(1), customerId="c", currency="EUR"),
        ],
    )
    client = await asyncio.create_subprocess_exec(
        node,
        str(CLIENT / "subscribe.mjs"),
        ws_url(fv),
        token(fv.settings),
        a,
        "2",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert client.stdout is not None
    try:
        # The first message is the state now: the subscription is registered from here on.
        first = json.loads(await asyncio.wait_for(client.stdout.readline(), 30))
        assert first["data"] == {"accountUpdated": {"id": a, "balance": "0.00", "version": 1}}
        await produce(
            boot,
            fv.accounts_topic,
            [
                account_event(
                    "account.deposited", a, at(2), transactionId="t", amount="2.50", currency="EUR"
                ),
            ],
        )
        second = json.loads(await asyncio.wait_for(client.stdout.readline(), 30))
        assert second["data"] == {"accountUpdated": {"id": a, "balance": "2.50", "version": 2}}
        assert await asyncio.wait_for(client.wait(), 30) == 0
    finally:
        if client.returncode is None:
            client.kill()
            await client.wait()
