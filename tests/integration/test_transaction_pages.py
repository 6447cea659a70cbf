"""An account's transactions as rows: keyset pages that hold still, and a resumable feed."""

from __future__ import annotations

import uuid
from typing import Any

from consumers.projections import PROJECTIONS
from consumers.projections.account import AccountProjection
from consumers.rebuild.shadow import rebuild
from tests.support.facts import account_event, at, produce
from tests.support.stack import Factview, eventually, subscribe

PAGE = """
query($id: ID!, $first: Int, $after: String, $last: Int, $before: String) {
  account(id: $id) {
    balance transactionCount
    transactions(first: $first, after: $after, last: $last, before: $before) {
      edges { cursor node { id amount balanceAfter } }
      pageInfo { hasNextPage endCursor hasPreviousPage startCursor }
    }
  }
}
"""
FEED = """
subscription($id: ID!, $after: String) {
  accountTransactions(accountId: $id, after: $after) { cursor node { id balanceAfter } }
}
"""


def deposit(account_id: str, tx: str, seconds: float, amount: str = "1.00") -> Any:
    return account_event(
        "account.deposited",
        account_id,
        at(seconds),
        transactionId=tx,
        amount=amount,
        currency="EUR",
    )


async def page(fv: Factview, account_id: str, **args: Any) -> dict[str, Any]:
    body = await fv.graphql(PAGE, id=account_id, **args)
    assert "errors" not in body, body
    account: dict[str, Any] = body["data"]["account"]
    return account


def ids(connection: dict[str, Any]) -> list[str]:
    return [edge["node"]["id"] for edge in connection["edges"]]


async def folded(fv: Factview, account_id: str, count: int) -> None:
    async def probe() -> Any:
        return await fv.runtime.views.account(account_id)

    await eventually(probe, lambda doc: doc is not None and doc["transactionCount"] == count)


async def test_pages_hold_still_when_a_late_transaction_lands_between_reads(
    factview: Factview,
) -> None:
    a = f"pg-{uuid.uuid4().hex[:8]}"
    boot = factview.settings.kafka_bootstrap_servers
    # t0..t5 one second apart, in business-time order.
    await produce(boot, factview.accounts_topic, [deposit(a, f"t{i}", 10 + i) for i in range(6)])
    await folded(factview, a, 6)

    first = (await page(factview, a, first=3))["transactions"]
    assert ids(first) == ["t0", "t1", "t2"]
    assert first["pageInfo"]["hasNextPage"] is True

    # Late: it happened between t1 and t2, after the first page was read.
    await produce(boot, factview.accounts_topic, [deposit(a, "late", 11.5, amount="5.00")])
    await folded(factview, a, 7)

    rest = await page(factview, a, first=3, after=first["pageInfo"]["endCursor"])
    # Neither repeated nor skipped for rows on either side; the late row's shift shows after it.
    assert ids(rest["transactions"]) == ["t3", "t4", "t5"]
    assert [e["node"]["balanceAfter"] for e in rest["transactions"]["edges"]] == [
        "9.00",
        "10.00",
        "11.00",
    ]
    assert rest["transactionCount"] == 7 and rest["balance"] == "11.00"

    # From the newest end, and back.
    newest = (await page(factview, a, last=2))["transactions"]
    assert ids(newest) == ["t4", "t5"]
    assert newest["pageInfo"]["hasPreviousPage"] is True
    older = await page(factview, a, last=3, before=newest["pageInfo"]["startCursor"])
    assert ids(older["transactions"]) == ["late", "t2", "t3"]
    assert [e["node"]["balanceAfter"] for e in older["transactions"]["edges"]] == [
        "7.00",
        "8.00",
        "9.00",
    ]

    # A cursor is a position, not an index: it still works after a rebuild.
    await rebuild(factview.runtime.db, AccountProjection, PROJECTIONS)
    again = await page(factview, a, first=3, after=first["pageInfo"]["endCursor"])
    assert ids(again["transactions"]) == ["t3", "t4", "t5"]


async def test_bad_page_arguments_are_refused_with_codes(factview: Factview) -> None:
    a = f"pg-{uuid.uuid4().hex[:8]}"
    await produce(
        factview.settings.kafka_bootstrap_servers, factview.accounts_topic, [deposit(a, "t", 1)]
    )
    await folded(factview, a, 1)
    for args, code in [
        ({"first": 1, "last": 1}, "BAD_USER_INPUT"),
        ({"last": 101}, "BAD_USER_INPUT"),
        ({"after": "dHJhbnNhY3Rpb246Nw=="}, "BAD_CURSOR"),  # an old list-index cursor
        ({"before": "bm9wZQ=="}, "BAD_CURSOR"),
    ]:
        body = await factview.graphql(PAGE, id=a, **args)
        assert [e["extensions"]["code"] for e in body["errors"]] == [code], (args, body)


async def test_the_feed_resumes_from_its_last_cursor_missing_nothing_repeating_nothing(
    factview: Factview,
) -> None:
    a = f"feed-{uuid.uuid4().hex[:8]}"
    boot = factview.settings.kafka_bootstrap_servers
    await produce(boot, factview.accounts_topic, [deposit(a, f"t{i}", 20 + i) for i in range(3)])
    await folded(factview, a, 3)

    sub = subscribe(factview, FEED, id=a)
    try:
        history = [(await sub.next())["accountTransactions"] for _ in range(3)]
        assert [e["node"]["id"] for e in history] == ["t0", "t1", "t2"]
        # A late row: it comes, then every row whose balanceAfter it changed.
        await produce(boot, factview.accounts_topic, [deposit(a, "late", 20.5, amount="5.00")])
        changed = [(await sub.next())["accountTransactions"] for _ in range(3)]
        assert [(e["node"]["id"], e["node"]["balanceAfter"]) for e in changed] == [
            ("late", "6.00"),
            ("t1", "7.00"),
            ("t2", "8.00"),
        ]
        last_cursor = changed[-1]["cursor"]
    finally:
        await sub.close()

    # While nobody listens: one more row, and a correction that shifts the rows after t1.
    await produce(
        boot,
        factview.accounts_topic,
        [
            deposit(a, "t3", 23),
            account_event(
                "account.transaction-corrected", a, at(24), transactionId="t1", amount="2.00"
            ),
        ],
    )
    await folded(factview, a, 5)

    async def version() -> Any:
        return await factview.runtime.views.account(a)

    await eventually(version, lambda doc: doc["version"] == 6)
    resumed = subscribe(factview, FEED, id=a, after=last_cursor)
    try:
        got = [(await resumed.next())["accountTransactions"]["node"] for _ in range(3)]
        # t1 (corrected), t2 (shifted) and t3 (new) once each; nothing sent before.
        assert sorted((n["id"], n["balanceAfter"]) for n in got) == [
            ("t1", "8.00"),
            ("t2", "9.00"),
            ("t3", "10.00"),
        ]
        # The next thing the feed sends is the next change: nothing repeated in between.
        await produce(boot, factview.accounts_topic, [deposit(a, "t4", 25)])
        following = (await resumed.next())["accountTransactions"]["node"]
        assert (following["id"], following["balanceAfter"]) == ("t4", "11.00")
    finally:
        await resumed.close()
