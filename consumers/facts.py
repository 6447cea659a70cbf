"""Fact Events as the read side sees them, and the data schema of every known type."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict


@dataclass(frozen=True, slots=True)
class Position:
    """Where a record sat in Kafka; kept in the log for audit and dead letters."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class FactEvent:
    source: str
    id: str
    type: str
    subject: str | None
    time: datetime
    data: dict[str, Any]
    position: Position | None = None
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # CloudEvents `dataschema`: its last segment is the event's version (consumers/upcasting.py).
    dataschema: str | None = None
    # The data as the owner sent it, when `data` (what folds read) was converted from it.
    received: dict[str, Any] | None = None

    @property
    def received_data(self) -> dict[str, Any]:
        """What the log keeps: the data exactly as received."""
        return self.data if self.received is None else self.received

    @property
    def log_id(self) -> str:
        """The log's `_id`: (source, id) identifies an event, so a duplicate is a no-op."""
        return log_id(self.source, self.id)

    @property
    def order(self) -> tuple[str, str, str]:
        """Business-time order, ties broken by (source, id) so every fold agrees."""
        return (time_key(self.time), self.source, self.id)


def log_id(source: str, event_id: str) -> str:
    # A length prefix keeps the pair unambiguous whatever characters either part holds.
    return f"{len(source)}:{source}/{event_id}"


def position(order: tuple[str, str, str]) -> str:
    """An event's business-time order as one string that sorts the same way (rows, cursors).

    NUL sorts below every other character, so joining the parts with it keeps tuple order.
    """
    return "\x00".join(order)


def time_key(moment: datetime) -> str:
    """A fixed-width UTC string that sorts like the instant, to the microsecond."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def from_time_key(key: str) -> datetime:
    """The instant a time key names, to the microsecond.

    A time key is fixed-width ISO 8601 with "Z": fromisoformat (3.11) reads it, far faster than
    strptime.
    """
    return datetime.fromisoformat(key)


def _money(value: object) -> Decimal:
    # Money travels as a decimal string; a float or int here is a producer bug, not a value.
    if not isinstance(value, str):
        raise ValueError(f"amount must be a decimal string, got {type(value).__name__}")
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"amount {value!r} is not a decimal number") from None
    if not amount.is_finite():
        raise ValueError(f"amount {value!r} is not finite")
    if amount < 0:
        raise ValueError(f"amount {value!r} is negative")
    return amount


Money = Annotated[Decimal, BeforeValidator(_money)]


class _Data(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow")


class CustomerRegistered(_Data):
    customerId: str
    name: str
    email: str


class CustomerUpdated(CustomerRegistered):
    pass


class CustomerDeleted(_Data):
    customerId: str


class AccountOpened(_Data):
    accountId: str
    customerId: str
    currency: str


class AccountDeposited(_Data):
    accountId: str
    transactionId: str
    amount: Money
    currency: str


class AccountWithdrawn(AccountDeposited):
    pass


class TransactionCorrected(_Data):
    accountId: str
    transactionId: str
    amount: Money


class AccountClosed(_Data):
    accountId: str


DATA_SCHEMAS: dict[str, type[_Data]] = {
    "customer.registered": CustomerRegistered,
    "customer.updated": CustomerUpdated,
    "customer.deleted": CustomerDeleted,
    "account.opened": AccountOpened,
    "account.deposited": AccountDeposited,
    "account.withdrawn": AccountWithdrawn,
    "account.transaction-corrected": TransactionCorrected,
    "account.closed": AccountClosed,
}
