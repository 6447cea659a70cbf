"""Version 1 and version 2 events fold to the same views, live, rebuilt, refolded and as of a time;
a version nobody can upcast is dead-lettered with its reason."""

from __future__ import annotations

import uuid
from typing import Any

from consumers.projections import PROJECTIONS
from consumers.projections.account import AccountProjection
from consumers.rebuild.refold import refold_documents
from consumers.rebuild.shadow import rebuild
from tests.support.facts import account_event, at, produce
from tests.support.stack import Factview, eventually

V2 = "https://schemas.example.com/accounts/{type}/v2"

ACCOUNT = """
query($id: ID!, $asOf: DateTime) {
  account(id: $id, asOf: $asOf) {
    currency status balance version
    transactions { nodes { id kind amount balanceAfter corrected } }
  }
}
"""


def movements(a: str, c: str, v2: bool) -> list[Any]:
    def money(type_: str, amount: str) -> dict[str, Any]:
        if not v2:
            return {"amount": amount, "currency": "EUR"}
        return {"dataschema": V2.format(type=type_), "amount": {"value": amount, "currency": "EUR"}}

    return [
        account_event("account.opened", a, at(1), customerId=c, currency="EUR"),
        account_event(
            "account.deposited", a, at(2), transactionId="t1", **money("account.deposited", "10.00")
        ),
        account_event(
            "account.withdrawn", a, at(3), transactionId="t2", **money("account.withdrawn", "3.00")
        ),
        # late: between the two, so the running balances shift
        account_event(
            "account.deposited",
            a,
            at(2.5),
            transactionId="t3",
            **money("account.deposited", "5.00"),
        ),
        account_event(
            "account.transaction-corrected", a, at(4), transactionId="t1", amount="12.00"
        ),
    ]


async def read(fv: Factview, a: str, as_of: str | None = None) -> dict[str, Any] | None:
    body = await fv.graphql(ACCOUNT, id=a, asOf=as_of)
    assert "errors" not in body, body
    result: dict[str, Any] | None = body["data"]["account"]
    return result


async def test_v1_and_v2_events_fold_to_the_same_view(factview: Factview) -> None:
    c = f"cus-{uuid.uuid4().hex[:8]}"
    old, new = f"acc-{uuid.uuid4().hex[:8]}", f"acc-{uuid.uuid4().hex[:8]}"
    bootstrap, topic = factview.settings.kafka_bootstrap_servers, factview.accounts_topic
    await produce(bootstrap, topic, movements(old, c, v2=False))
    await produce(bootstrap, topic, movements(new, c, v2=True))

    views = factview.runtime.db.accounts
    for a in (old, new):
        await eventually(lambda a=a: views.find_one({"_id": a}), lambda v: v and v["version"] == 5)
    live = await read(factview, old)
    assert live is not None and live["balance"] == "14.00"
    assert await read(factview, new) == live
    # As of a business time, folded from the log on the spot.
    then = "2026-01-01T00:00:02.7Z"
    assert await read(factview, new, then) == await read(factview, old, then)
    assert (await read(factview, new, then) or {})["balance"] == "15.00"

    # The log keeps what was received: the v2 shape, with its dataschema.
    logged = await factview.runtime.db.events.find_one(
        {"subject": new, "type": "account.deposited"}
    )
    assert logged is not None
    assert logged["dataschema"] == V2.format(type="account.deposited")
    assert set(logged["data"]["amount"]) == {"value", "currency"}

    # Folded again from the log, one document or the whole view: still the same.
    await refold_documents(factview.runtime.db, AccountProjection, [new], PROJECTIONS)
    assert await read(factview, new) == live
    await rebuild(factview.runtime.db, AccountProjection, PROJECTIONS)
    assert await read(factview, new) == live


async def test_an_unknown_version_is_dead_lettered_with_its_reason(factview: Factview) -> None:
    a = f"acc-{uuid.uuid4().hex[:8]}"
    v3 = "https://schemas.example.com/accounts/account.deposited/v3"
    await produce(
        factview.settings.kafka_bootstrap_servers,
        factview.accounts_topic,
        [
            account_event("account.opened", a, at(1), customerId="c", currency="EUR"),
            account_event(
                "account.deposited",
                a,
                at(2),
                dataschema=v3,
                transactionId="t1",
                amount={"value": "1.00", "currency": "EUR", "fx": "1.1"},
            ),
            account_event(
                "account.deposited", a, at(3), transactionId="t2", amount="2.00", currency="EUR"
            ),
        ],
    )
    view = await eventually(
        lambda: factview.runtime.db.accounts.find_one({"_id": a}),
        lambda v: v is not None and v["version"] == 2,
    )
    assert str(view["balance"]) == "2.00"
    letters = factview.runtime.db.dead_letters.find({"key": {"$exists": True}})
    reasons = [d["reason"] async for d in letters if a.encode() == bytes(d["key"])]
    assert reasons == [
        "PoisonRecord: account.deposited version 3: unknown version (known versions: 1, 2)"
    ]
    assert await factview.runtime.db.events.count_documents({"subject": a}) == 2
