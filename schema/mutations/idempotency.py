"""Which idempotency key a forwarded write carries: one key stands for exactly one write.

A field's own `idempotencyKey` argument comes first; over HTTP the `Idempotency-Key` header
covers a document with exactly one mutation field; otherwise each field gets a fresh key.
Over a websocket the upgrade request's headers are never read: they were not part of any
operation, and one connection carries many.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from typing import Annotated, Any

import strawberry
from graphql import GraphQLError
from graphql.execution.collect_fields import FragmentDetails, collect_fields
from graphql.execution.values import VariableValues, get_argument_values
from starlette.requests import Request

from schema.context import Info

HEADER = "Idempotency-Key"
ARGUMENT = "idempotencyKey"
ARGUMENT_DESCRIPTION = (
    "Names this write for retries: the same key again replays the first answer instead of "
    "writing twice. One key stands for one write; without it, the Idempotency-Key header "
    "(HTTP, documents with one mutation field) or a fresh key is used."
)
IdempotencyKeyArgument = Annotated[
    str | None, strawberry.argument(name=ARGUMENT, description=ARGUMENT_DESCRIPTION)
]
# What an owner takes (upstream/idempotency.py), as visible ASCII so it is a valid header value.
_KEY = re.compile(r"[\x21-\x7e]{1,255}")


class IdempotencyKeyError(GraphQLError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, extensions={"code": code})


def key_for(info: Info, argument: str | None) -> str:
    """This field's key: the client's (checked to be used by this field alone) or a new one."""
    header = _header(info)
    given = argument if argument is not None else header
    if given is None:
        return uuid.uuid4().hex
    if not _KEY.fullmatch(given):
        raise IdempotencyKeyError(
            "BAD_IDEMPOTENCY_KEY",
            "an idempotency key is 1 to 255 visible ASCII characters (no spaces)",
        )
    shared = [key for key, uses in Counter(_document_keys(info, header)).items() if uses > 1]
    if shared:
        raise IdempotencyKeyError(
            "IDEMPOTENCY_KEY_SHARED",
            "one idempotency key stands for exactly one write, but this document gives the same "
            "key to several mutation fields: give each field its own `idempotencyKey` argument "
            "(or send one mutation per request)",
        )
    return given


def _header(info: Info) -> str | None:
    request = info.context.request
    # A Request is an HTTP operation; a WebSocket's headers belong to its upgrade request.
    if isinstance(request, Request):
        return request.headers.get(HEADER)
    return None


def _document_keys(info: Info, header: str | None) -> list[str]:
    """The client key each mutation field of this operation would use, fragments included.

    graphql-core's own field collection, so fragments, inline fragments, @skip and @include
    count exactly as execution counts them (a document's top-level selections do not).
    """
    raw = info._raw_info
    variables: Any = raw.variable_values
    if not isinstance(variables, VariableValues):
        # strawberry's executor hands resolvers the plain coerced dict.
        variables = VariableValues(sources={}, coerced=variables or {})
    fragments = {name: FragmentDetails(node) for name, node in raw.fragments.items()}
    collected = collect_fields(raw.schema, fragments, variables, raw.parent_type, raw.operation)
    keys: list[str] = []
    for details in collected.grouped_field_set.values():
        first = details[0]
        field = raw.parent_type.fields.get(first.node.name.value)
        if field is None:
            continue  # __typename: not a write
        arguments = get_argument_values(
            field, first.node, variables, first.fragment_variable_values
        )
        key = arguments.get(ARGUMENT)
        key = key if key is not None else header
        if key is not None:
            keys.append(key)
    return keys
