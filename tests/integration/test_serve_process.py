"""`factview serve` as deployed: its logs (JSON access lines without query values, client errors
as one INFO line) and /metrics on its own port (METRICS_PORT), never on the API port."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.auth import mint_token
from app.embedded import free_port
from app.topics import ensure_topics
from tests.integration.conftest import TEST_JWT_SECRET, eventually

FACTVIEW = str(Path(sys.executable).with_name("factview"))
SECRET_IN_URL = "token-in-the-url-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def served(kafka_bootstrap: str, mongo_uri: str, tmp_path_factory: Any) -> Iterator[dict[str, Any]]:
    unique = uuid.uuid4().hex[:10]
    topics = [f"customers.facts.{unique}", f"accounts.facts.{unique}"]
    port, metrics_port = free_port(), free_port()
    log_path = tmp_path_factory.mktemp("serve") / "stderr.log"
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "KAFKA_TOPICS": ",".join(topics),
        "KAFKA_GROUP_ID": f"factview-{unique}",
        "MONGODB_URI": mongo_uri,
        "MONGODB_DATABASE": f"factview_{unique}",
        "AUTH_JWT_SECRET": TEST_JWT_SECRET,
        "METRICS_PORT": str(metrics_port),
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
    }
    asyncio.run(ensure_topics(kafka_bootstrap, topics))
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [FACTVIEW, "serve", "--port", str(port)], env=env, stderr=log, stdout=log, cwd="/"
        )
    try:
        yield {
            "url": f"http://127.0.0.1:{port}",
            "metrics": f"http://127.0.0.1:{metrics_port}",
            "log": log_path,
            "process": process,
        }
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def bearer(role: str, subject: str) -> dict[str, str]:
    token = mint_token(
        TEST_JWT_SECRET,
        subject=subject,
        role=role,
        audience="factview",
        issuer="factview",  # type: ignore[arg-type]
    )
    return {"Authorization": f"Bearer {token}"}


async def up(served: dict[str, Any]) -> None:
    async def ready() -> int:
        try:
            async with httpx.AsyncClient(base_url=served["url"]) as http:
                return (await http.get("/healthz")).status_code
        except httpx.TransportError:
            return 0

    await eventually(ready, lambda status: status == 200, timeout=40)


def lines(served: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for raw in Path(served["log"]).read_text().splitlines():
        try:
            out.append(json.loads(raw))
        except ValueError:
            out.append({"unparsed": raw})
    return out


async def test_metrics_are_served_on_their_own_port_only(served: dict[str, Any]) -> None:
    await up(served)
    async with httpx.AsyncClient() as http:
        assert (await http.get(served["url"] + "/metrics")).status_code == 404
        scraped = await http.get(served["metrics"] + "/metrics")
    assert scraped.status_code == 200
    assert "factview_live_subscriptions" in scraped.text


async def test_access_lines_are_json_without_query_values(served: dict[str, Any]) -> None:
    await up(served)
    async with httpx.AsyncClient(base_url=served["url"]) as http:
        await http.get(
            "/graphql",
            params={"query": "{ __typename }", "headers": SECRET_IN_URL},
            headers=bearer("staff", "ops"),
        )

    def access() -> list[dict[str, Any]]:
        return [
            line
            for line in lines(served)
            if line.get("event") == "http request" and line.get("path", "").startswith("/graphql")
        ]

    found = await eventually(
        lambda: _now(access()),
        lambda a: len(a) >= 1,
    )
    line = found[0]
    assert line["path"] == "/graphql?query&headers" and line["status"] == 200
    everything = lines(served)
    assert SECRET_IN_URL not in json.dumps(everything)
    assert not any("unparsed" in x for x in everything), "every line is JSON"


async def test_a_client_error_is_one_info_line_without_traceback(served: dict[str, Any]) -> None:
    await up(served)
    marker = f"cus-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(base_url=served["url"]) as http:
        body = (
            await http.post(
                "/graphql",
                json={"query": f'{{ customer(id: "{marker}") {{ id }} }}'},
                headers=bearer("customer", "cus-someone-else"),
            )
        ).json()
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    def about_it() -> list[dict[str, Any]]:
        return [x for x in lines(served) if marker in json.dumps(x)]

    found = await eventually(lambda: _now(about_it()), lambda a: len(a) >= 1)
    assert len(found) == 1, found
    assert found[0]["level"] == "info" and found[0]["code"] == "FORBIDDEN"
    assert "exception" not in found[0] and "Traceback" not in json.dumps(found[0])


async def _now(value: Any) -> Any:
    return value
