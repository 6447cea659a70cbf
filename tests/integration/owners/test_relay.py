"""The owners relay outlives a broker that is not up yet: writes are accepted, and published
once the broker starts."""

from __future__ import annotations

import asyncio
from pathlib import Path

from app.devstack.embedded import ServerProcess, free_port, start_tansu
from app.devstack.topics import ensure_topics
from tests.conftest import LOG_DIR
from tests.integration.owners.harness import VERIFIER, reading, running
from upstream import accounts


async def test_relay_survives_a_broker_that_is_not_up_yet(unique: str, tmp_path: Path) -> None:
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"  # nothing listens here yet
    topic = f"accounts.facts.{unique}"
    app = accounts.create_app(str(tmp_path / "accounts.db"), bootstrap, topic, verifier=VERIFIER)
    broker: ServerProcess | None = None
    try:
        async with running(app) as http:
            opened = await http.post("/accounts", json={"customerId": "c", "currency": "EUR"})
            assert opened.status_code == 201, opened.text  # the write does not need the broker
            account_id = opened.json()["accountId"]

            LOG_DIR.mkdir(parents=True, exist_ok=True)
            broker = await asyncio.to_thread(start_tansu, port=port, log_dir=LOG_DIR)
            await ensure_topics(bootstrap, [topic])
            deposit = await http.post(f"/accounts/{account_id}/deposits", json={"amount": "2.00"})

            async with reading(bootstrap, topic) as reader:
                facts = await reader.for_subject(account_id, 2)
            assert [f.event.get_id() for f in facts] == [
                *opened.json()["factIds"],
                *deposit.json()["factIds"],
            ]
    finally:
        if broker is not None:
            await asyncio.to_thread(broker.stop)
