"""Bearer JWTs: who is calling, verified with PyJWT; and what each role may see."""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import jwt

from app.settings import AuthSettings

Role = Literal["customer", "staff"]
ROLES: tuple[Role, ...] = ("customer", "staff")
MAX_LEEWAY_SECONDS = 30
DEFAULT_MAX_LIFETIME_SECONDS = 24 * 3600
# What a refused caller is told; the specific reason goes to the logs only, so a client
# probing with crafted tokens learns nothing about which check it tripped.
CLIENT_MESSAGE = "a valid bearer token is required"
_DATE_CLAIMS = ("exp", "iat", "nbf")


class AuthError(Exception):
    """The caller is not authenticated; the message says why, without secrets."""


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    role: Role
    # The verified token itself: what a forwarded write relays to an owner, so the owner
    # checks exactly what factview checked (never a header factview did not verify).
    token: str = field(default="", repr=False, compare=False)
    # The token's `exp` (epoch seconds): a long-lived connection must end with its token.
    expires_at: float | None = field(default=None, compare=False)

    def may_see_customer(self, customer_id: str | None) -> bool:
        return self.role == "staff" or (customer_id is not None and customer_id == self.subject)


class TokenVerifier:
    """Verifies tokens against a JWKS (production) or a shared HS256 secret (dev and tests)."""

    def __init__(
        self,
        *,
        audience: str,
        issuer: str,
        secret: str | None = None,
        jwks_url: str | None = None,
        leeway_seconds: int = MAX_LEEWAY_SECONDS,
        max_lifetime_seconds: int = DEFAULT_MAX_LIFETIME_SECONDS,
        jwks_refetch_cooldown_seconds: float = 30,
    ) -> None:
        if (secret is None) == (jwks_url is None):
            raise ValueError("set exactly one of AUTH_JWKS_URL and AUTH_JWT_SECRET")
        if not 0 <= leeway_seconds <= MAX_LEEWAY_SECONDS:
            raise ValueError(f"leeway must be 0..{MAX_LEEWAY_SECONDS} seconds")
        self.audience = audience
        self.issuer = issuer
        self.leeway = leeway_seconds
        self.max_lifetime = max_lifetime_seconds
        self._secret = secret
        # Algorithms are pinned per key source, so a token cannot pick how it is checked
        # (no `none`, and no HS256 signed with a published public key).
        self.algorithms = ["HS256"] if secret is not None else ["RS256", "ES256"]
        # The key set is cached (lifespan) and refetched for an unknown kid; no per-key cache
        # on top (cache_keys), which kept a key the provider had retired valid until restart.
        self._jwks = (
            jwt.PyJWKClient(
                jwks_url,
                cache_keys=False,
                lifespan=300,
                timeout=5,
                cooldown_duration=jwks_refetch_cooldown_seconds,
            )
            if jwks_url is not None
            else None
        )

    async def verify(self, authorization: str | None) -> Principal:
        """The principal of an `Authorization: Bearer …` value, or AuthError."""
        token = bearer_token(authorization)
        try:
            if self._jwks is not None:
                # PyJWKClient fetches with blocking urllib; keep it off the event loop.
                signing = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
                key: Any = signing.key
            else:
                key = self._secret
            claims = jwt.decode(
                token,
                key,
                algorithms=self.algorithms,
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.PyJWKClientError as exc:
            raise AuthError(f"no usable signing key: {exc}") from exc
        except jwt.InvalidTokenError as exc:
            raise AuthError(f"invalid token: {exc}") from exc
        self._check_dates(claims)
        role = claims.get("role")
        if role not in ROLES:
            raise AuthError(f"invalid token: role must be one of {', '.join(ROLES)}")
        return Principal(
            subject=str(claims["sub"]), role=role, token=token, expires_at=float(claims["exp"])
        )

    def _check_dates(self, claims: dict[str, Any]) -> None:
        """Dates are JSON numbers (RFC 7519 NumericDate), and a token lives a bounded time.

        PyJWT reads dates with int(), so "exp": "99999999999" passes there; refuse it here.
        """
        for name in _DATE_CLAIMS:
            value = claims.get(name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise AuthError(f"invalid token: {name} must be a number, not {value!r:.40}")
            if not math.isfinite(value):
                raise AuthError(f"invalid token: {name} must be finite")
        exp = claims["exp"]
        iat = claims.get("iat")
        lifetime = exp - iat if iat is not None else exp - time.time() - self.leeway
        if lifetime > self.max_lifetime:
            raise AuthError(
                f"invalid token: lives {lifetime:.0f}s, over the {self.max_lifetime}s allowed"
            )

    def seconds_left(self, principal: Principal) -> float:
        """How long the principal's token stays valid, by the same rule (and leeway) as verify."""
        if principal.expires_at is None:
            return float("inf")
        return principal.expires_at + self.leeway - time.time()


class AuthNotConfigured(ValueError):
    """Serving without a key source would leave the API open or shut: refuse to start."""


def verifier_from(settings: AuthSettings) -> TokenVerifier:
    """The verifier for these settings: factview and the demo owners both build theirs here."""
    if (settings.auth_jwks_url is None) == (settings.auth_jwt_secret is None):
        raise AuthNotConfigured("set exactly one of AUTH_JWKS_URL and AUTH_JWT_SECRET")
    secret = settings.auth_jwt_secret
    return TokenVerifier(
        audience=settings.auth_audience,
        issuer=settings.auth_issuer,
        secret=secret.get_secret_value() if secret is not None else None,
        jwks_url=settings.auth_jwks_url,
        leeway_seconds=settings.auth_leeway_seconds,
        max_lifetime_seconds=settings.auth_max_token_lifetime_seconds,
        jwks_refetch_cooldown_seconds=settings.auth_jwks_refetch_cooldown_seconds,
    )


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise AuthError("missing bearer token")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("Authorization must be 'Bearer <token>'")
    return token.strip()


def mint_token(
    secret: str,
    *,
    subject: str,
    role: Role,
    audience: str,
    issuer: str,
    ttl_seconds: int = 3600,
) -> str:
    """An HS256 token for dev and tests (production tokens come from the identity provider)."""
    now = int(time.time())
    claims = {
        "sub": subject,
        "role": role,
        "aud": audience,
        "iss": issuer,
        "iat": now,
        "exp": now + ttl_seconds,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def token_for(settings: AuthSettings, subject: str, role: Role, ttl_seconds: int = 3600) -> str:
    """A token this deployment accepts, from its own HS256 secret (dev stacks and tests)."""
    if settings.auth_jwt_secret is None:
        raise AuthNotConfigured("minting tokens needs AUTH_JWT_SECRET")
    return mint_token(
        settings.auth_jwt_secret.get_secret_value(),
        subject=subject,
        role=role,
        audience=settings.auth_audience,
        issuer=settings.auth_issuer,
        ttl_seconds=ttl_seconds,
    )
