"""Started once for the package: two instances over the real demo owners (one writes, one only
reads), and an instance whose owner records every request it gets."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest

from app.auth import verifier_from
from app.devstack.embedded import free_port
from app.devstack.topics import ensure_topics
from app.http.serving import start_server
from tests.integration.mutations.owners import Recording, Stack, recording_owner
from tests.support.stack import factview_settings, running_factview
from upstream import accounts as accounts_owner
from upstream import customers as customers_owner


@pytest.fixture(scope="package")
async def stack(
    kafka_bootstrap: str, mongo_uri: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    unique = uuid.uuid4().hex[:10]
    base = factview_settings(kafka_bootstrap, mongo_uri, unique)
    await ensure_topics(kafka_bootstrap, base.kafka_topics)
    directory = tmp_path_factory.mktemp(f"owners-{unique}")
    customers_topic, accounts_topic = base.kafka_topics
    # The owners verify the relayed tokens with factview's own settings (one secret).
    verifier = verifier_from(base)
    async with contextlib.AsyncExitStack() as stack:
        urls: dict[str, str] = {}
        for name, owner, topic in (
            ("customers", customers_owner, customers_topic),
            ("accounts", accounts_owner, accounts_topic),
        ):
            app = owner.create_app(
                str(directory / f"{name}.db"), kafka_bootstrap, topic, verifier=verifier
            )
            server = await start_server(app, "127.0.0.1", free_port())
            stack.push_async_callback(server.stop)
            urls[f"{name}_owner_url"] = server.url
        settings = base.model_copy(update=urls)
        writer = await stack.enter_async_context(running_factview(settings, consume=True))
        reader = await stack.enter_async_context(running_factview(settings, consume=False))
        yield Stack(writer, reader)


@pytest.fixture(scope="package")
async def recording(kafka_bootstrap: str, mongo_uri: str) -> AsyncIterator[Recording]:
    async with recording_owner() as owner:
        settings = factview_settings(
            kafka_bootstrap,
            mongo_uri,
            uuid.uuid4().hex[:10],
            customers_owner_url=owner.url,
            accounts_owner_url=owner.url,
        )
        async with running_factview(settings, consume=False) as fv:
            yield Recording(fv, owner)
