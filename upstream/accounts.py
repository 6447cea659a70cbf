"""The accounts owner, event-sourced: commands are checked against the state its own events
fold to, and the events it appends are at once its write model and its outbox.

Nothing but `account_events` (and snapshots of its folds) is stored: the balance, the status
and each transaction's amount are what the account's events say, read inside the command's
write transaction, so a check like "enough funds" sees exactly what is committed.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.auth import TokenVerifier
from upstream import owner as owner_module
from upstream.account_events import (
    CLOSED,
    DEPOSIT,
    OPEN,
    SCHEMA,
    WITHDRAWAL,
    Account,
    AccountEventLog,
    load,
)
from upstream.authorization import customer_in_body, guarded, holder_of, staff_only
from upstream.database import Database
from upstream.events import ACCOUNTS_SOURCE, fact
from upstream.outbox import Relay
from upstream.owner import Outcome, Owner, json_body
from upstream.validation import (
    OwnerError,
    format_money,
    not_found,
    parse_amount,
    parse_currency,
    parse_text,
    require,
)

DEFAULT_TOPIC = "accounts.facts"


def _signed(kind: str, amount: Decimal) -> Decimal:
    return amount if kind == DEPOSIT else -amount


def _load(conn: sqlite3.Connection, account_id: str, *, writing: bool = False) -> Account:
    account = load(conn, account_id, snapshot=writing)
    if account is None:
        raise not_found(f"account {account_id} not found")
    return account


def _load_open(conn: sqlite3.Connection, account_id: str) -> Account:
    account = _load(conn, account_id, writing=True)
    if account.status != OPEN:
        raise OwnerError(409, "account_closed", f"account {account_id} is closed")
    return account


def create_app(
    db_path: str, bootstrap_servers: str, topic: str = DEFAULT_TOPIC, *, verifier: TokenVerifier
) -> Starlette:
    database = Database(db_path, owner_module.schema(SCHEMA, outbox_table=False))
    events = AccountEventLog(database)
    owner = Owner(
        ACCOUNTS_SOURCE, database, Relay(events, bootstrap_servers, topic), verifier, events
    )

    async def holder(account_id: str) -> str | None:
        def read(conn: sqlite3.Connection) -> str | None:
            account = load(conn, account_id)
            return None if account is None else account.customer_id

        return await owner.read(read)

    async def open_account(request: Request) -> JSONResponse:
        body = await json_body(request)
        # The accounts owner does not call the customers owner: it trusts the id it is given.
        customer_id = parse_text(require(body, "customerId"), "customerId")
        currency = parse_currency(require(body, "currency"))

        def operation(conn: sqlite3.Connection) -> Outcome:
            account_id = str(uuid.uuid4())
            data = {"accountId": account_id, "customerId": customer_id, "currency": currency}
            return Outcome(
                201,
                {**data, "status": OPEN, "balance": format_money(Decimal(0))},
                [fact(ACCOUNTS_SOURCE, "account.opened", account_id, data)],
            )

        return await owner.write(request, body, operation)

    def movement(kind: str) -> Callable[[Request], Awaitable[JSONResponse]]:
        fact_type = "account.deposited" if kind == DEPOSIT else "account.withdrawn"

        async def endpoint(request: Request) -> JSONResponse:
            account_id = request.path_params["account_id"]
            body = await json_body(request)
            amount = parse_amount(require(body, "amount"))

            def operation(conn: sqlite3.Connection) -> Outcome:
                account = _load_open(conn, account_id)
                balance = account.balance + _signed(kind, amount)
                if balance < 0:
                    raise OwnerError(
                        409,
                        "insufficient_funds",
                        f"account {account_id} holds {format_money(balance + amount)}, "
                        f"cannot withdraw {format_money(amount)}",
                    )
                data = {
                    "accountId": account_id,
                    "transactionId": str(uuid.uuid4()),
                    "amount": format_money(amount),
                    "currency": account.currency,
                }
                return Outcome(
                    201,
                    {**data, "balance": format_money(balance)},
                    [fact(ACCOUNTS_SOURCE, fact_type, account_id, data)],
                )

            return await owner.write(request, body, operation)

        return endpoint

    async def correct(request: Request) -> JSONResponse:
        account_id = request.path_params["account_id"]
        transaction_id = request.path_params["transaction_id"]
        body = await json_body(request)
        # Zero is allowed: a correction to 0.00 says the transaction really moved nothing.
        amount = parse_amount(require(body, "amount"), allow_zero=True)

        def operation(conn: sqlite3.Connection) -> Outcome:
            account = _load_open(conn, account_id)
            old = account.transactions.get(transaction_id)
            if old is None:
                raise not_found(f"transaction {transaction_id} not found in account {account_id}")
            balance = account.balance - old.signed + _signed(old.kind, amount)
            if balance < 0:
                raise OwnerError(
                    409,
                    "insufficient_funds",
                    f"correcting {transaction_id} to {format_money(amount)} would leave "
                    f"account {account_id} at {format_money(balance)}",
                )
            data = {
                "accountId": account_id,
                "transactionId": transaction_id,
                "amount": format_money(amount),
            }
            return Outcome(
                200,
                {**data, "balance": format_money(balance)},
                [fact(ACCOUNTS_SOURCE, "account.transaction-corrected", account_id, data)],
            )

        return await owner.write(request, body, operation)

    async def close(request: Request) -> JSONResponse:
        account_id = request.path_params["account_id"]
        body = await json_body(request, optional=True)

        def operation(conn: sqlite3.Connection) -> Outcome:
            account = _load_open(conn, account_id)
            data = {"accountId": account_id}
            return Outcome(
                200,
                {**data, "status": CLOSED, "balance": format_money(account.balance)},
                [fact(ACCOUNTS_SOURCE, "account.closed", account_id, data)],
            )

        return await owner.write(request, body, operation)

    async def get(request: Request) -> JSONResponse:
        account_id = request.path_params["account_id"]

        def read(conn: sqlite3.Connection) -> dict[str, Any]:
            account = _load(conn, account_id)
            return {
                "accountId": account.id,
                "customerId": account.customer_id,
                "currency": account.currency,
                "status": account.status,
                "balance": format_money(account.balance),
                "transactions": [
                    {
                        "transactionId": tx_id,
                        "kind": t.kind,
                        "amount": format_money(t.amount),
                        "corrected": t.corrected,
                    }
                    for tx_id, t in account.transactions.items()
                ],
            }

        return JSONResponse(await owner.read(read))

    # A customer acts on its own accounts only; corrections are staff's alone.
    holds = holder_of("account_id", holder)
    deposit, withdraw = movement(DEPOSIT), movement(WITHDRAWAL)
    return owner.app(
        [
            Route(
                "/accounts", guarded(open_account, customer_in_body("customerId")), methods=["POST"]
            ),
            Route("/accounts/{account_id}", guarded(get, holds), methods=["GET"]),
            Route("/accounts/{account_id}/deposits", guarded(deposit, holds), methods=["POST"]),
            Route("/accounts/{account_id}/withdrawals", guarded(withdraw, holds), methods=["POST"]),
            Route("/accounts/{account_id}/close", guarded(close, holds), methods=["POST"]),
            Route(
                "/accounts/{account_id}/transactions/{transaction_id}/correction",
                guarded(correct, staff_only),
                methods=["POST"],
            ),
        ]
    )
