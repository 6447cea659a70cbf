"""The web app at `/app`: one static page (HTML, CSS, an ES module) that speaks GraphQL itself.

No build step and nothing from a CDN: the page uses `fetch` for queries and mutations and the
`graphql-transport-ws` protocol over the browser's WebSocket for subscriptions.
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import PathLike, StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STATIC = Path(__file__).parent / "static"

# Only this origin: the page's own files, and GraphQL over HTTP and WebSocket on this host.
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; connect-src 'self'; img-src 'self' data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


class PageFiles(StaticFiles):
    """The page's files, kept by browsers and revalidated on each use (304 while unchanged).

    The names carry no content hash (there is no build step), so a long max-age would keep an
    old app.js after an upgrade: `no-cache` with a validator costs a round trip, not the bytes.
    """

    def file_response(
        self, full_path: PathLike, stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = "no-cache"
        # Weak: the gzip and identity bodies differ byte for byte but are the same file.
        if not response.headers["ETag"].startswith("W/"):
            response.headers["ETag"] = f"W/{response.headers['ETag']}"
        return response


FILES = PageFiles(directory=STATIC, html=True)


async def index(request: Request) -> Response:
    response = await FILES.get_response("index.html", request.scope)
    response.headers.update(HEADERS)
    return response


class WithHeaders:
    """The page's headers on every file under `/app/` too (`/app/`, `/app/index.html`, …)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.headers = [(k.lower().encode(), v.encode()) for k, v in HEADERS.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in self.headers}
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message["headers"] = kept + self.headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def routes() -> list[BaseRoute]:
    """`/app` (the page) and `/app/…` (its files), gzipped for clients that take it."""
    return [
        Route("/app", GZipMiddleware(Route("/app", index)), methods=["GET"]),
        Mount("/app", app=GZipMiddleware(WithHeaders(FILES)), name="web"),
    ]
