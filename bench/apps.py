"""The two apps the query benchmark serves, each by `uvicorn --factory` in its own process.

`factview`: the real service (GraphQL on Starlette), settings from the environment, no consumers.
`bare`: a plain Starlette endpoint doing the same MongoDB reads as the resolvers (the customer,
then its accounts by customerId) and returning the same JSON as the GraphQL answer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.settings import Settings

QUERY = """
query($id: ID!) {
  customer(id: $id) { accounts { transactions(first: 20) { nodes { amount balanceAfter } } } }
}
"""
PAGE = 20


def factview() -> Starlette:
    from app.http.asgi import create_app
    from app.runtime import Runtime
    from consumers.projections import PROJECTIONS

    settings = Settings()
    # Started by the app's lifespan, in the loop uvicorn serves it from.
    return create_app(settings, lambda: Runtime.start(settings, PROJECTIONS, consume=False))


def bare() -> Starlette:
    from app.store import database, make_client

    settings = Settings()
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        client = make_client(settings.mongodb_uri)
        state["db"] = database(client, settings.mongodb_database)
        try:
            yield
        finally:
            await client.close()

    async def customer(request: Request) -> JSONResponse:
        body = await request.json()
        db = state["db"]
        doc = await db.customers.find_one({"_id": body["variables"]["id"]})
        if doc is None or doc.get("deleted", False):
            return JSONResponse({"data": {"customer": None}})
        cursor = db.accounts.find({"customerId": doc["_id"]}).sort("_id", 1)
        accounts = []
        async for account in cursor:
            # The oldest PAGE rows of the account, as `transactions(first: 20)` reads them.
            rows = db.transactions.find({"accountId": account["_id"]}).sort("pos", 1).limit(PAGE)
            nodes = [
                {"amount": str(tx["amount"]), "balanceAfter": str(tx["balanceAfter"])}
                async for tx in rows
            ]
            accounts.append({"transactions": {"nodes": nodes}})
        return JSONResponse({"data": {"customer": {"accounts": accounts}}})

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[Route("/healthz", healthz), Route("/graphql", customer, methods=["POST"])],
        lifespan=lifespan,
    )
