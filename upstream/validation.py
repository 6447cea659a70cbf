"""Refusals an owner sends back, and the checks on request fields (money above all)."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

CENT = Decimal("0.01")
# Far above any demo amount, and small enough that quantize() never overflows the context.
_MAX_AMOUNT = Decimal("1000000000000000")
_CURRENCY = re.compile(r"[A-Z]{3}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class OwnerError(Exception):
    """A refusal with an HTTP status and a stable machine-readable code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def invalid(message: str) -> OwnerError:
    return OwnerError(422, "validation_error", message)


def not_found(message: str) -> OwnerError:
    return OwnerError(404, "not_found", message)


def parse_amount(value: object, field: str = "amount", *, allow_zero: bool = False) -> Decimal:
    """A positive amount with at most two decimal places, as an exact Decimal.

    Strings are the normal form; JSON numbers are accepted only because the body is
    parsed with `parse_float=Decimal`, so they never pass through a binary float.
    """
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise invalid(f'{field} must be a decimal string such as "10.00"')
    try:
        amount = Decimal(value.strip()) if isinstance(value, str) else Decimal(value)
    except InvalidOperation:
        raise invalid(f"{field} {value!r} is not a decimal number") from None
    if not amount.is_finite():
        raise invalid(f"{field} must be finite")
    if amount < 0 or (amount == 0 and not allow_zero):
        raise invalid(
            f"{field} must be greater than zero"
            if not allow_zero
            else f"{field} must not be negative"
        )
    if amount >= _MAX_AMOUNT:
        raise invalid(f"{field} is too large")
    if amount.quantize(CENT) != amount:
        raise invalid(f"{field} must have at most two decimal places")
    return amount.quantize(CENT)


def format_money(amount: Decimal) -> str:
    """Two places, never an exponent: Decimal("1E+3") → "1000.00"."""
    return f"{amount.quantize(CENT):f}"


def parse_currency(value: object) -> str:
    if not isinstance(value, str) or not _CURRENCY.fullmatch(value):
        raise invalid('currency must be three upper-case letters, such as "EUR"')
    return value


def parse_text(value: object, field: str, max_length: int = 200) -> str:
    if not isinstance(value, str) or not value.strip():
        raise invalid(f"{field} must be a non-empty string")
    text = value.strip()
    if len(text) > max_length:
        raise invalid(f"{field} must be at most {max_length} characters")
    return text


def parse_email(value: object) -> str:
    email = parse_text(value, "email", max_length=254)
    if not _EMAIL.fullmatch(email):
        raise invalid(f"email {email!r} is not an e-mail address")
    return email


def require(body: dict[str, Any], field: str) -> object:
    if field not in body or body[field] is None:
        raise invalid(f"{field} is required")
    return body[field]
