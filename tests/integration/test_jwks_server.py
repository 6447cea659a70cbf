"""A running factview with AUTH_JWKS_URL: ES256 over HTTP and websocket, key rotation, and an
identity provider that cannot be reached (a 401, never a 500)."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
import websockets
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.devstack.embedded import free_port
from app.http.asgi import create_app
from app.http.serving import start_server
from app.runtime import Runtime
from app.settings import Settings
from tests.support.stack import Factview, eventually, factview_settings, ws_url

ISS = "https://id.example.com/"
QUERY = {"query": "{ customers { nodes { id } } }"}

# The refetch cooldown (AUTH_JWKS_REFETCH_COOLDOWN_SECONDS) this test runs with: short, so the
# rotation is seen in seconds; the default (30) is the same code path.
COOLDOWN = 5.0


def es256_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_jwk(key: ec.EllipticCurvePrivateKey, kid: str) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(key.public_key()))
    return {**jwk, "kid": kid, "use": "sig", "alg": "ES256"}


def token(key: ec.EllipticCurvePrivateKey, kid: str, role: str = "staff") -> str:
    claims = {"sub": "ops", "role": role, "aud": "factview", "iss": ISS}
    claims["exp"] = int(time.time()) + 60  # type: ignore[assignment]
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": kid})


class Provider:
    """An identity provider's JWKS endpoint whose published keys the test changes."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.fetches = 0

    def app(self) -> Starlette:
        async def jwks(_: Request) -> JSONResponse:
            self.fetches += 1
            return JSONResponse({"keys": self.keys})

        return Starlette(routes=[Route("/jwks", jwks)])


@pytest.fixture(scope="module")
async def provider() -> AsyncIterator[tuple[Provider, str]]:
    idp = Provider()
    server = await start_server(idp.app(), "127.0.0.1", free_port())
    yield idp, f"{server.url}/jwks"
    await server.stop()


def jwks_settings(kafka_bootstrap: str, mongo_uri: str, url: str) -> Settings:
    return factview_settings(
        kafka_bootstrap,
        mongo_uri,
        uuid.uuid4().hex[:10],
        auth_jwt_secret=None,
        auth_jwks_url=url,
        auth_issuer=ISS,
        auth_jwks_refetch_cooldown_seconds=COOLDOWN,
    )


@contextlib.asynccontextmanager
async def running_factview(settings: Settings) -> AsyncIterator[Factview]:
    """factview serving (no consumers: only authentication is under test), no default token."""
    runtime = await Runtime.start(settings, consume=False)
    server = await start_server(create_app(settings, runtime), "127.0.0.1", free_port())
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            yield Factview(settings, runtime, server, http)
    finally:
        await server.stop()
        await runtime.stop()


@pytest.fixture(scope="module")
async def fv(
    kafka_bootstrap: str, mongo_uri: str, provider: tuple[Provider, str]
) -> AsyncIterator[Factview]:
    settings = jwks_settings(kafka_bootstrap, mongo_uri, provider[1])
    async with running_factview(settings) as instance:
        yield instance


async def post(fv: Factview, bearer: str) -> tuple[int, dict[str, Any]]:
    response = await fv.http.post("/graphql", json=QUERY, headers={"Authorization": bearer})
    body: dict[str, Any] = response.json()
    return response.status_code, body


async def connection_init(fv: Factview, bearer: str) -> dict[str, Any] | int:
    """The server's answer to connection_init: its message, or the close code."""
    async with websockets.connect(ws_url(fv), subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        payload = {"Authorization": bearer}
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        try:
            answer: dict[str, Any] = json.loads(await ws.recv())
        except websockets.ConnectionClosed as closed:
            assert closed.rcvd is not None
            return closed.rcvd.code
        return answer


async def test_es256_tokens_from_the_jwks_pass_over_http_and_websocket(
    fv: Factview, provider: tuple[Provider, str]
) -> None:
    idp, _ = provider
    key = es256_key()
    idp.keys = [public_jwk(key, "es-1")]
    status, body = await post(fv, f"Bearer {token(key, 'es-1')}")
    assert (status, body.get("errors")) == (200, None), body
    assert body["data"]["customers"]["nodes"] == []
    ack = await connection_init(fv, f"Bearer {token(key, 'es-1')}")
    assert isinstance(ack, dict) and ack["type"] == "connection_ack", ack

    # Signed by another key under the published kid: refused on both transports.
    forged = token(es256_key(), "es-1")
    status, body = await post(fv, f"Bearer {forged}")
    assert status == 401 and body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert await connection_init(fv, f"Bearer {forged}") == 4403


async def test_a_rotated_key_is_fetched_and_the_retired_one_refused(
    kafka_bootstrap: str, mongo_uri: str, provider: tuple[Provider, str]
) -> None:
    idp, url = provider
    old, new = es256_key(), es256_key()
    idp.keys = [public_jwk(old, "old")]
    # An instance of its own: its verifier has fetched nothing yet.
    async with running_factview(jwks_settings(kafka_bootstrap, mongo_uri, url)) as fv:
        await rotate(fv, idp, old, new)


async def rotate(
    fv: Factview, idp: Provider, old: ec.EllipticCurvePrivateKey, new: ec.EllipticCurvePrivateKey
) -> None:
    status, body = await post(fv, f"Bearer {token(old, 'old')}")
    assert status == 200, body

    # The provider rotates: only the new key is published. PyJWKClient refetches the set for
    # an unknown kid, but at most once per cooldown (so a flood of made-up kids cannot hammer
    # the provider): right after a fetch the new kid is refused, then it is fetched.
    idp.keys = [public_jwk(new, "new")]
    fresh = f"Bearer {token(new, 'new')}"
    assert (await post(fv, fresh))[0] == 401
    fetches = idp.fetches
    status, body = await eventually(
        lambda: post(fv, fresh), lambda answer: answer[0] == 200, timeout=COOLDOWN + 15
    )
    assert idp.fetches == fetches + 1
    status, body = await post(fv, f"Bearer {token(old, 'old')}")
    assert status == 401 and body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_an_unreachable_jwks_endpoint_is_a_401_not_a_crash(
    kafka_bootstrap: str, mongo_uri: str
) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}/jwks"
    settings = jwks_settings(kafka_bootstrap, mongo_uri, nowhere)
    async with running_factview(settings) as fv:
        bearer = f"Bearer {token(es256_key(), 'es-1')}"
        status, body = await post(fv, bearer)
        assert status == 401, body
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert "Unexpected" not in str(body)
        assert await connection_init(fv, bearer) == 4403
        assert (await fv.http.get("/healthz")).status_code == 200
