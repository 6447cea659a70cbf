"""The customers owner: registers, updates and deletes customers, emitting a fact for each."""

from __future__ import annotations

import sqlite3
import uuid
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.auth import TokenVerifier
from upstream import owner as owner_module
from upstream.authorization import guarded, staff_only, the_customer
from upstream.database import Database
from upstream.events import CUSTOMERS_SOURCE, fact
from upstream.outbox import OutboxTable, Relay
from upstream.owner import Outcome, Owner, json_body
from upstream.validation import invalid, not_found, parse_email, parse_text, require

DEFAULT_TOPIC = "customers.facts"

_ENTITIES = """
CREATE TABLE IF NOT EXISTS customers (
    id    TEXT PRIMARY KEY,
    name  TEXT NOT NULL,
    email TEXT NOT NULL
);
"""


def _customer(row: sqlite3.Row) -> dict[str, Any]:
    return {"customerId": row["id"], "name": row["name"], "email": row["email"]}


def _load(conn: sqlite3.Connection, customer_id: str) -> sqlite3.Row:
    row = conn.execute(
        "SELECT id, name, email FROM customers WHERE id = ?", (customer_id,)
    ).fetchone()
    if row is None:
        raise not_found(f"customer {customer_id} not found")
    return row  # type: ignore[no-any-return]


def create_app(
    db_path: str, bootstrap_servers: str, topic: str = DEFAULT_TOPIC, *, verifier: TokenVerifier
) -> Starlette:
    database = Database(db_path, owner_module.schema(_ENTITIES))
    outbox = OutboxTable(database)
    relay = Relay(outbox, bootstrap_servers, topic)
    owner = Owner(CUSTOMERS_SOURCE, database, relay, verifier, outbox)

    async def register(request: Request) -> JSONResponse:
        body = await json_body(request)
        name = parse_text(require(body, "name"), "name")
        email = parse_email(require(body, "email"))

        def operation(conn: sqlite3.Connection) -> Outcome:
            customer_id = str(uuid.uuid4())
            conn.execute(
                "INSERT INTO customers (id, name, email) VALUES (?, ?, ?)",
                (customer_id, name, email),
            )
            data = {"customerId": customer_id, "name": name, "email": email}
            return Outcome(
                201, data, [fact(CUSTOMERS_SOURCE, "customer.registered", customer_id, data)]
            )

        return await owner.write(request, body, operation)

    async def update(request: Request) -> JSONResponse:
        customer_id = request.path_params["customer_id"]
        body = await json_body(request)
        changes: dict[str, str] = {}
        if body.get("name") is not None:
            changes["name"] = parse_text(body["name"], "name")
        if body.get("email") is not None:
            changes["email"] = parse_email(body["email"])
        if not changes:
            raise invalid("give at least one of name, email")

        def operation(conn: sqlite3.Connection) -> Outcome:
            current = _customer(_load(conn, customer_id))
            updated = {**current, **changes}
            conn.execute(
                "UPDATE customers SET name = ?, email = ? WHERE id = ?",
                (updated["name"], updated["email"], customer_id),
            )
            # A Fact Event carries state: the whole customer as it now is, not the diff.
            return Outcome(
                200, updated, [fact(CUSTOMERS_SOURCE, "customer.updated", customer_id, updated)]
            )

        return await owner.write(request, body, operation)

    async def delete(request: Request) -> JSONResponse:
        customer_id = request.path_params["customer_id"]

        def operation(conn: sqlite3.Connection) -> Outcome:
            _load(conn, customer_id)
            conn.execute("DELETE FROM customers WHERE id = ?", (customer_id,))
            data = {"customerId": customer_id}
            return Outcome(
                200, data, [fact(CUSTOMERS_SOURCE, "customer.deleted", customer_id, data)]
            )

        return await owner.write(request, None, operation)

    async def get(request: Request) -> JSONResponse:
        customer_id = request.path_params["customer_id"]
        return JSONResponse(await owner.read(lambda conn: _customer(_load(conn, customer_id))))

    itself = the_customer("customer_id")
    return owner.app(
        [
            # Customers come into being through staff (a sign-up flow would be its own route).
            Route("/customers", guarded(register, staff_only), methods=["POST"]),
            Route("/customers/{customer_id}", guarded(update, itself), methods=["PATCH"]),
            Route("/customers/{customer_id}", guarded(delete, itself), methods=["DELETE"]),
            Route("/customers/{customer_id}", guarded(get, itself), methods=["GET"]),
        ]
    )
