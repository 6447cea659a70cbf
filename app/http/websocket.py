"""graphql-transport-ws with factview's limits: who may hold a socket, for how long, with what.

strawberry speaks the protocol; this handler adds what a hostile client would otherwise get
around: the token verified in `connection_init` is the only identity (and its `exp` ends the
socket, 4403), every message is size-capped (1009) and must be a well-formed object (4400),
queries and mutations run under the operation deadline, only trusted documents run when that
mode is on, and one token subject holds a bounded number of sockets (4429) and operations.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import Counter
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any, Protocol, cast

import structlog
from graphql import GraphQLError, OperationType, get_operation_ast, parse
from starlette.websockets import WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import NonJsonMessageReceived, NonTextMessageReceived
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    Message,
    SubscribeMessage,
)

from app.access import GuardedViews
from app.auth import AuthError, Principal, TokenVerifier
from app.http.documents import DocumentRefused, TrustedDocuments
from schema.context import Context

log = structlog.get_logger("factview.websocket")

BAD_REQUEST = 4400
FORBIDDEN = 4403
TOO_MANY = 4429
MESSAGE_TOO_BIG = 1009
MAX_ID_LENGTH = 128


class CallerSockets:
    """Open connections and operations per token subject, in this process."""

    def __init__(self, max_connections: int, max_operations: int) -> None:
        self.max_connections = max_connections
        self.max_operations = max_operations
        self.connections: Counter[str] = Counter()
        self.operations: Counter[str] = Counter()

    def connect(self, subject: str) -> bool:
        if self.connections[subject] >= self.max_connections:
            return False
        self.connections[subject] += 1
        return True

    def disconnect(self, subject: str) -> None:
        self.connections[subject] -= 1
        if self.connections[subject] <= 0:
            del self.connections[subject]

    def may_start(self, subject: str) -> bool:
        return self.operations[subject] < self.max_operations

    def started(self, subject: str) -> None:
        self.operations[subject] += 1

    def ended(self, subject: str) -> None:
        self.operations[subject] -= 1
        if self.operations[subject] <= 0:
            del self.operations[subject]


@dataclass(frozen=True)
class SocketLimits:
    max_message_bytes: int
    operation_timeout_seconds: float


class SocketPolicy(Protocol):
    """What the handler needs from the view that runs it (app.http.graphql_view.FactviewGraphQL)."""

    socket_limits: SocketLimits
    callers: CallerSockets
    documents: TrustedDocuments


class BoundedWebSocketAdapter(ASGIWebSocketAdapter):
    """strawberry's adapter, refusing any message over the size limit before parsing it."""

    async def iter_json(self, *, ignore_parsing_errors: bool = False) -> AsyncGenerator[object]:
        limit = cast(SocketPolicy, self.view).socket_limits.max_message_bytes
        try:
            while self.ws.application_state != WebSocketState.DISCONNECTED:
                text = await self.ws.receive_text()
                if len(text) > limit or len(text.encode()) > limit:
                    log.info("websocket message too big", limit=limit)
                    await self.close(MESSAGE_TOO_BIG, f"message over {limit} bytes")
                    return
                try:
                    yield self.view.decode_json(text)
                except ValueError as exc:
                    if not ignore_parsing_errors:
                        raise NonJsonMessageReceived from exc
        except KeyError as exc:
            raise NonTextMessageReceived from exc
        except WebSocketDisconnect:
            pass


def _subscribe_problem(message: dict[str, Any]) -> str | None:
    """Why a subscribe message is malformed (closed 4400), or None."""
    op_id = message.get("id")
    if not isinstance(op_id, str) or not 0 < len(op_id) <= MAX_ID_LENGTH:
        return f"subscribe needs a string id of 1 to {MAX_ID_LENGTH} characters"
    payload = message.get("payload")
    if not isinstance(payload, dict):
        return "subscribe needs an object payload"
    for key, kind in (("query", str), ("operationName", str), ("variables", dict)):
        if payload.get(key) is not None and not isinstance(payload[key], kind):
            return f"payload.{key} must be a {kind.__name__} or null"
    if payload.get("extensions") is not None and not isinstance(payload["extensions"], dict):
        return "payload.extensions must be an object or null"
    return None


def _is_subscription(query: str, operation_name: str | None) -> bool:
    try:
        operation = get_operation_ast(parse(query, no_location=True), operation_name)
    except GraphQLError:
        return False  # strawberry answers the syntax error itself
    return operation is not None and operation.operation is OperationType.SUBSCRIPTION


def _error(op_id: str, code: str, message: str) -> Message:
    error = {"message": message, "extensions": {"code": code}}
    return cast(Message, {"id": op_id, "type": "error", "payload": [error]})


