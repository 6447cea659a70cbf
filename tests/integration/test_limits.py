"""Abuse limits: each one passes at the limit and refuses one beyond, with a clear message."""

from __future__ import annotations

import base64
import json
import time
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


@pytest.mark.parametrize("body", [b'"just a string"', b"5", b"null", b"true"])
async def test_a_json_body_that_is_not_an_object_is_a_400(fv: Factview, body: bytes) -> None:
    response = await fv.http.post(
        "/graphql", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert "JSON object" in response.text


def token_of(raw: object) -> str:
    text = json.dumps(raw, separators=(",", ":")).encode()
    return "c1." + base64.urlsafe_b64encode(text).decode().rstrip("=")


@pytest.mark.parametrize(
    "token",
    [
        token_of({"s": "accounts", "i": 5}),
        token_of({"s": "accounts", "i": "abc"}),
        token_of([1, 2]),
        token_of("text"),
        token_of({"s": 7, "i": []}),
        token_of({"s": "accounts", "i": [f"id-{n}" for n in range(17)]}),
        token_of({"s": "accounts", "i": ["x" * 129]}),
        token_of({"s": "accounts", "i": [uuid.uuid4().hex for _ in range(1000)]}),
        "c1.!!!",
    ],
    ids=["ids-int", "ids-str", "list", "str", "source-int", "17-ids", "long-id", "50kb", "junk"],
)
async def test_a_consistency_token_of_the_wrong_shape_or_size_is_refused_at_once(
    fv: Factview, token: str
) -> None:
    started = time.monotonic()
    response = await post(
        fv,
        {
            "query": 'query($t: String) { account(id: "x", consistencyToken: $t) { id } }',
            "variables": {"t": token},
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_CONSISTENCY_TOKEN"
    assert time.monotonic() - started < 0.9  # refused, never waited for


async def test_an_oversized_authorization_header_is_refused_before_verification(
    fv: Factview,
) -> None:
    huge = {"Authorization": "Bearer " + "a" * (1024 * 1024)}
    response = await fv.http.post("/graphql", json={"query": "{ __typename }"}, headers=huge)
    assert response.status_code == 431
    assert response.json()["errors"][0]["extensions"]["code"] == "HEADERS_TOO_LARGE"
    at_limit = {"X-Pad": "a" * 8 * 1024}
    ok = await fv.http.post("/graphql", json={"query": "{ __typename }"}, headers=at_limit)
    assert ok.status_code == 200


@pytest.mark.parametrize(
    ("query", "variables", "names"),
    [
        ("{ customers(fist: 1) { nodes { id } } }", {}, "'fist'"),
        ("query($n: Strng) { customer(id: $n) { id } }", {}, "'Strng'"),
        ('{ events(subject: "x", order: ACS) { nodes { id } } }', {}, "'ACS'"),
        (
            'query($o: EventOrder!) { events(subject: "x", order: $o) { nodes { id } } }',
            {"o": "DSC"},
            "'DSC'",
        ),
    ],
    ids=["argument", "type", "enum-literal", "enum-variable"],
)
async def test_no_suggestions_for_arguments_types_or_enum_values(
    fv: Factview, query: str, variables: dict[str, Any], names: str
) -> None:
    text = messages(await post(fv, {"query": query, "variables": variables}))
    assert names in text  # the error itself is there, and specific
    assert "Did you mean" not in text, text


async def test_operation_names_from_clients_do_not_grow_the_metrics(fv: Factview) -> None:
    for n in range(40):
        await post(fv, {"query": f"query Probe{n}x{uuid.uuid4().hex} {{ __typename }}"})
    await post(fv, {"query": "query Customers { customers(first: 1) { nodes { id } } }"})
    exposition = (await fv.http.get("/metrics")).text
    series = [
        line
        for line in exposition.splitlines()
        if line.startswith("factview_graphql_operation_seconds_count")
    ]
    assert not any("Probe" in line for line in series), series
    assert any('operation="other"' in line for line in series)
    assert any('operation="Customers"' in line for line in series)  # a manifest operation
    assert len(series) <= 3


@pytest.mark.parametrize(
    "cursor",
    ["!!!", "_w==", "ZXZlbnQ6eA==", "\u00e9t\u00e9", "=" * 10, "a" * 5000, "ab cd"],
)
async def test_tampered_cursors_are_bad_cursor(fv: Factview, cursor: str) -> None:
    for query in (
        "query($c: String) { customers(after: $c) { nodes { id } } }",
        'query($c: String) { events(subject: "ops", after: $c) { nodes { id } } }',
    ):
        body = (await post(fv, {"query": query, "variables": {"c": cursor}})).json()
        assert body["errors"][0]["extensions"]["code"] == "BAD_CURSOR", body
