"""Schema fuzzing: every generated query and mutation gets data or a deliberate, coded error.

A crash in a resolver is masked as "Unexpected error." with HTTP 200, so status codes alone
prove nothing: each error must carry one of the codes the service gives on purpose.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import from_schema, nodes

from app.devstack.embedded import free_port
from app.devstack.topics import ensure_topics
from schema import schema
from tests.support.stack import Factview, factview_settings, running_factview

SDL = schema.as_str()
SCALARS = {
    "Decimal": st.decimals(min_value=-(10**6), max_value=10**6, places=2)
    .map(str)
    .map(nodes.String),
    "DateTime": st.datetimes().map(lambda d: d.isoformat() + "Z").map(nodes.String),
    "JSON": st.just(nodes.String("{}")),
}
LEAKS = ("Traceback", 'File "', "pymongo", "Error(")
# The codes factview gives on purpose (README: errors), nothing else.
KNOWN_CODES = {
    "BAD_CONSISTENCY_TOKEN",
    "BAD_IDEMPOTENCY_KEY",
    "BAD_CURSOR",
    "BAD_REQUEST",
    "BAD_USER_INPUT",
    "BODY_TOO_LARGE",
    "CONSISTENCY_TIMEOUT",
    "FORBIDDEN",
    "GRAPHQL_PARSE_FAILED",
    "GRAPHQL_VALIDATION_FAILED",
    "OWNER_REFUSED",
    "OWNER_TIMEOUT",
    "OWNER_UNAVAILABLE",
    # discardDeadLetter of an unknown letter (README "Operating dead letters and documents").
    "NOT_FOUND",
}


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
    # 504 is an operation that hung: no generated document may.
    assert response.status_code in (200, 400, 413), (response.status_code, document)
    assert not any(leak in response.text for leak in LEAKS), (document, response.text)
    for error in response.json().get("errors", []):
        assert error["message"] != "Unexpected error.", (document, response.text)
        code = (error.get("extensions") or {}).get("code")
        assert code in KNOWN_CODES, (code, document, response.text)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(document=from_schema(SDL, custom_scalars=SCALARS))
async def test_generated_operations_get_data_or_a_coded_error(fv: Factview, document: str) -> None:
    await check(fv, document)
