"""What both demo owners share: the write path (row + fact + idempotency key in one
transaction, then wake the relay), JSON bodies and errors, and the lifespan running the relay."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from cloudevents.core.v1.event import CloudEvent
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.auth import TokenVerifier
from upstream import authorization, idempotency, outbox
from upstream.database import Database
from upstream.outbox import Outbox, OutboxTable, Relay
from upstream.validation import OwnerError, invalid

T = TypeVar("T")


@dataclass
class Outcome:
    """What a write operation decided: the response (without factIds) and the facts to emit."""

    status: int
    body: dict[str, Any]
    facts: list[CloudEvent] = field(default_factory=list)


class Owner:
    def __init__(
        self,
        source: str,
        database: Database,
        relay: Relay,
        verifier: TokenVerifier,
        outbox: Outbox | None = None,
    ) -> None:
        self.source = source
        self.database = database
        self.relay = relay
        self.verifier = verifier
        # Where the facts of a write go: the outbox table, or an event-sourced owner's events.
        self.outbox: Outbox = outbox if outbox is not None else OutboxTable(database)

    async def read(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        def run() -> T:
            with self.database.read() as conn:
                return operation(conn)

        return await asyncio.to_thread(run)

    async def write(
        self,
        request: Request,
        body: dict[str, Any] | None,
        operation: Callable[[sqlite3.Connection], Outcome],
    ) -> JSONResponse:
        """Run `operation` in one transaction with its facts and the idempotency key."""
        key = idempotency.check_key(request.headers.get(idempotency.HEADER))
        if key is not None:
            key = authorization.scoped_key(authorization.caller(request), key)
        request_id = idempotency.fingerprint(request.method, request.url.path, body)

        def transaction() -> tuple[int, dict[str, Any], bool]:
            with self.database.write() as conn:
                if key is not None:
                    stored = idempotency.replay(conn, key, request_id)
                    if stored is not None:
                        return stored[0], stored[1], False
                outcome = operation(conn)
                for fact in outcome.facts:
                    self.outbox.append(conn, fact)
                response = {
                    **outcome.body,
                    "factIds": [fact.get_id() for fact in outcome.facts],
                    "source": self.source,
                }
                if key is not None:
                    idempotency.remember(conn, key, request_id, outcome.status, response)
                return outcome.status, response, bool(outcome.facts)

        status, response, emitted = await asyncio.to_thread(transaction)
        if emitted:
            self.relay.notify()
        return JSONResponse(response, status_code=status)

    @asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        await asyncio.to_thread(self.database.initialize)
        self.relay.start()
        try:
            yield
        finally:
            await self.relay.stop()

    def app(self, routes: list[Route]) -> Starlette:
        app = Starlette(
            routes=routes,
            lifespan=self.lifespan,
            # Every route, reads included, needs a verified token; policies decide the rest.
            middleware=[Middleware(authorization.Authenticated, verifier=self.verifier)],
            exception_handlers={OwnerError: _owner_error, HTTPException: _http_error},
        )
        app.state.owner = self
        return app


async def json_body(request: Request, *, optional: bool = False) -> dict[str, Any]:
    """The request body as a JSON object; numbers become Decimal, so money never is a float."""
    raw = await request.body()
    if not raw.strip():
        if optional:
            return {}
        raise invalid("a JSON object body is required")
    try:
        body = json.loads(raw, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid(f"body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise invalid("body must be a JSON object")
    return body


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


async def _owner_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OwnerError)
    return error_response(exc.status, exc.code, exc.message)


async def _http_error(request: Request, exc: Exception) -> Response:
    # Unknown routes and methods answer in the same error shape as everything else.
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail))


def schema(entities: str, *, outbox_table: bool = True) -> str:
    """An owner's full schema: its own tables plus the outbox (unless its events are the
    outbox) and the idempotency keys."""
    return (
        entities + (outbox.OUTBOX_SCHEMA if outbox_table else "") + idempotency.IDEMPOTENCY_SCHEMA
    )
