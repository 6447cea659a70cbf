"""Started once for the package: a recording owner, an instance that forwards to it (with the IDE
and the web app served), and two customers with an account each."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from app.devstack.embedded import free_port
from app.devstack.topics import ensure_topics
from app.http.serving import start_server
from tests.integration.access.harness import ACCOUNT, RecordingOwner, as_role
from tests.support.facts import account_event, at, customer_event, produce
from tests.support.stack import Factview, eventually, factview_settings, running_factview


@pytest.fixture(scope="package")
async def owner() -> AsyncIterator[RecordingOwner]:
    recording = RecordingOwner()
    server = await start_server(recording.app(), "127.0.0.1", free_port())
    recording.url = server.url  # type: ignore[attr-defined]
    yield recording
    await server.stop()


@pytest.fixture(scope="package")
async def fv(
    kafka_bootstrap: str, mongo_uri: str, owner: RecordingOwner
) -> AsyncIterator[Factview]:
    unique = uuid.uuid4().hex[:10]
    url = owner.url  # type: ignore[attr-defined]
    settings = factview_settings(
        kafka_bootstrap,
        mongo_uri,
        unique,
        customers_owner_url=url,
        accounts_owner_url=url,
        graphiql=True,  # the IDE page is served without a token; operations never are
        web_app=True,
    )
    await ensure_topics(kafka_bootstrap, settings.kafka_topics)
    async with running_factview(settings) as instance:
        yield instance


@pytest.fixture(scope="package")
async def two_customers(fv: Factview) -> dict[str, str]:
    ids = {"ann": f"cus-{uuid.uuid4().hex[:6]}", "bob": f"cus-{uuid.uuid4().hex[:6]}"}
    ids["ann_acc"], ids["bob_acc"] = f"acc-{uuid.uuid4().hex[:6]}", f"acc-{uuid.uuid4().hex[:6]}"
    boot = fv.settings.kafka_bootstrap_servers
    await produce(
        boot,
        fv.customers_topic,
        [
            customer_event(
                "customer.registered", ids["ann"], at(0), name="Ann", email="ann@example.com"
            ),
            customer_event(
                "customer.registered", ids["bob"], at(0), name="Bob", email="bob@example.com"
            ),
        ],
    )
    await produce(
        boot,
        fv.accounts_topic,
        [
            account_event(
                "account.opened", ids["ann_acc"], at(1), customerId=ids["ann"], currency="EUR"
            ),
            account_event(
                "account.deposited",
                ids["ann_acc"],
                at(2),
                transactionId="t1",
                amount="5.00",
                currency="EUR",
            ),
            account_event(
                "account.opened", ids["bob_acc"], at(1), customerId=ids["bob"], currency="EUR"
            ),
            account_event(
                "account.deposited",
                ids["bob_acc"],
                at(2),
                transactionId="t2",
                amount="900.00",
                currency="EUR",
            ),
        ],
    )
    await eventually(
        lambda: as_role(fv, "staff", "ops", ACCOUNT, id=ids["bob_acc"]),
        lambda b: (b.get("data") or {}).get("account") is not None,
    )
    return ids
