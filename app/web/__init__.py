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


def routes() -> list[BaseRoute]:
    """`/app` (the page) and `/app/…` (its files)."""
    return [
        Route("/app", index, methods=["GET"]),
        Mount("/app", app=StaticFiles(directory=STATIC, html=True), name="web"),
    ]
