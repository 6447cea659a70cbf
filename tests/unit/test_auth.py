"""HS256 tokens (dev and tests): each way a token can be wrong is refused; a good one passes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest

from app.auth import AuthError, Principal, TokenVerifier, mint_token

SECRET = "s" * 48
AUD, ISS = "factview", "https://id.example.com/"


def _staff_claims() -> dict[str, Any]:
    return {"sub": "c1", "role": "staff", "aud": AUD, "iss": ISS, "exp": int(time.time()) + 3600}


def verifier() -> TokenVerifier:
    return TokenVerifier(audience=AUD, issuer=ISS, secret=SECRET)


def token(**overrides: Any) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": "c1",
        "role": "customer",
        "aud": AUD,
        "iss": ISS,
        "exp": now + 3600,
    }
    claims.update(overrides)
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, SECRET, algorithm="HS256")


async def test_a_good_token_passes() -> None:
    assert await verifier().verify(f"Bearer {token()}") == Principal("c1", "customer")
    staff = mint_token(SECRET, subject="ops", role="staff", audience=AUD, issuer=ISS)
    assert await verifier().verify(f"Bearer {staff}") == Principal("ops", "staff")


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        (None, "missing bearer token"),
        ("", "missing bearer token"),
        ("Basic abc", "must be 'Bearer"),
        (f"Bearer {token(exp=int(time.time()) - 120)}", "expired"),
        (f"Bearer {token(exp=None)}", 'missing the "exp" claim'),
        (f"Bearer {token(aud='someone-else')}", "Audience doesn"),
        (f"Bearer {token(iss='https://evil.example.com/')}", "issuer"),
        (f"Bearer {token(role='admin')}", "role must be"),
        (f"Bearer {token(sub=None)}", 'missing the "sub" claim'),
        (
            f"Bearer {jwt.encode(_staff_claims(), 'x' * 48, algorithm='HS256')}",
            "Signature",
        ),
        ("Bearer not.a.token", "invalid token"),
    ],
)
async def test_bad_tokens_are_refused(authorization: str | None, reason: str) -> None:
    with pytest.raises(AuthError, match=reason):
        await verifier().verify(authorization)


async def test_alg_none_is_refused() -> None:
    unsigned = jwt.encode(
        {"sub": "c1", "role": "staff", "aud": AUD, "iss": ISS, "exp": int(time.time()) + 3600},
        None,
        algorithm="none",
    )
    with pytest.raises(AuthError, match="alg value is not allowed"):
        await verifier().verify(f"Bearer {unsigned}")


async def test_leeway_tolerates_small_clock_skew_only() -> None:
    skewed = token(exp=int(time.time()) - 10)
    assert await verifier().verify(f"Bearer {skewed}") == Principal("c1", "customer")


def test_settings_must_choose_one_key_source() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        TokenVerifier(audience=AUD, issuer=ISS)
    with pytest.raises(ValueError, match="exactly one"):
        TokenVerifier(audience=AUD, issuer=ISS, secret=SECRET, jwks_url="http://127.0.0.1:1/jwks")
    with pytest.raises(ValueError, match="leeway"):
        TokenVerifier(audience=AUD, issuer=ISS, secret=SECRET, leeway_seconds=31)


def test_customers_see_only_themselves_and_staff_see_all() -> None:
    assert Principal("c1", "customer").may_see_customer("c1")
    assert not Principal("c1", "customer").may_see_customer("c2")
    assert not Principal("c1", "customer").may_see_customer(None)
    assert Principal("ops", "staff").may_see_customer("c2")


# Claims as functions of the moment the test runs (not of import time: pytest imports every
# module before the first test, and the whole suite takes longer than a short token lives).
Claims = Callable[[int], dict[str, Any]]


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        (lambda now: {"exp": str(now + 600)}, "exp must be a number"),
        (lambda now: {"exp": f"{now + 600}.0"}, r"\(exp\) must be an integer"),  # PyJWT's check
        (lambda now: {"iat": str(now)}, "iat must be a number"),
        (lambda now: {"nbf": str(now - 5)}, "nbf must be a number"),
        (lambda now: {"iat": True}, "iat must be a number"),
        (lambda now: {"exp": now + 10**20}, "lives"),  # no iat: judged from now
        (lambda now: {"iat": now, "exp": now + 24 * 3600 + 1}, "lives"),
        (lambda now: {"iat": now - 10**9, "exp": now + 600}, "lives"),  # issued decades ago
    ],
)
async def test_dates_must_be_numbers_and_a_token_lives_a_bounded_time(
    claims: Claims, reason: str
) -> None:
    with pytest.raises(AuthError, match=reason):
        await verifier().verify(f"Bearer {token(**claims(int(time.time())))}")


async def test_a_day_long_token_passes_and_the_limit_is_a_setting() -> None:
    now = int(time.time())
    day = token(iat=now, exp=now + 24 * 3600)
    assert await verifier().verify(f"Bearer {day}") == Principal("c1", "customer")
    short = TokenVerifier(audience=AUD, issuer=ISS, secret=SECRET, max_lifetime_seconds=600)
    with pytest.raises(AuthError, match="lives"):
        await short.verify(f"Bearer {token(exp=now + 3600)}")


async def test_the_principal_carries_the_verified_token() -> None:
    raw = token()
    assert (await verifier().verify(f"Bearer {raw}")).token == raw
    assert raw not in repr(await verifier().verify(f"Bearer {raw}"))
