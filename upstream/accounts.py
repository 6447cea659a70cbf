"""The accounts owner: opens and closes accounts and records money movements, a fact for each.

The balance is never stored: it is recomputed from the transactions (with corrections applied)
inside the write transaction, so a check like "enough funds" sees exactly what is committed.
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
OPEN = "OPEN"
CLOSED = "CLOSED"
DEPOSIT = "DEPOSIT"
WITHDRAWAL = "WITHDRAWAL"

_ENTITIES = """
CREATE TABLE IF NOT EXISTS accounts (
    id          TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    currency    TEXT NOT NULL,
    status      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS transactions (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    kind       TEXT NOT NULL,
    amount     TEXT NOT NULL,  -- a decimal string: SQLite has no exact decimal type
    corrected  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS transactions_by_account ON transactions (account_id, seq);
"""


def _signed(kind: str, amount: Decimal) -> Decimal:
    return amount if kind == DEPOSIT else -amount


def _load(conn: sqlite3.Connection, account_id: str) -> sqlite3.Row:
    row = conn.execute(
        "SELECT id, customer_id, currency, status FROM accounts WHERE id = ?", (account_id,)
    ).fetchone()
    if row is None:
        raise not_found(f"account {account_id} not found")
    return row  # type: ignore[no-any-return]


def _load_open(conn: sqlite3.Connection, account_id: str) -> sqlite3.Row:
    row = _load(conn, account_id)
    if row["status"] != OPEN:
        raise OwnerError(409, "account_closed", f"account {account_id} is closed")
    return row


def _transactions(conn: sqlite3.Connection, account_id: str) -> list[sqlite3.Row]:
    return conn.execute(
        "SELECT id, kind, amount, corrected FROM transactions WHERE account_id = ? ORDER BY seq",
        (account_id,),
    ).fetchall()


def _balance(conn: sqlite3.Connection, account_id: str) -> Decimal:
    rows = _transactions(conn, account_id)
    return sum((_signed(r["kind"], Decimal(r["amount"])) for r in rows), Decimal("0.00"))


def _account(conn: sqlite3.Connection, row: sqlite3.Row) -> dict[str, Any]:
    return {
        "accountId": row["id"],
        "customerId": row["customer_id"],
        "currency": row["currency"],
        "status": row["status"],
        "balance": format_money(_balance(conn, row["id"])),
    }


def create_app(
    db_path: str, bootstrap_servers: str, topic: str = DEFAULT_TOPIC, *, verifier: TokenVerifier
) -> Starlette:
    database = Database(db_path, owner_module.schema(_ENTITIES))
    relay = Relay(database, bootstrap_servers, topic)
    owner = Owner(ACCOUNTS_SOURCE, database, relay, verifier)

    async def holder(account_id: str) -> str | None:
        def read(conn: sqlite3.Connection) -> str | None:
            row = conn.execute(
                "SELECT customer_id FROM accounts WHERE id = ?", (account_id,)
            ).fetchone()
            return None if row is None else str(row["customer_id"])

        return await owner.read(read)

    async def open_account(request: Request) -> JSONResponse:
        body = await json_body(request)
        # The accounts owner does not call the customers owner: it trusts the id it is given.
        customer_id = parse_text(require(body, "customerId"), "customerId")
        currency = parse_currency(require(body, "currency"))

        def operation(conn: sqlite3.Connection) -> Outcome:
            account_id = str(uuid.uuid4())
            conn.execute(
                "INSERT INTO accounts (id, customer_id, currency, status) VALUES (?, ?, ?, ?)",
                (account_id, customer_id, currency, OPEN),
            )
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
                balance = _balance(conn, account_id) + _signed(kind, amount)
                if balance < 0:
                    raise OwnerError(
                        409,
                        "insufficient_funds",
                        f"account {account_id} holds {format_money(balance + amount)}, "
                        f"cannot withdraw {format_money(amount)}",
                    )
                transaction_id = str(uuid.uuid4())
                conn.execute(
                    "INSERT INTO transactions (id, account_id, kind, amount) VALUES (?, ?, ?, ?)",
                    (transaction_id, account_id, kind, format_money(amount)),
                )
                data = {
                    "accountId": account_id,
                    "transactionId": transaction_id,
                    "amount": format_money(amount),
                    "currency": account["currency"],
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
            _load_open(conn, account_id)
            row = conn.execute(
                "SELECT kind FROM transactions WHERE id = ? AND account_id = ?",
                (transaction_id, account_id),
            ).fetchone()
            if row is None:
                raise not_found(f"transaction {transaction_id} not found in account {account_id}")
            conn.execute(
                "UPDATE transactions SET amount = ?, corrected = 1 WHERE id = ?",
                (format_money(amount), transaction_id),
            )
            balance = _balance(conn, account_id)
            if balance < 0:
                # Raising rolls the UPDATE back with the rest of the transaction.
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
            _load_open(conn, account_id)
            conn.execute("UPDATE accounts SET status = ? WHERE id = ?", (CLOSED, account_id))
            data = {"accountId": account_id}
            return Outcome(
                200,
                {**data, "status": CLOSED, "balance": format_money(_balance(conn, account_id))},
                [fact(ACCOUNTS_SOURCE, "account.closed", account_id, data)],
            )

        return await owner.write(request, body, operation)

    async def get(request: Request) -> JSONResponse:
        account_id = request.path_params["account_id"]

        def read(conn: sqlite3.Connection) -> dict[str, Any]:
            entity = _account(conn, _load(conn, account_id))
            entity["transactions"] = [
                {
                    "transactionId": r["id"],
                    "kind": r["kind"],
                    "amount": r["amount"],
                    "corrected": bool(r["corrected"]),
                }
                for r in _transactions(conn, account_id)
            ]
            return entity

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
