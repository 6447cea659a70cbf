"""The ASGI app: GraphQL at /graphql (HTTP and graphql-transport-ws) and a health check."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from app.runtime import Runtime
from app.settings import Settings
from app.web import routes as web_routes
from app.web.graphiql import offline_html
from app.web.graphiql import routes as graphiql_routes
from schema import schema
from schema.context import Context


class FactviewGraphQL(GraphQL[Context, None]):
    @property
    def graphql_ide_html(self) -> str:
        # strawberry's GraphiQL page, with its files from this server when they were unpacked.
        return offline_html(super().graphql_ide_html)

    async def get_context(self, request: Request | WebSocket, response: Any = None) -> Context:
        runtime: Runtime = request.app.state.runtime
        return Context(
            views=runtime.views,
            request=request,
            response=response,
            live=runtime.live,
            owners=runtime.owners,
            fold_wait_seconds=runtime.settings.fold_wait_seconds,
        )


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


def create_app(
    settings: Settings, runtime: Runtime | None = None, consume: bool = True
) -> Starlette:
    """The app; with no runtime given, its lifespan starts one (and stops it)."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        own = runtime is None
        app.state.runtime = runtime or await Runtime.start(settings, consume=consume)
        try:
            yield
        finally:
            if own:
                await app.state.runtime.stop()

    graphql = FactviewGraphQL(
        schema,
        graphql_ide="graphiql" if settings.graphiql else None,
        subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
        connection_init_wait_timeout=timedelta(seconds=settings.connection_init_timeout_seconds),
        max_subscriptions_per_connection=settings.max_subscriptions_per_connection,
    )
    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            *(web_routes() if settings.web_app else []),
            *(graphiql_routes() if settings.graphiql else []),
        ],
        lifespan=lifespan,
    )
