"""Relay-style connections with opaque cursors."""

from __future__ import annotations

import base64
import binascii
from typing import Generic, TypeVar

import strawberry
from graphql import GraphQLError

T = TypeVar("T")

MAX_PAGE = 100
MAX_CURSOR = 1024


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None
    has_previous_page: bool = False
    start_cursor: str | None = None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo

    @strawberry.field
    def nodes(self) -> list[T]:
        return [edge.node for edge in self.edges]


def encode_cursor(kind: str, value: str) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{value}".encode()).decode()


def decode_cursor(kind: str, cursor: str) -> str:
    """The value inside a cursor of this kind, or a BAD_CURSOR error."""
    try:
        # validate: a cursor we did not make (any stray character) is refused, not half-read.
        raw = base64.b64decode(cursor.encode("ascii"), altchars=b"-_", validate=True)
        text = raw.decode() if len(cursor) <= MAX_CURSOR else ""
    except (binascii.Error, UnicodeError, ValueError):
        text = ""
    prefix = f"{kind}:"
    if not text.startswith(prefix):
        raise GraphQLError(
            f"invalid cursor {cursor[:80]!r} for {kind}", extensions={"code": "BAD_CURSOR"}
        )
    return text[len(prefix) :]


def check_first(first: int) -> int:
    if first < 0 or first > MAX_PAGE:
        raise GraphQLError(
            f"first must be between 0 and {MAX_PAGE}, got {first}",
            extensions={"code": "BAD_USER_INPUT"},
        )
    return first


def check_last(last: int) -> int:
    if last < 0 or last > MAX_PAGE:
        raise GraphQLError(
            f"last must be between 0 and {MAX_PAGE}, got {last}",
            extensions={"code": "BAD_USER_INPUT"},
        )
    return last


def connection(
    items: list[tuple[str, T]], has_next: bool, has_previous: bool = False
) -> Connection[T]:
    edges = [Edge(cursor=cursor, node=node) for cursor, node in items]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=has_next,
            end_cursor=edges[-1].cursor if edges else None,
            has_previous_page=has_previous,
            start_cursor=edges[0].cursor if edges else None,
        ),
    )