class GuardedTransportWS(BaseGraphQLTransportWSHandler[Context, None]):
    principal: Principal | None = None
    verifier: TokenVerifier | None = None
    expiry: asyncio.Task[None] | None = None

    @property
    def policy(self) -> SocketPolicy:
        return cast(SocketPolicy, self.view)

    async def handle_message(self, message: Message) -> None:
        raw: object = message
        if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
            await self.handle_invalid_message("a message must be a JSON object with a string type")
            return
        if raw["type"] == "subscribe" and (problem := _subscribe_problem(raw)):
            await self.handle_invalid_message(problem)
            return
        if raw["type"] == "complete" and not isinstance(raw.get("id"), str):
            await self.handle_invalid_message("complete needs a string id")
            return
        await super().handle_message(message)

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        # strawberry's steps (timeout, payload shape, once only), then factview's own: the
        # payload's token is verified here and is the only identity the socket ever has.
        if self.connection_timed_out:
            return
        if self.connection_init_timeout_task:
            self.connection_init_timeout_task.cancel()
        payload = message.get("payload", {})
        if not isinstance(payload, dict):
            await self.websocket.close(code=BAD_REQUEST, reason="Invalid connection init payload")
            return
        if self.connection_init_received:
            await self.websocket.close(code=TOO_MANY, reason="Too many initialisation requests")
            return
        self.connection_init_received = True
        self.context.connection_params = payload
        runtime = self.context.request.app.state.runtime
        verifier: TokenVerifier = self.context.request.app.state.api.verifier
        header = payload.get("Authorization")
        authorization = header if isinstance(header, str) else None
        try:
            principal = await verifier.verify(authorization)
        except AuthError as exc:
            log.info("websocket refused", reason=str(exc))
            await self.websocket.close(code=FORBIDDEN, reason="Forbidden")
            return
        if not self.policy.callers.connect(principal.subject):
            limit = self.policy.callers.max_connections
            log.info("websocket refused", reason="connection limit", subject=principal.subject)
            await self.websocket.close(
                code=TOO_MANY, reason=f"too many connections for this caller (limit {limit})"
            )
            return
        self.principal, self.verifier = principal, verifier
        self.context.views = GuardedViews(runtime.views, principal)
        self.context.authorization = authorization
        left = verifier.seconds_left(principal)
        if not math.isinf(left):
            self.expiry = asyncio.create_task(self._expire_in(left))
        await self.send_message({"type": "connection_ack"})
        self.connection_acknowledged = True

    async def _expire_in(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))  # a timer: the socket ends when its token does
        log.info("websocket token expired", operations=len(self.operations))
        for op_id in list(self.operations):
            await self.cleanup_operation(op_id)
        with contextlib.suppress(Exception):
            await self.websocket.close(code=FORBIDDEN, reason="token expired")

    def _expired(self) -> bool:
        assert self.principal is not None and self.verifier is not None
        return self.verifier.seconds_left(self.principal) <= 0

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        if not self.connection_acknowledged or self.principal is None:
            await super().handle_subscribe(message)  # strawberry closes it (4401)
            return
        if self._expired():
            await self.websocket.close(code=FORBIDDEN, reason="token expired")
            return
        op_id, payload = message["id"], message["payload"]
        try:
            query = self.policy.documents.resolve(
                payload.get("query"), cast(dict[str, Any], payload).get("extensions")
            )
        except DocumentRefused as exc:
            await self.send_message(_error(op_id, exc.code, str(exc)))
            return
        if not isinstance(query, str):
            await self.handle_invalid_message("subscribe needs payload.query (or a persisted hash)")
            return
        payload["query"] = query
        subject = self.principal.subject
        callers = self.policy.callers
        if op_id not in self.operations and not callers.may_start(subject):
            message_text = f"too many operations for this caller (limit {callers.max_operations})"
            await self.send_message(_error(op_id, "TOO_MANY_OPERATIONS", message_text))
            return
        before = self.operations.get(op_id)
        await super().handle_subscribe(message)
        after = self.operations.get(op_id)
        if after is not None and after is not before and after.task is not None:
            callers.started(subject)
            # A done callback runs even for a task cancelled before it started.
            after.task.add_done_callback(lambda _: callers.ended(subject))

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        if _is_subscription(operation.query, operation.operation_name):
            await super().run_operation(operation)
            return
        seconds = self.policy.socket_limits.operation_timeout_seconds
        try:
            async with asyncio.timeout(seconds):
                await super().run_operation(operation)
        except TimeoutError:
            log.warning("operation timed out", seconds=seconds)
            with contextlib.suppress(Exception):
                await operation.send_operation_message(
                    _error(operation.id, "OPERATION_TIMEOUT", f"operation took over {seconds:g}s")
                )

    async def shutdown(self) -> None:
        if self.expiry is not None:
            self.expiry.cancel()
        if self.principal is not None:
            self.policy.callers.disconnect(self.principal.subject)
            self.principal = None
        await super().shutdown()
