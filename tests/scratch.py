"""The views a fold of the log from scratch gives, to compare against what live folding wrote."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import bson
from pymongo.asynchronous.database import AsyncDatabase

from app.store import CODEC_OPTIONS
from consumers.facts import FactEvent
from consumers.log import from_log_document
from consumers.projection import State, fold, settle
from consumers.projections.account import AccountProjection
from consumers.projections.customer import CustomerProjection

Document = dict[str, Any]
Views = dict[str, dict[str, Document]]


def _stored(key: str, state: State) -> Document:
    # Through BSON and back, as MongoDB would keep it (milliseconds, Decimal128).
    doc = {"_id": key, **state}
    return bson.decode(bson.encode(doc, codec_options=CODEC_OPTIONS), codec_options=CODEC_OPTIONS)


def views_from_scratch(events: Iterable[FactEvent]) -> Views:
    """Deduplicate on (source, id), fold each document in time order, then join customers."""
    unique = {e.log_id: e for e in events}
    by_account: dict[str, list[FactEvent]] = defaultdict(list)
    by_customer: dict[str, list[FactEvent]] = defaultdict(list)
    for event in unique.values():
        if event.type in AccountProjection.handlers and (key := AccountProjection.key(event)):
            by_account[key].append(event)
        if event.type in CustomerProjection.handlers and (key := CustomerProjection.key(event)):
            by_customer[key].append(event)
    settled = {
        k: settle(AccountProjection, fold(AccountProjection, k, evs))
        for k, evs in by_account.items()
    }
    accounts = {k: doc for k, (doc, _) in settled.items()}
    rows = {row["_id"]: row for _, account_rows in settled.values() for row in account_rows}
    members: dict[str, list[State]] = defaultdict(list)
    for state in accounts.values():
        if state.get("customerId"):
            members[state["customerId"]].append(_stored(state["id"], state))
    # A customer document exists once its own facts or one of its accounts names it.
    keys = set(by_customer) | set(members)
    customers = {
        k: CustomerProjection.joined(
            fold(CustomerProjection, k, by_customer.get(k, [])),
            [{n: v for n, v in m.items() if n != "_id"} for m in members.get(k, [])],
        )
        for k in keys
    }
    return {
        "accounts": {k: _stored(k, s) for k, s in accounts.items()},
        "customers": {k: _stored(k, s) for k, s in customers.items()},
        "transactions": {k: _stored(k, _unfed(r)) for k, r in rows.items()},
    }


def _unfed(row: Document) -> Document:
    # `_rev` is where the change feed stands (when the row last changed), not what it holds.
    return {k: v for k, v in row.items() if k not in ("_id", "_rev")}


async def stored_views(db: AsyncDatabase[Document]) -> Views:
    views = {
        name: {doc["_id"]: doc async for doc in db[name].find({})}
        for name in ("accounts", "customers")
    }
    views["transactions"] = {
        doc["_id"]: {"_id": doc["_id"], **_unfed(doc)} async for doc in db.transactions.find({})
    }
    return views


async def logged_events(db: AsyncDatabase[Document]) -> list[FactEvent]:
    return [from_log_document(doc) async for doc in db.events.find({})]


def differences(expected: Views, actual: Views) -> list[str]:
    """A readable list of what differs (empty when equal), so a failure says where."""
    found: list[str] = []
    for name in sorted(set(expected) | set(actual)):
        want, got = expected.get(name, {}), actual.get(name, {})
        for key in sorted(set(want) | set(got)):
            if want.get(key) != got.get(key):
                found.append(f"{name}/{key}: expected {want.get(key)!r}, stored {got.get(key)!r}")
    return found
