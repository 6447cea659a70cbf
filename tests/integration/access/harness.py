"""Reading as a role, and an owner stand-in that records the writes that reach it."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.support.stack import Factview, bearer

ACCOUNT = "query($id: ID!) { account(id: $id) { id balance transactions { nodes { id } } } }"


class RecordingOwner:
    """A real owner stand-in that records every call it gets (it must get none here)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def app(self) -> Starlette:
        async def record(request: Request) -> JSONResponse:
            self.calls.append(f"{request.method} {request.url.path}")
            return JSONResponse({"error": {"code": "not_found", "message": "recorded"}}, 404)

        return Starlette(routes=[Route("/{path:path}", record, methods=["POST", "PATCH"])])


async def as_role(
    fv: Factview, role: str, subject: str, query: str, **variables: Any
) -> dict[str, Any]:
    response = await fv.http.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers=bearer(fv.settings, role, subject),  # type: ignore[arg-type]
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body
