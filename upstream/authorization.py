"""Who may write what at a demo owner.

Every request carries the caller's bearer token (factview relays the one it verified). The owner
verifies it with factview's own verifier (`app.auth.TokenVerifier`, built from the same AUTH_*
settings), so both apply the same rules; then each route's policy decides: a customer acts only
on itself and its accounts, staff on anything, and some routes (corrections) are staff's alone.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from app.auth import CLIENT_MESSAGE, AuthError, Principal, TokenVerifier
from upstream.validation import OwnerError

log = structlog.get_logger("upstream.authorization")

Endpoint = Callable[[Request], Awaitable[Response]]
Policy = Callable[[Request, Principal], Awaitable[None]]
# The customer that owns an account, or None when there is no such account.
HolderLookup = Callable[[str], Awaitable[str | None]]


class Authenticated:
    """ASGI middleware: no verified token, no access (401); else the principal is in scope."""

    def __init__(self, app: ASGIApp, verifier: TokenVerifier) -> None:
        self.app = app
        self.verifier = verifier

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        try:
            principal = await self.verifier.verify(request.headers.get("authorization"))
        except AuthError as exc:
            log.info("owner.token_refused", reason=str(exc), path=request.url.path)
            body = {"error": {"code": "unauthenticated", "message": CLIENT_MESSAGE}}
            await JSONResponse(body, status_code=401)(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


def caller(request: Request) -> Principal:
    principal: Principal = request.scope["state"]["principal"]
    return principal


def scoped_key(principal: Principal, key: str) -> str:
    """An idempotency key as stored: one caller's key never meets another's, so nobody can
    take (squat) or test (probe) a key someone else used."""
    return json.dumps([principal.role, principal.subject, key], separators=(",", ":"))


def forbidden(what: str) -> OwnerError:
    return OwnerError(403, "forbidden", f"not allowed: {what}")


def guarded(endpoint: Endpoint, policy: Policy) -> Endpoint:
    """`endpoint`, run only when `policy` lets this caller through."""

    async def checked(request: Request) -> Response:
        await policy(request, caller(request))
        return await endpoint(request)

    return checked


async def staff_only(request: Request, principal: Principal) -> None:
    if principal.role != "staff":
        raise forbidden(f"{request.method} {request.url.path} is for staff")


def the_customer(param: str) -> Policy:
    """The customer named by path parameter `param` itself, or staff."""

    async def policy(request: Request, principal: Principal) -> None:
        customer_id = request.path_params[param]
        if not principal.may_see_customer(customer_id):
            raise forbidden(f"customer {customer_id}")

    return policy


def customer_in_body(field: str) -> Policy:
    """A write for the customer the JSON body names (e.g. opening an account), or staff."""

    async def policy(request: Request, principal: Principal) -> None:
        if principal.role == "staff":
            return
        try:
            body = await request.json()  # cached: the endpoint reads the same bytes again
        except ValueError:
            return  # not JSON: the endpoint refuses it with its own validation error
        named = body.get(field) if isinstance(body, dict) else None
        if named != principal.subject:
            raise forbidden(f"{field} {named!r:.80}")

    return policy


def holder_of(param: str, holder: HolderLookup) -> Policy:
    """The customer holding the account named by path parameter `param`, or staff."""

    async def policy(request: Request, principal: Principal) -> None:
        if principal.role == "staff":
            return
        account_id = request.path_params[param]
        # An unknown account reads as forbidden too: a customer cannot probe which ids exist.
        if await holder(account_id) != principal.subject:
            raise forbidden(f"account {account_id}")

    return policy
