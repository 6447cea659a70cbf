"""`asOf` reads, the `events` audit trail, and a targeted refold, on the real servers."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from asyncio.subprocess import PIPE
from pathlib import Path
from typing import Any

from tests.support.facts import account_event, at, customer_event, produce
from tests.support.stack import Factview, eventually

ACCOUNT_AS_OF = """
query($id: ID!, $asOf: DateTime) {
  account(id: $id, asOf: $asOf) {
    balance version
    transactions { nodes { id amount balanceAfter corrected } }
  }
}
"""
CUSTOMER_AS_OF = """
query($id: ID!, $asOf: DateTime) {
  customer(id: $id, asOf: $asOf) { name totalBalance accounts { id balance } }
}
"""
EVENTS = """
query($subject: ID!, $first: Int, $after: String, $order: EventOrder!) {
  events(subject: $subject, first: $first, after: $after, order: $order) {
    nodes { id source type time subject data topic partition offset receivedAt }
    pageInfo { hasNextPage endCursor }
  }
}
"""


async def query(fv: Factview, document: str, **variables: Any) -> dict[str, Any]:
    body = await fv.graphql(document, **variables)
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


def iso(seconds: float) -> str:
    return at(seconds).isoformat()


async def bank_example(fv: Factview) -> tuple[str, str]:
    """The article's account and its customer, folded, then a late deposit; their ids."""
    a, c = f"tt-a-{uuid.uuid4().hex[:6]}", f"tt-c-{uuid.uuid4().hex[:6]}"
    boot = fv.settings.kafka_bootstrap_servers
    money = {"currency": "EUR"}
    await produce(
        boot,
        fv.customers_topic,
        [
            customer_event("customer.registered", c, at(1), name="Ada", email="ada@example.com"),
            customer_event("customer.updated", c, at(6), name="Ada L.", email="ada@example.com"),
        ],
    )
    await produce(
        boot,
        fv.accounts_topic,
        [
            account_event("account.opened", a, at(2), customerId=c, currency="EUR"),
            account_event(
                "account.deposited", a, at(3), transactionId="t1", amount="10.00", **money
            ),
            account_event(
                "account.withdrawn", a, at(5), transactionId="t2", amount="3.00", **money
            ),
            account_event(
                "account.transaction-corrected", a, at(7), transactionId="t1", amount="12.00"
            ),
        ],
    )  # fmt: skip
    await eventually(
        lambda: query(fv, ACCOUNT_AS_OF, id=a),
        lambda d: d["account"] is not None and d["account"]["version"] == 4,
    )
    # The late deposit: business time 4, between the deposit and the withdrawal, arriving last.
    await produce(
        boot,
        fv.accounts_topic,
        [account_event("account.deposited", a, at(4), transactionId="t3", amount="5.00", **money)],
    )
    await eventually(lambda: query(fv, ACCOUNT_AS_OF, id=a), lambda d: d["account"]["version"] == 5)
    return a, c


async def assert_the_account_as_of(fv: Factview, a: str) -> None:
    async def account_at(seconds: float) -> tuple[str, list[tuple[str, str, str]]]:
        view = (await query(fv, ACCOUNT_AS_OF, id=a, asOf=iso(seconds)))["account"]
        txs = [(t["id"], t["amount"], t["balanceAfter"]) for t in view["transactions"]["nodes"]]
        return view["balance"], txs

    # Hand-computed: deposit 10 (t1, later corrected to 12), late deposit 5, withdraw 3.
    assert await account_at(3.5) == (
        "10.00",
        [("t1", "10.00", "10.00")],
    )  # before the late event's time
    assert await account_at(4.5) == (
        "15.00",
        [("t1", "10.00", "10.00"), ("t3", "5.00", "15.00")],
    )  # between
    assert await account_at(5.5) == (
        "12.00",
        [("t1", "10.00", "10.00"), ("t3", "5.00", "15.00"), ("t2", "3.00", "12.00")],
    )  # after: the article's 10 - 3, plus the late 5
    assert await account_at(8) == (
        "14.00",
        [("t1", "12.00", "12.00"), ("t3", "5.00", "17.00"), ("t2", "3.00", "14.00")],
    )  # after the correction
    assert (await query(fv, ACCOUNT_AS_OF, id=a, asOf=iso(1.5)))["account"] is None


