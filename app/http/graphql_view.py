"""/graphql over HTTP and graphql-transport-ws: strawberry's view behind the request gate."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import orjson
import structlog
from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from app.access import GuardedViews
from app.auth import CLIENT_MESSAGE, AuthError, Principal
from app.http import graphql_http
from app.http.documents import DocumentRefused, TrustedDocuments
from app.http.web.graphiql import offline_html
from app.http.websocket import (
    BoundedWebSocketAdapter,
    CallerSockets,
    GuardedTransportWS,
    SocketLimits,
)
from app.runtime import Api, Runtime
from app.settings import Settings
from schema import build_schema
from schema.context import Context
from schema.extensions import Limits

log = structlog.get_logger("factview.http")


def _error(status: int, code: str, message: str) -> Response:
    body = {"errors": [{"message": message, "extensions": {"code": code}}]}
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


class BodyTooLarge(Exception):
    pass


class FactviewGraphQL(GraphQL[Context, None]):
    """strawberry's ASGI view behind the gate every HTTP operation passes: size, token, time.

    Websockets pass their own gate (app/http/websocket.py): token in connection_init, the same
    limits.
    """

    graphql_transport_ws_handler_class = GuardedTransportWS
    websocket_adapter_class = BoundedWebSocketAdapter

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        self.documents = TrustedDocuments.load(
            settings.trusted_documents_manifest, settings.trusted_documents
        )
        super().__init__(build_schema(_limits(settings, self.documents)), **kwargs)
        self.settings = settings
        self.socket_limits = SocketLimits(
            max_message_bytes=settings.max_body_bytes,
            operation_timeout_seconds=settings.operation_timeout_seconds,
        )
        self.callers = CallerSockets(
            settings.max_connections_per_subject, settings.max_subscriptions_per_subject
        )

    def encode_json(self, data: object) -> str:
        # orjson: several times faster than json.dumps on every answer. A str, not bytes:
        # websocket messages go out through here too, and bytes would be binary frames.
        return orjson.dumps(data).decode()

    @property
    def graphql_ide_html(self) -> str:
        # strawberry's GraphiQL page, with its files from this server when they were unpacked.
        return offline_html(super().graphql_ide_html)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope)
        if request.method == "GET" and self.graphql_ide and _wants_html(request):
            await super().__call__(scope, receive, send)  # the IDE page itself holds no data
            return
        limit = self.settings.max_body_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await _error(413, "BODY_TOO_LARGE", f"request body over {limit} bytes")(
                scope, receive, send
            )
            return
        api: Api = request.app.state.api
        authorization = request.headers.get("authorization")
        try:
            principal = await api.verifier.verify(authorization)
        except AuthError as exc:
            log.info("token refused", reason=str(exc))
            media_type = graphql_http.response_media_type(request.headers.get("accept"))
            refusal = graphql_http.unauthenticated(
                CLIENT_MESSAGE, authorization is not None, media_type
            )
            await refusal(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["principal"], state["authorization"] = principal, request.headers["authorization"]
        await self._within_limits(scope, receive, send)

    def should_render_graphql_ide(self, request: Any) -> bool:
        return super().should_render_graphql_ide(request) and not _names_operation(request)

    def parse_json(self, data: str | bytes) -> Any:
        parsed = super().parse_json(data)
        if not isinstance(parsed, dict | list):
            # strawberry reads fields off the body: a bare string or number would crash it (500).
            raise HTTPException(400, "the request body must be a JSON object")
        return parsed

    async def parse_http_body(self, request: Any) -> Any:
        data = await super().parse_http_body(request)
        if isinstance(data, GraphQLRequestData):
            # Raises DocumentRefused (answered in _within_limits) before anything is parsed.
            data.query = cast(str | None, self.documents.resolve(data.query, data.extensions))
        return data

    async def _within_limits(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.settings.max_body_bytes
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge()  # a chunked body that never declared its size
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            async with asyncio.timeout(self.settings.operation_timeout_seconds):
                await super().__call__(scope, counted_receive, tracked_send)
        except graphql_http.MutationOverGet:
            accept = Request(scope).headers.get("accept")
            refusal = graphql_http.mutation_over_get(graphql_http.response_media_type(accept))
            await refusal(scope, receive, send)
        except DocumentRefused as exc:
            log.info("document refused", code=exc.code)
            await _error(400, exc.code, str(exc))(scope, receive, send)
        except BodyTooLarge:
            if not started:
                await _error(413, "BODY_TOO_LARGE", f"request body over {limit} bytes")(
                    scope, receive, send
                )
        except TimeoutError:
            log.warning("operation timed out", seconds=self.settings.operation_timeout_seconds)
            if not started:
                message = f"operation took over {self.settings.operation_timeout_seconds:g}s"
                await _error(504, "OPERATION_TIMEOUT", message)(scope, receive, send)

    # The GraphQL-over-HTTP specification (app/http/graphql_http.py): the media type the client
    # accepts, no `data` before execution, 405 for a mutation over GET. strawberry hands
    # process_result the request and create_response the sub-response: the request's state
    # carries the sub-response between them.

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub_response = await super().get_sub_response(request)
        sub_response.media_type = graphql_http.response_media_type(request.headers.get("accept"))
        request.state.sub_response = sub_response
        return sub_response

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        body = await super().process_result(request, result)
        sub_response: Response | None = getattr(request.state, "sub_response", None)
        if request.scope["type"] != "http" or sub_response is None:
            return body
        shaped, status = graphql_http.shape(
            dict(body), result, sub_response.media_type or graphql_http.JSON
        )
        if status is not None:
            sub_response.status_code = status
        return shaped  # type: ignore[return-value]

    def create_response(
        self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse], sub_response: Response
    ) -> Response:
        response = super().create_response(response_data, sub_response)
        media_type = sub_response.media_type or graphql_http.JSON
        response.headers["content-type"] = graphql_http.content_type(media_type)
        return response

    async def execute_single(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        try:
            return await super().execute_single(*args, **kwargs)
        except HTTPException as exc:
            cause = exc.__cause__
            if (
                isinstance(cause, InvalidOperationTypeError)
                and cause.operation_type is OperationType.MUTATION
            ):
                raise graphql_http.MutationOverGet() from exc
            raise

    async def get_context(self, request: Request | WebSocket, response: Any = None) -> Context:
        runtime: Runtime = request.app.state.runtime
        api: Api = request.app.state.api
        # Websockets authenticate in connection_init (on_ws_connect); until then: no one.
        state = request.scope.get("state", {})
        principal: Principal | None = state.get("principal")
        return Context(
            views=GuardedViews(runtime.views, principal),
            projections=runtime.projections,
            request=request,
            response=response,
            live=api.live,
            owners=api.owners,
            fold_wait_seconds=runtime.settings.fold_wait_seconds,
            metrics=runtime.metrics,
            freshness=runtime.freshness,
            consumer_group=runtime.settings.kafka_group_id,
            authorization=state.get("authorization"),
        )


def _limits(settings: Settings, documents: TrustedDocuments) -> Limits:
    return Limits(
        known_operations=documents.names,
        max_depth=settings.max_query_depth,
        max_aliases=settings.max_aliases,
        max_tokens=settings.max_tokens,
        introspection=settings.introspection,
        mask_errors=settings.mask_errors,
    )


def _wants_html(request: Request) -> bool:
    # A browser navigating here gets the IDE page, which holds no data (GraphiQL prefills its
    # headers from ?headers=…). A GET carrying `query` is executed by strawberry whatever it
    # accepts, so it is an operation and passes the gate like any other.
    return "text/html" in request.headers.get("accept", "") and not _names_operation(request)


def _names_operation(request: Any) -> bool:
    # A GET names its operation by text (`query`) or, persisted, by hash (`extensions`).
    return "query" in request.query_params or "extensions" in request.query_params
