"""Request headers are bounded: an oversized one is refused before anything reads it.

The HTTP parser has already buffered them by then, but nothing else (token verification, JSON
decoding of a GraphiQL `headers` parameter) spends work on them: a megabyte `Authorization`
header costs the server its buffer, never a signature check.
"""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send


class HeaderLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            size = sum(len(name) + len(value) for name, value in scope.get("headers") or [])
            if size > self.max_bytes:
                await self._refuse(scope, send)
                return
        await self.app(scope, receive, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        message = f"request headers over {self.max_bytes} bytes"
        if scope["type"] == "websocket":
            # Closing before accepting refuses the handshake (HTTP 403 from the server).
            await send({"type": "websocket.close", "code": 1008, "reason": message})
            return
        body = orjson.dumps(
            {"errors": [{"message": message, "extensions": {"code": "HEADERS_TOO_LARGE"}}]}
        )
        await send(
            {
                "type": "http.response.start",
                "status": 431,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
