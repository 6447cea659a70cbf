"""The served schema's error reporting: what reaches the logs, and what a hidden schema hides.

A client-caused error (validation, FORBIDDEN, a bad cursor: any error raised on purpose) is one
INFO line without a traceback; only unexpected ones are logged as errors with their traceback.
With introspection off, no message suggests names ("Did you mean …") for fields, arguments,
types or enum values: graphql-core words them all the same way.
"""

from __future__ import annotations

import re
from typing import Any

import strawberry
import structlog
from graphql import GraphQLError
from strawberry.types import ExecutionContext
from strawberry.utils.logging import StrawberryLogger

from schema.extensions import deliberate

log = structlog.get_logger("factview.graphql")

_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")


def without_suggestions(message: str) -> str:
    return _SUGGESTION.sub("", message)


class ServedSchema(strawberry.Schema):
    def __init__(self, *args: Any, hide_suggestions: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.hide_suggestions = hide_suggestions

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        for error in errors:
            if self.hide_suggestions:
                error.message = without_suggestions(error.message)
            if deliberate(error):
                code = (error.extensions or {}).get("code", "GRAPHQL_VALIDATION_FAILED")
                path = ".".join(str(p) for p in error.path) if error.path else None
                log.info("client error", code=code, error=error.message[:300], path=path)
            else:
                StrawberryLogger.error(error, execution_context)
