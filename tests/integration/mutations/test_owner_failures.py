"""An owner that refuses, is down or is slow: typed results and coded errors within the timeouts."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from app.devstack.embedded import free_port
from tests.integration.mutations.documents import (
    DEPOSIT,
    OPEN,
    REGISTER,
    WITHDRAW,
    call,
    new_account,
)
from tests.integration.mutations.owners import Stack, slow_owner
from tests.support.stack import bearer, factview_settings, running_factview


async def test_owner_refusals_are_typed_results(stack: Stack) -> None:
    a = await new_account(stack.writer)
    short = (await call(stack.writer, WITHDRAW, id=a, amount="1.00"))["withdraw"]
    assert short["__typename"] == "InsufficientFunds", short
    missing = (await call(stack.writer, DEPOSIT, id="no-such-account", amount="1.00", wait=True))[
        "deposit"
    ]
    assert missing["__typename"] == "NotFound", missing
    negative = (await call(stack.writer, DEPOSIT, id=a, amount="-1", wait=True))["deposit"]
    assert negative["__typename"] == "ValidationFailed", negative
    bad_currency = (await call(stack.writer, OPEN, customerId="c", currency="euro"))["openAccount"]
    assert bad_currency["__typename"] == "ValidationFailed", bad_currency


async def test_an_owner_down_or_slow_gives_a_coded_error_within_its_timeout(
    kafka_bootstrap: str, mongo_uri: str, tmp_path: Path
) -> None:
    unique = uuid.uuid4().hex[:10]
    async with slow_owner() as slow:
        settings = factview_settings(
            kafka_bootstrap,
            mongo_uri,
            unique,
            customers_owner_url=f"http://127.0.0.1:{free_port()}",  # nothing listens here
            accounts_owner_url=slow.url,
            owner_connect_timeout_seconds=1.0,
            owner_read_timeout_seconds=0.5,
            owner_deadline_seconds=3.0,
        )
        async with running_factview(settings, consume=False) as fv:
            caller = bearer(fv.settings)
            started = time.monotonic()
            down = await fv.http.post(
                "/graphql",
                json={"query": REGISTER, "variables": {"name": "A", "email": "a@example.com"}},
            )
            assert time.monotonic() - started < 3.0
            error = down.json()["errors"][0]
            assert error["extensions"]["code"] == "OWNER_UNAVAILABLE", error

            started = time.monotonic()
            late = await fv.http.post(
                "/graphql",
                json={"query": DEPOSIT, "variables": {"id": "a1", "amount": "1.00", "wait": True}},
                headers=caller,
            )
            elapsed = time.monotonic() - started
            error = late.json()["errors"][0]
            assert error["extensions"]["code"] == "OWNER_TIMEOUT", error
            assert 0.5 <= elapsed < 3.0, elapsed
            # The owner saw the caller's credentials and a generated idempotency key.
            assert slow.seen[0]["authorization"] == caller["Authorization"]
            assert len(slow.seen[0]["idempotency-key"]) >= 16
