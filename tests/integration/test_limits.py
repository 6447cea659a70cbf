"""Abuse limits: each one passes at the limit and refuses one beyond, with a clear message."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.consistency import Facts
from app.topics import ensure_topics
from tests.integration.conftest import Factview, factview_settings
from tests.integration.stack import running_factview


@pytest.fixture(scope="module")
async def fv(kafka_bootstrap: str, mongo_uri: str) -> AsyncIterator[Factview]:
    settings = factview_settings(
        kafka_bootstrap,
        mongo_uri,
        uuid.uuid4().hex[:10],
        operation_timeout_seconds=1.0,
        fold_wait_seconds=5.0,
    )
    await ensure_topics(kafka_bootstrap, settings.kafka_topics)
    async with running_factview(settings) as instance:
        yield instance


async def post(fv: Factview, payload: Any) -> httpx.Response:
    return await fv.http.post("/graphql", json=payload)


def messages(response: httpx.Response) -> str:
    return " ".join(e["message"] for e in response.json().get("errors", []))


def depth_query(depth: int) -> str:
    """customer > accounts > customer > ... > id, `depth` levels below the root field."""
    body = "id"
    for level in range(depth, 1, -1):
        body = f"{'accounts' if level % 2 == 0 else 'customer'} {{ {body} }}"
    return f'query {{ customer(id: "x") {{ {body} }} }}'


async def test_query_depth_6_passes_and_7_is_refused(fv: Factview) -> None:
    ok = await post(fv, {"query": depth_query(6)})
    assert "errors" not in ok.json(), ok.json()
    deep = await post(fv, {"query": depth_query(7)})
    assert "exceeds maximum operation depth of 6" in messages(deep)


async def test_depth_is_counted_through_fragments(fv: Factview) -> None:
    inner = "accounts { customer { accounts { customer { accounts { id } } } } }"
    at_limit = f'query {{ customer(id: "x") {{ ...A }} }} fragment A on Customer {{ {inner} }}'
    assert "depth" not in messages(await post(fv, {"query": at_limit}))
    beyond = at_limit.replace("accounts { id }", "accounts { customer { id } }")
    assert "exceeds maximum operation depth of 6" in messages(await post(fv, {"query": beyond}))


async def test_15_aliases_pass_and_16_are_refused(fv: Factview) -> None:
    def aliased(n: int) -> str:
        return "{ " + " ".join(f'a{i}: account(id: "x{i}") {{ id }}' for i in range(n)) + " }"

    assert "errors" not in (await post(fv, {"query": aliased(15)})).json()
    assert "16 aliases found. Allowed: 15" in messages(await post(fv, {"query": aliased(16)}))


async def test_aliases_are_counted_through_fragments(fv: Factview) -> None:
    fields = " ".join(f"n{i}: name" for i in range(16))
    query = f'query {{ customer(id: "x") {{ ...F }} }} fragment F on Customer {{ {fields} }}'
    assert "16 aliases found. Allowed: 15" in messages(await post(fv, {"query": query}))


def tokens(n: int) -> str:
    """A valid document of exactly n tokens: 110 fragments of 9 tokens each, plus padding."""
    fragments = 110
    padding = n - 2 - 9 * fragments
    spreads = " ".join(f"...F{i}" for i in range(fragments))
    root = "{ " + " ".join(["__typename"] * padding) + f" {spreads} }}"
    return root + "".join(f" fragment F{i} on Query {{ __typename }}" for i in range(fragments))


async def test_1000_tokens_pass_and_1001_are_refused(fv: Factview) -> None:
    assert "errors" not in (await post(fv, {"query": tokens(1000)})).json()
    refused = messages(await post(fv, {"query": tokens(1001)}))
    assert "Document contains more than 1000 tokens" in refused


async def test_first_is_at_most_100(fv: Factview) -> None:
    assert (
        "errors"
        not in (await post(fv, {"query": "{ customers(first: 100) { nodes { id } } }"})).json()
    )
    refused = await post(fv, {"query": "{ customers(first: 101) { nodes { id } } }"})
    assert refused.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "first must be between 0 and 100" in messages(refused)


async def test_the_body_is_at_most_64_kib(fv: Factview) -> None:
    def padded(size: int) -> bytes:
        base = b'{"query": "{ __typename }", "variables": {"pad": ""}}'
        return base.replace(b'""', b'"' + b"x" * (size - len(base)) + b'"')

    at_limit = await fv.http.post(
        "/graphql", content=padded(64 * 1024), headers={"content-type": "application/json"}
    )
    assert at_limit.status_code == 200, at_limit.text
    over = await fv.http.post(
        "/graphql", content=padded(64 * 1024 + 1), headers={"content-type": "application/json"}
    )
    assert over.status_code == 413
    assert over.json()["errors"][0]["extensions"]["code"] == "BODY_TOO_LARGE"


async def test_a_chunked_body_over_the_limit_is_refused_too(fv: Factview) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"query": "{ __typename }", "variables": {"pad": "'
        for _ in range(70):
            yield b"x" * 1024
        yield b'"}}'

    over = await fv.http.post(
        "/graphql", content=chunks(), headers={"content-type": "application/json"}
    )
    assert over.status_code == 413


async def test_batching_is_off(fv: Factview) -> None:
    batch = await post(fv, [{"query": "{ __typename }"}, {"query": "{ __typename }"}])
    assert batch.status_code == 400
    assert "Batching is not enabled" in batch.text


async def test_introspection_and_suggestions_are_off_by_default(fv: Factview) -> None:
    intro = await post(fv, {"query": "{ __schema { types { name } } }"})
    assert "introspection has been disabled" in messages(intro)
    typo = await post(fv, {"query": '{ custmer(id: "x") { id } }'})
    assert "Cannot query field 'custmer'" in messages(typo)
    assert "Did you mean" not in messages(typo)


async def test_unexpected_errors_are_masked(fv: Factview) -> None:
    # A document no projection would write: reading it fails inside the resolver.
    broken = f"acc-{uuid.uuid4().hex[:6]}"
    await fv.runtime.db.accounts.insert_one({"_id": broken, "id": broken, "status": "MELTED"})
    body = (
        await post(
            fv,
            {
                "query": "query($id: ID!) { account(id: $id) { status } }",
                "variables": {"id": broken},
            },
        )
    ).json()
    assert body["data"] == {"account": None}
    assert body["errors"][0]["message"] == "Unexpected error."
    assert "MELTED" not in str(body) and "Traceback" not in str(body)


async def test_an_operation_over_its_time_is_cut_off(fv: Factview) -> None:
    # A consistency token for facts that never arrive waits fold_wait_seconds (5 s) > 1 s.
    token = Facts("accounts", (uuid.uuid4().hex,)).token()
    response = await post(
        fv,
        {
            "query": 'query($t: String) { account(id: "x", consistencyToken: $t) { id } }',
            "variables": {"t": token},
        },
    )
    assert response.status_code == 504
    assert response.json()["errors"][0]["extensions"]["code"] == "OPERATION_TIMEOUT"
