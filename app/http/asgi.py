"""The ASGI app: GraphQL at /graphql (HTTP and graphql-transport-ws), health, readiness, metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta

from starlette.applications import Starlette
from starlette.routing import Route, WebSocketRoute
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from app.http.graphql_view import FactviewGraphQL
from app.http.headers import HeaderLimit, RequestIds
from app.http.probes import healthz, metrics, readyz
from app.http.web import routes as web_routes
from app.http.web.graphiql import routes as graphiql_routes
from app.runtime import Runtime
from app.settings import Settings


def create_app(
    settings: Settings, runtime: Runtime | Callable[[], Awaitable[Runtime]]
) -> Starlette:
    """The app over a started runtime, or over one its lifespan starts (and stops) by calling
    `runtime`. Either way the runtime serves: it has the API's parts (`Runtime.api`)."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        own = not isinstance(runtime, Runtime)
        running = runtime if isinstance(runtime, Runtime) else await runtime()
        try:
            if running.api is None:
                raise ValueError("the API needs a runtime started to serve (serve=True)")
            app.state.runtime, app.state.api = running, running.api
            yield
        finally:
            if own:
                await running.stop()

    graphql = FactviewGraphQL(
        settings,
        graphql_ide="graphiql" if settings.graphiql else None,
        subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
        connection_init_wait_timeout=timedelta(seconds=settings.connection_init_timeout_seconds),
        max_subscriptions_per_connection=settings.max_subscriptions_per_connection,
    )
    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            *([Route("/metrics", metrics)] if settings.metrics_port is None else []),
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            *(web_routes() if settings.web_app else []),
            *(graphiql_routes() if settings.graphiql else []),
        ],
        lifespan=lifespan,
    )
    app.add_middleware(RequestIds)
    app.add_middleware(HeaderLimit, max_bytes=settings.max_header_bytes)
    return app
