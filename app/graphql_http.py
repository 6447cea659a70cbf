"""The GraphQL-over-HTTP specification where strawberry's defaults fall short of it.

- `application/graphql-response+json` for a client that accepts it, with 400 for a request
  error (parse, validation, variable coercion) under that media type;
- no `data` entry when the error came before execution (GraphQL spec, "Response Format");
- GET with a mutation: 405 with `Allow: POST`;
- 401 with `WWW-Authenticate: Bearer` (RFC 6750).
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"


def response_media_type(accept: str | None) -> str:
    """The media type to answer in: the spec's own when the client prefers it (or ties),
    else application/json (also for no Accept header and for `*/*`, as the spec asks)."""
    weights = {GRAPHQL_RESPONSE: 0.0, JSON: 0.0}
    for part in (accept or "").split(","):
        media, *params = (p.strip() for p in part.split(";"))
        media = media.lower()
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if media in weights:
            weights[media] = max(weights[media], weight)
        elif media in ("*/*", "application/*"):
            weights[JSON] = max(weights[JSON], weight)
    if weights[GRAPHQL_RESPONSE] > 0 and weights[GRAPHQL_RESPONSE] >= weights[JSON]:
        return GRAPHQL_RESPONSE
    return JSON


def before_execution(result: ExecutionResult) -> bool:
    """Whether the result is a request error: nothing was executed.

    strawberry marks parse and validation errors (and errors raised by extensions before
    execution) as PreExecutionError; graphql-core reports variable coercion failures as a
    result without data whose errors name no field (every field error has a path).
    """
    if isinstance(result, PreExecutionError):
        return True
    return (
        result.data is None
        and bool(result.errors)
        and all(error.path is None for error in result.errors or [])
    )


def shape(
    body: dict[str, Any], result: ExecutionResult, media_type: str
) -> tuple[dict[str, Any], int | None]:
    """The response body and, when it is not 200, its status."""
    if not before_execution(result):
        return body, None
    body = {key: value for key, value in body.items() if key != "data"}
    # Under application/json a request error still answers 200 (legacy clients read the
    # body whatever the status); the spec's own media type says it with the status.
    return body, 400 if media_type == GRAPHQL_RESPONSE else None


def content_type(media_type: str) -> str:
    return f"{media_type}; charset=utf-8" if media_type == GRAPHQL_RESPONSE else media_type


def error_response(
    status: int,
    code: str,
    message: str,
    media_type: str = JSON,
    headers: dict[str, str] | None = None,
) -> Response:
    """A GraphQL-shaped error refused before GraphQL ran (no `data` entry)."""
    body = {"errors": [{"message": message, "extensions": {"code": code}}]}
    response = Response(orjson.dumps(body), status_code=status, headers=headers)
    response.headers["content-type"] = content_type(media_type)
    return response


class MutationOverGet(Exception):
    """GET is safe: a mutation over it is refused with 405 before anything runs."""


def mutation_over_get(media_type: str) -> Response:
    return error_response(
        405,
        "METHOD_NOT_ALLOWED",
        "mutations are sent with POST, not GET",
        media_type,
        headers={"Allow": "POST"},
    )


def unauthenticated(message: str, had_credentials: bool, media_type: str) -> Response:
    # RFC 6750 §3: a request without credentials gets the bare challenge; one whose token
    # was refused is told so with `invalid_token`.
    challenge = 'Bearer error="invalid_token"' if had_credentials else "Bearer"
    return error_response(
        401, "UNAUTHENTICATED", message, media_type, headers={"WWW-Authenticate": challenge}
    )
