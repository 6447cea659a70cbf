"""TRUSTED_DOCUMENTS on: only the manifest's operations run, by hash or by their full text."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets

from app.auth import token_for
from app.documents import digest
from app.topics import ensure_topics
from app.web.manifest import MANIFEST
from tests.integration.conftest import Factview, factview_settings
from tests.integration.stack import running_factview, ws_url

LISTED = {op["name"]: op["body"] for op in json.loads(MANIFEST.read_text())["operations"]}


@pytest.fixture(scope="module")
async def fv(kafka_bootstrap: str, mongo_uri: str) -> AsyncIterator[Factview]:
    settings = factview_settings(
        kafka_bootstrap, mongo_uri, uuid.uuid4().hex[:10], trusted_documents=True
    )
    await ensure_topics(kafka_bootstrap, settings.kafka_topics)
    async with running_factview(settings) as instance:
        yield instance


def persisted(document: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": digest(document)}}


async def test_a_listed_document_runs_by_its_hash_alone(fv: Factview) -> None:
    response = await fv.http.post("/graphql", json={"extensions": persisted(LISTED["Customers"])})
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {"customers": {"nodes": []}}


async def test_a_listed_document_runs_by_its_full_text(fv: Factview) -> None:
    response = await fv.http.post("/graphql", json={"query": LISTED["Customers"]})
    assert response.status_code == 200, response.text
    assert "errors" not in response.json()


async def test_a_document_not_in_the_manifest_is_refused(fv: Factview) -> None:
    # The same fields as a listed document, written differently: not the listed bytes.
    for body in (
        {"query": "{ customers(first: 100) { nodes { id name } } }"},
        {"query": "{ __typename }", "extensions": persisted("{ __typename }")},
    ):
        response = await fv.http.post("/graphql", json=body)
        assert response.status_code == 400, response.text
        error = response.json()["errors"][0]
        assert error["extensions"]["code"] == "PERSISTED_QUERY_NOT_IN_LIST"
        assert "data" not in response.json()


async def test_an_unknown_hash_is_not_found_and_a_mismatched_one_refused(fv: Factview) -> None:
    unknown = await fv.http.post("/graphql", json={"extensions": persisted("{ nothing }")})
    assert unknown.status_code == 400
    assert unknown.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert unknown.json()["errors"][0]["message"] == "PersistedQueryNotFound"
    mismatch = await fv.http.post(
        "/graphql",
        json={"query": LISTED["Customers"], "extensions": persisted(LISTED["Name"])},
    )
    assert mismatch.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_HASH_MISMATCH"


async def test_a_get_operation_is_held_to_the_manifest_too(fv: Factview) -> None:
    refused = await fv.http.get("/graphql", params={"query": "{ __typename }"})
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_IN_LIST"
    listed = await fv.http.get(
        "/graphql", params={"extensions": json.dumps(persisted(LISTED["Customers"]))}
    )
    assert listed.status_code == 200, listed.text


async def test_over_a_websocket_only_listed_documents_run(fv: Factview) -> None:
    token = token_for(fv.settings, "ops", "staff")
    async with websockets.connect(ws_url(fv), subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
        )
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(
            json.dumps({"id": "1", "type": "subscribe", "payload": {"query": "{ __typename }"}})
        )
        refused = json.loads(await ws.recv())
        assert refused["type"] == "error" and refused["id"] == "1"
        assert refused["payload"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_IN_LIST"
        listed = {"extensions": persisted(LISTED["Customers"])}
        await ws.send(json.dumps({"id": "2", "type": "subscribe", "payload": listed}))
        answer = json.loads(await ws.recv())
        assert answer["type"] == "next", answer
        assert answer["payload"]["data"] == {"customers": {"nodes": []}}