async def assert_the_customer_as_of(fv: Factview, c: str, a: str) -> None:
    async def customer_at(seconds: float) -> Any:
        return (await query(fv, CUSTOMER_AS_OF, id=c, asOf=iso(seconds)))["customer"]

    assert await customer_at(0.5) is None
    assert await customer_at(1.5) == {"name": "Ada", "totalBalance": "0.00", "accounts": []}
    assert await customer_at(4.5) == {
        "name": "Ada",
        "totalBalance": "15.00",
        "accounts": [{"id": a, "balance": "15.00"}],
    }
    assert await customer_at(6.5) == {
        "name": "Ada L.",
        "totalBalance": "12.00",
        "accounts": [{"id": a, "balance": "12.00"}],
    }
    live = await query(fv, CUSTOMER_AS_OF, id=c)
    assert live["customer"]["totalBalance"] == "14.00"


async def assert_the_audit_trail_pages_either_way(fv: Factview, a: str) -> None:
    """The audit trail pages through the logged events in business time, either way."""
    page = (await query(fv, EVENTS, subject=a, first=3, order="ASC"))["events"]
    types = [(n["type"], n["time"]) for n in page["nodes"]]
    assert types == [
        ("account.opened", "2026-01-01T00:00:02+00:00"),
        ("account.deposited", "2026-01-01T00:00:03+00:00"),
        ("account.deposited", "2026-01-01T00:00:04+00:00"),
    ]
    assert page["nodes"][2]["data"] == {
        "accountId": a, "transactionId": "t3", "amount": "5.00", "currency": "EUR"
    }  # fmt: skip
    assert page["nodes"][0]["topic"] == fv.accounts_topic
    assert page["pageInfo"]["hasNextPage"]
    rest = await query(
        fv, EVENTS, subject=a, first=3, after=page["pageInfo"]["endCursor"], order="ASC"
    )
    assert [n["type"] for n in rest["events"]["nodes"]] == [
        "account.withdrawn",
        "account.transaction-corrected",
    ]
    assert not rest["events"]["pageInfo"]["hasNextPage"]
    newest = await query(fv, EVENTS, subject=a, first=1, order="DESC")
    assert newest["events"]["nodes"][0]["type"] == "account.transaction-corrected"


async def test_as_of_answers_the_bank_example_with_a_late_deposit_and_a_correction(
    factview: Factview,
) -> None:
    a, c = await bank_example(factview)
    await assert_the_account_as_of(factview, a)
    await assert_the_customer_as_of(factview, c, a)
    await assert_the_audit_trail_pages_either_way(factview, a)


async def test_refold_fixes_one_document_and_touches_no_other(
    factview: Factview, tmp_path: Path
) -> None:
    a, b = f"rf-a-{uuid.uuid4().hex[:6]}", f"rf-b-{uuid.uuid4().hex[:6]}"
    money = {"currency": "EUR"}
    await produce(
        factview.settings.kafka_bootstrap_servers,
        factview.accounts_topic,
        [
            account_event("account.opened", a, at(1), customerId="rf-c", currency="EUR"),
            account_event("account.deposited", a, at(2), transactionId="t1", amount="10", **money),
            account_event("account.opened", b, at(1), customerId="rf-c", currency="EUR"),
        ],
    )  # fmt: skip
    db = factview.runtime.db
    await eventually(
        lambda: db.accounts.count_documents({"_id": {"$in": [a, b]}}), lambda n: n == 2
    )
    await eventually(lambda: db.accounts.find_one({"_id": a}), lambda d: d["version"] == 2)
    good = await db.accounts.find_one({"_id": a})
    # A fold bug hit two documents; only `a` is refolded here.
    await db.accounts.update_one({"_id": a}, {"$set": {"balance": "999", "transactions": []}})
    await db.accounts.update_one({"_id": b}, {"$set": {"balance": "888"}})
    others = {
        name: {d["_id"]: d async for d in db[name].find({"_id": {"$ne": a}})}
        for name in ("accounts", "customers")
    }

    env = {
        **os.environ,
        "MONGODB_URI": factview.settings.mongodb_uri,
        "MONGODB_DATABASE": factview.settings.mongodb_database,
        "AUTH_JWT_SECRET": "refold-tests-do-not-authenticate",
    }
    factview_bin = str(Path(sys.executable).with_name("factview"))
    proc = await asyncio.create_subprocess_exec(
        factview_bin, "refold", "account", "--id", a,
        env=env, cwd=tmp_path, stdout=PIPE, stderr=PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    assert out.decode().strip() == f"account {a}: refolded, version 2"

    assert await db.accounts.find_one({"_id": a}) == good
    after = {
        name: {d["_id"]: d async for d in db[name].find({"_id": {"$ne": a}})}
        for name in ("accounts", "customers")
    }
    assert after == others
    assert after["accounts"][b]["balance"] == "888"
