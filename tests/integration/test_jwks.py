"""JWKS verification (production): keys from a real JWKS endpoint on a port."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.auth import AuthError, Principal, TokenVerifier
from app.devstack.embedded import free_port
from app.http.serving import start_server

AUD, ISS = "factview", "https://id.example.com/"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PUBLIC_PEM = KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)


def claims(**overrides: Any) -> dict[str, Any]:
    base = {"sub": "c1", "role": "customer", "aud": AUD, "iss": ISS, "exp": int(time.time()) + 60}
    base.update(overrides)
    return base


@pytest.fixture(scope="module")
async def jwks_url() -> AsyncIterator[str]:
    jwk = json.loads(RSAAlgorithm.to_jwk(KEY.public_key()))
    jwk.update({"kid": "key-1", "use": "sig", "alg": "RS256"})

    async def keys(_: object) -> JSONResponse:
        return JSONResponse({"keys": [jwk]})

    server = await start_server(Starlette(routes=[Route("/jwks", keys)]), "127.0.0.1", free_port())
    yield f"{server.url}/jwks"
    await server.stop()


async def test_a_good_rs256_token_passes(jwks_url: str) -> None:
    verifier = TokenVerifier(audience=AUD, issuer=ISS, jwks_url=jwks_url)
    good = jwt.encode(claims(), KEY, algorithm="RS256", headers={"kid": "key-1"})
    assert await verifier.verify(f"Bearer {good}") == Principal("c1", "customer")


async def test_an_unknown_kid_is_refused(jwks_url: str) -> None:
    verifier = TokenVerifier(audience=AUD, issuer=ISS, jwks_url=jwks_url)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims(), other, algorithm="RS256", headers={"kid": "key-2"})
    with pytest.raises(AuthError, match="signing key"):
        await verifier.verify(f"Bearer {forged}")


async def test_hs256_signed_with_the_public_key_is_refused(jwks_url: str) -> None:
    verifier = TokenVerifier(audience=AUD, issuer=ISS, jwks_url=jwks_url)
    # The classic confusion attack: the public key used as an HMAC secret.
    header = {"kid": "key-1", "alg": "HS256", "typ": "JWT"}
    forged = _hmac_token(claims(role="staff"), PUBLIC_PEM, header)
    with pytest.raises(AuthError, match="alg value is not allowed"):
        await verifier.verify(f"Bearer {forged}")


async def test_a_wrong_signature_with_the_right_kid_is_refused(jwks_url: str) -> None:
    verifier = TokenVerifier(audience=AUD, issuer=ISS, jwks_url=jwks_url)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims(role="staff"), other, algorithm="RS256", headers={"kid": "key-1"})
    with pytest.raises(AuthError, match="Signature"):
        await verifier.verify(f"Bearer {forged}")


def _hmac_token(payload: dict[str, Any], secret: bytes, header: dict[str, str]) -> str:
    # PyJWT refuses to HMAC-sign with a PEM key (that is the point); build the token by hand.
    import base64
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"
