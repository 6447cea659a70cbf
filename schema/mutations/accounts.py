"""openAccount, deposit, withdraw: forwarded to the accounts owner."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import quote

import strawberry

from app.owners import ID_RULE, Refused, valid_id
from schema.accounts import Account
from schema.context import Info
from schema.mutations.errors import (
    AccountClosed,
    IdempotencyKeyReused,
    InsufficientFunds,
    NotFound,
    ValidationFailed,
    user_error,
)
from schema.mutations.forwarding import AcceptedWrite, forward, settle
from schema.mutations.idempotency import IdempotencyKeyArgument

WAIT_DESCRIPTION = "Wait (bounded) until the write is folded, so `account` includes it."
# The owners' bounds (upstream/validation.py): cents, and amounts below 10^15.
MAX_INTEGER_DIGITS = 15
MAX_PLACES = 2
CENT = Decimal("0.01")


async def _account(info: Info, account_id: str) -> Account | None:
    doc = await info.context.views.account(account_id)
    return Account.from_view(doc) if doc else None


@strawberry.type
class OpenAccountSucceeded(AcceptedWrite):
    account_id: strawberry.ID
    customer_id: strawberry.ID
    currency: str

    # The account view (null if not yet folded).
    @strawberry.field
    async def account(self, info: Info) -> Account | None:
        return await _account(info, str(self.account_id))


@strawberry.type
class MovementSucceeded(AcceptedWrite):
    account_id: strawberry.ID
    transaction_id: strawberry.ID
    amount: Decimal
    balance: Decimal = strawberry.field(description="The owner's balance after this write.")

    # The account view; includes this write when `folded`.
    @strawberry.field
    async def account(self, info: Info) -> Account | None:
        return await _account(info, str(self.account_id))


@strawberry.type
class DepositSucceeded(MovementSucceeded):
    pass


@strawberry.type
class WithdrawSucceeded(MovementSucceeded):
    pass


OpenAccountResult = Annotated[
    OpenAccountSucceeded | NotFound | ValidationFailed | IdempotencyKeyReused,
    strawberry.union("OpenAccountResult"),
]
DepositResult = Annotated[
    DepositSucceeded | AccountClosed | NotFound | ValidationFailed | IdempotencyKeyReused,
    strawberry.union("DepositResult"),
]
WithdrawResult = Annotated[
    WithdrawSucceeded
    | InsufficientFunds
    | AccountClosed
    | NotFound
    | ValidationFailed
    | IdempotencyKeyReused,
    strawberry.union("WithdrawResult"),
]


def _check_amount(amount: Decimal) -> ValidationFailed | None:
    """Money within bounds, judged from digits and exponent alone: nothing here (or after it)
    expands "1E+5000000" into five million digits. The owner has the final word on the rest."""
    if not amount.is_finite() or amount <= 0:
        return ValidationFailed(message="amount must be greater than zero", field="amount")
    if amount.adjusted() >= MAX_INTEGER_DIGITS:
        return ValidationFailed(
            message=f"amount must be below 10^{MAX_INTEGER_DIGITS}", field="amount"
        )
    _, digits, exponent = amount.as_tuple()
    assert isinstance(exponent, int)  # finite
    trailing_zeros = len(digits) - len(bytes(digits).rstrip(b"\0"))
    if -(exponent + trailing_zeros) > MAX_PLACES:
        return ValidationFailed(
            message=f"amount must have at most {MAX_PLACES} decimal places", field="amount"
        )
    return None


def _bad_id(value: str, field: str) -> ValidationFailed | None:
    if valid_id(value):
        return None
    return ValidationFailed(message=f"{field} must be {ID_RULE}", field=field)


async def _move(
    info: Info,
    account_id: str,
    movement: str,
    amount: Decimal,
    wait_for_fold: bool,
    idempotency_key: str | None,
) -> dict[str, Any] | Refused | ValidationFailed:
    """A deposit or withdrawal: checked, authorized, forwarded, then (optionally) awaited."""
    if invalid := _bad_id(account_id, "accountId") or _check_amount(amount):
        return invalid
    await info.context.views.require_account(account_id)
    path = f"/accounts/{quote(account_id, safe='')}/{movement}"
    body = {"amount": f"{amount.quantize(CENT):f}"}  # bounded above: at most 17 digits
    result = await forward(info, "accounts", "POST", path, body, idempotency_key)
    if isinstance(result, Refused):
        return result
    folded, token = await settle(info, result, wait_for_fold)
    body = result.body
    return {
        "account_id": strawberry.ID(body["accountId"]),
        "transaction_id": strawberry.ID(body["transactionId"]),
        "amount": Decimal(body["amount"]),
        "balance": Decimal(body["balance"]),
        "folded": folded,
        "consistency_token": token,
    }


@strawberry.type
class AccountMutation:
    # Open an account for a customer (accounts owner).
    @strawberry.mutation
    async def open_account(
        self,
        info: Info,
        customer_id: strawberry.ID,
        currency: str,
        wait_for_fold: Annotated[bool, strawberry.argument(description=WAIT_DESCRIPTION)] = True,
        idempotency_key: IdempotencyKeyArgument = None,
    ) -> OpenAccountResult:
        if invalid := _bad_id(str(customer_id), "customerId"):
            return invalid
        info.context.views.require_customer(str(customer_id))
        result = await forward(
            info,
            "accounts",
            "POST",
            "/accounts",
            {"customerId": str(customer_id), "currency": currency},
            idempotency_key,
        )
        if isinstance(result, Refused):
            return user_error(result, (NotFound, ValidationFailed, IdempotencyKeyReused))  # type: ignore[return-value]
        folded, token = await settle(info, result, wait_for_fold)
        body = result.body
        return OpenAccountSucceeded(
            account_id=strawberry.ID(body["accountId"]),
            customer_id=strawberry.ID(body["customerId"]),
            currency=body["currency"],
            folded=folded,
            consistency_token=token,
        )

    # Deposit money into an account (accounts owner).
    @strawberry.mutation
    async def deposit(
        self,
        info: Info,
        account_id: strawberry.ID,
        amount: Decimal,
        wait_for_fold: Annotated[bool, strawberry.argument(description=WAIT_DESCRIPTION)] = True,
        idempotency_key: IdempotencyKeyArgument = None,
    ) -> DepositResult:
        result = await _move(
            info, str(account_id), "deposits", amount, wait_for_fold, idempotency_key
        )
        if isinstance(result, ValidationFailed):
            return result
        if isinstance(result, Refused):
            allowed = (AccountClosed, NotFound, ValidationFailed, IdempotencyKeyReused)
            return user_error(result, allowed)  # type: ignore[return-value]
        return DepositSucceeded(**result)

    # Withdraw money from an account (accounts owner).
    @strawberry.mutation
    async def withdraw(
        self,
        info: Info,
        account_id: strawberry.ID,
        amount: Decimal,
        wait_for_fold: Annotated[bool, strawberry.argument(description=WAIT_DESCRIPTION)] = True,
        idempotency_key: IdempotencyKeyArgument = None,
    ) -> WithdrawResult:
        result = await _move(
            info, str(account_id), "withdrawals", amount, wait_for_fold, idempotency_key
        )
        if isinstance(result, ValidationFailed):
            return result
        if isinstance(result, Refused):
            allowed = (
                InsufficientFunds,
                AccountClosed,
                NotFound,
                ValidationFailed,
                IdempotencyKeyReused,
            )
            return user_error(result, allowed)  # type: ignore[return-value]
        return WithdrawSucceeded(**result)
