"""The web app at `/app`: one static page (HTML, CSS, an ES module) that speaks GraphQL itself.

No build step and nothing from a CDN: the page uses `fetch` for queries and mutations and the
`graphql-transport-ws` protocol over the browser's WebSocket for subscriptions.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STATIC = Path(__file__).parent / "static"

# Only this origin: the page's own files, and GraphQL over HTTP and WebSocket on this host.
HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": (
        "default-src 'self'; connect-src 'self'; img-src 'self' data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


async def index(request: Request) -> FileResponse:
    return FileResponse(STATIC / "index.html", headers=HEADERS)


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
    """`/app` (the page) and `/app/…` (its files)."""
    return [
        Route("/app", index, methods=["GET"]),
        Mount("/app", app=WithHeaders(StaticFiles(directory=STATIC, html=True)), name="web"),
    ]
