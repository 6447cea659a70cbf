"""The GraphQL-over-HTTP specification, as the graphql-http package audits it (npm, pinned in
tests/e2e/frontend), against a real factview with introspection on (the audit asks the schema)."""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from app.topics import ensure_topics
from tests.integration.conftest import Factview, factview_settings, token
from tests.integration.stack import running_factview

TOOLS = Path(__file__).resolve().parent / "frontend"


@pytest.fixture(scope="module")
async def fv(kafka_bootstrap: str, mongo_uri: str) -> AsyncIterator[Factview]:
    settings = factview_settings(
        kafka_bootstrap, mongo_uri, uuid.uuid4().hex[:10], introspection=True
    )
    await ensure_topics(kafka_bootstrap, settings.kafka_topics)
    async with running_factview(settings) as instance:
        yield instance


async def audit(fv: Factview) -> list[dict[str, Any]]:
    node = shutil.which("node")
    assert node is not None, "node is missing: `make test` installs it with npm"
    assert (TOOLS / "node_modules" / "graphql-http").is_dir(), "run `make test` (npm ci)"
    proc = await asyncio.create_subprocess_exec(
        node,
        str(TOOLS / "audit.mjs"),
        f"{fv.server.url}/graphql",
        token(fv.settings),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()
    return [json.loads(line) for line in out.decode().splitlines()]


# MAY items of the audit factview leaves out; README.md ("GraphQL over HTTP") names each.
MAY_LEFT_OUT: set[str] = set()


async def test_graphql_http_audit_finds_no_must_error_and_no_should_warning(fv: Factview) -> None:
    results = await audit(fv)
    assert len(results) > 40, results  # the whole audit ran
    failed = [f"{r['name']}: {r['reason']}" for r in results if r["status"] in ("error", "warn")]
    assert failed == []
    may = {r["name"] for r in results if r["status"] == "notice"}
    assert may == MAY_LEFT_OUT
