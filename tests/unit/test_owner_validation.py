"""The owners' request checks and fact encoding, without servers."""

from __future__ import annotations

import json
from datetime import UTC
from decimal import Decimal

import pytest

from upstream.events import _Instant, fact, to_kafka
from upstream.idempotency import fingerprint
from upstream.validation import (
    OwnerError,
    format_money,
    parse_amount,
    parse_currency,
    parse_email,
    parse_text,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("10", "10.00"),
        ("10.5", "10.50"),
        (" 0.01 ", "0.01"),
        ("10.500", "10.50"),  # trailing zeros are not extra precision
        ("1E+3", "1000.00"),
        (7, "7.00"),
        (Decimal("0.1"), "0.10"),
    ],
)
def test_valid_amounts_are_exact_with_two_places(value: object, expected: str) -> None:
    assert format_money(parse_amount(value)) == expected


@pytest.mark.parametrize(
    "value",
    [
        "0",
        "0.00",
        "-1",
        "1.001",
        "NaN",
        "Infinity",
        "-Infinity",
        "sNaN",
        "",
        "ten",
        "1e20",
        True,
        None,
        1.5,
        [1],
        {"v": 1},
    ],
)
def test_invalid_amounts_are_validation_errors(value: object) -> None:
    with pytest.raises(OwnerError) as refused:
        parse_amount(value)
    assert (refused.value.status, refused.value.code) == (422, "validation_error")


def test_zero_is_a_valid_correction_but_negative_is_not() -> None:
    assert format_money(parse_amount("0", allow_zero=True)) == "0.00"
    with pytest.raises(OwnerError):
        parse_amount("-0.01", allow_zero=True)


@pytest.mark.parametrize("value", ["EUR", "USD"])
def test_currency_ok(value: str) -> None:
    assert parse_currency(value) == value


@pytest.mark.parametrize("value", ["eur", "EURO", "EU", "E1R", "", 978, None])
def test_currency_refused(value: object) -> None:
    with pytest.raises(OwnerError):
        parse_currency(value)


def test_text_and_email() -> None:
    assert parse_text("  Ada ", "name") == "Ada"
    assert parse_email("ada@example.com") == "ada@example.com"
    for bad in ("", "   ", 3, None, "x" * 201):
        with pytest.raises(OwnerError):
            parse_text(bad, "name")
    for bad in ("ada", "ada@", "@example.com", "a b@example.com", "ada@example"):
        with pytest.raises(OwnerError):
            parse_email(bad)


def test_fingerprint_ignores_key_order_but_not_values_or_paths() -> None:
    a = fingerprint("POST", "/accounts", {"customerId": "c", "currency": "EUR"})
    assert a == fingerprint("post", "/accounts", {"currency": "EUR", "customerId": "c"})
    assert a != fingerprint("POST", "/accounts", {"customerId": "c", "currency": "USD"})
    assert a != fingerprint("POST", "/accounts/x", {"customerId": "c", "currency": "EUR"})


def test_fact_is_a_structured_cloudevent_keyed_by_subject() -> None:
    event = fact("accounts", "account.closed", "acc-1", {"accountId": "acc-1"})
    message = to_kafka(event)
    assert message.key == "acc-1"
    assert message.headers == {"content-type": b"application/cloudevents+json"}
    value = json.loads(message.value)
    assert value["specversion"] == "1.0"
    assert value["source"] == "accounts" and value["subject"] == "acc-1"
    assert value["datacontenttype"] == "application/json"
    assert value["data"] == {"accountId": "acc-1"}
    assert value["time"].endswith("Z") and len(value["time"]) == len("2026-11-28T00:31:02.123456Z")


def test_time_keeps_microseconds_even_when_zero() -> None:
    moment = _Instant(2026, 11, 28, 0, 31, 2, 0, tzinfo=UTC)
    assert moment.isoformat() == "2026-11-28T00:31:02.000000+00:00"
