"""openAccount, deposit, withdraw: forwarded to the accounts owner."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import quote

import strawberry

from app.owners import Refused
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

WAIT_DESCRIPTION = "Wait (bounded) until the write is folded, so `account` includes it."


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
    # Refuse the obviously wrong here; the owner has the final word on everything else.
    if not amount.is_finite() or amount <= 0:
        return ValidationFailed(message="amount must be greater than zero", field="amount")
    return None


async def _move(
    info: Info, account_id: str, movement: str, amount: Decimal, wait_for_fold: bool
) -> dict[str, Any] | Refused | ValidationFailed:
    """A deposit or withdrawal: authorized, checked, forwarded, then (optionally) awaited."""
    await info.context.views.require_account(account_id)
    if invalid := _check_amount(amount):
        return invalid
    path = f"/accounts/{quote(account_id, safe='')}/{movement}"
    result = await forward(info, "accounts", "POST", path, {"amount": f"{amount:f}"})
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
    ) -> OpenAccountResult:
        info.context.views.require_customer(str(customer_id))
        result = await forward(
            info,
            "accounts",
            "POST",
            "/accounts",
            {"customerId": str(customer_id), "currency": currency},
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
    ) -> DepositResult:
        result = await _move(info, str(account_id), "deposits", amount, wait_for_fold)
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
    ) -> WithdrawResult:
        result = await _move(info, str(account_id), "withdrawals", amount, wait_for_fold)
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
