"""Opaque cursors round-trip and refuse what they did not make."""

from __future__ import annotations

import pytest
from graphql import GraphQLError

from schema.pagination import MAX_PAGE, check_first, decode_cursor, encode_cursor


def test_a_cursor_round_trips_and_hides_its_value() -> None:
    cursor = encode_cursor("customer", "cus-42")
    assert "cus-42" not in cursor
    assert decode_cursor("customer", cursor) == "cus-42"


@pytest.mark.parametrize("cursor", ["garbage!", "", encode_cursor("transaction", "3")])
def test_foreign_or_broken_cursors_are_coded_errors(cursor: str) -> None:
    with pytest.raises(GraphQLError) as info:
        decode_cursor("customer", cursor)
    assert info.value.extensions == {"code": "BAD_CURSOR"}


def test_first_is_bounded() -> None:
    assert check_first(MAX_PAGE) == MAX_PAGE
    for bad in (-1, MAX_PAGE + 1):
        with pytest.raises(GraphQLError):
            check_first(bad)
