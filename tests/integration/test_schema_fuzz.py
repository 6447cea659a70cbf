"""Schema fuzzing: generated queries and mutations never get a 500 or a leaked traceback."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import from_schema, nodes

from app.embedded import free_port
from app.topics import ensure_topics
from schema import schema
from tests.integration.conftest import Factview, factview_settings
from tests.integration.stack import running_factview

SDL = schema.as_str()
SCALARS = {
    "Decimal": st.decimals(min_value=-(10**6), max_value=10**6, places=2)
    .map(str)
    .map(nodes.String),
    "DateTime": st.datetimes().map(lambda d: d.isoformat() + "Z").map(nodes.String),
    "JSON": st.just(nodes.String("{}")),
}
LEAKS = ("Traceback", 'File "', "pymongo", "Error(")


@pytest.fixture(scope="module")
async def fv(kafka_bootstrap: str, mongo_uri: str) -> AsyncIterator[Factview]:
    # Owners nowhere: forwarded mutations must fail with a code, never a 500.
    nowhere = f"http://127.0.0.1:{free_port()}"
    config = factview_settings(
        kafka_bootstrap,
        mongo_uri,
        uuid.uuid4().hex[:10],
        customers_owner_url=nowhere,
        accounts_owner_url=nowhere,
        owner_connect_timeout_seconds=0.5,
        owner_deadline_seconds=1.0,
        fold_wait_seconds=0.2,
        operation_timeout_seconds=2.0,
    )
    await ensure_topics(kafka_bootstrap, config.kafka_topics)
    async with running_factview(config) as instance:
        yield instance


async def check(fv: Factview, document: str) -> None:
    response = await fv.http.post("/graphql", json={"query": document})
    assert response.status_code in (200, 400, 413, 504), (response.status_code, document)
    assert not any(leak in response.text for leak in LEAKS), (document, response.text)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(document=from_schema(SDL, custom_scalars=SCALARS))
async def test_generated_operations_never_500(fv: Factview, document: str) -> None:
    await check(fv, document)
