"""Staff operate dead letters and documents from GraphQL: listed, redriven, discarded, refolded,
each audited in metrics; everyone else is refused."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import structlog
from bson.binary import Binary

from tests.support.dead_letters import (
    STRUCTURED,
    cli,
    deposit,
    produce_records,
    structured,
)
from tests.support.stack import Factview, bearer, eventually

LETTERS = """
query($status: DeadLetterStatus, $first: Int, $after: String) {
  deadLetters(status: $status, first: $first, after: $after) {
    nodes { id status reason attempts topic offset value discardedBy discardReason }
    pageInfo { hasNextPage endCursor }
  }
}
"""
REDRIVE = """
mutation($ids: [ID!]!) { redriveDeadLetters(ids: $ids) { redriven stillFailing { id reason } } }
"""
DISCARD = """
mutation($id: ID!, $reason: String!) {
  discardDeadLetter(id: $id, reason: $reason) { id status discardedBy discardReason }
}
"""
REFOLD = """
mutation($view: String!, $ids: [ID!]!) { refold(view: $view, ids: $ids) { view id exists version } }
"""


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


async def mine(fv: Factview, a: str, status: str = "ALL") -> list[dict[str, Any]]:
    body = await fv.graphql(LETTERS, status=status, first=100)
    assert "errors" not in body, body
    return [n for n in body["data"]["deadLetters"]["nodes"] if f'"{a}"' in (n["value"] or "")]


async def assert_pages_oldest_first(fv: Factview) -> None:
    """Pages, oldest first, with a cursor."""
    body = await fv.graphql(LETTERS, status="ALL", first=1)
    page = body["data"]["deadLetters"]
    assert len(page["nodes"]) == 1 and page["pageInfo"]["hasNextPage"]
    body = await fv.graphql(LETTERS, status="ALL", first=1, after=page["pageInfo"]["endCursor"])
    assert body["data"]["deadLetters"]["nodes"][0]["id"] != page["nodes"][0]["id"]
    assert codes(await fv.graphql(LETTERS, after="bm9wZQ==")) == ["BAD_CURSOR"]


async def assert_discard_is_kept_and_audited(fv: Factview, junk: dict[str, Any]) -> None:
    """Discard: kept, marked, with who and why; only once; the reason is required."""
    assert codes(await fv.graphql(DISCARD, id=junk["id"], reason="  ")) == ["BAD_USER_INPUT"]
    with structlog.testing.capture_logs() as logs:
        body = await fv.graphql(DISCARD, id=junk["id"], reason="test junk from a load test")
    [audit] = [e for e in logs if e["event"] == "staff operation"]
    assert (audit["operation"], audit["actor"], audit["outcome"], audit["id"]) == (
        "discard",
        "staff:ops",
        "ok",
        junk["id"],
    )
    assert body["data"]["discardDeadLetter"] == {
        "id": junk["id"],
        "status": "DISCARDED",
        "discardedBy": "staff:ops",
        "discardReason": "test junk from a load test",
    }
    again = await fv.graphql(DISCARD, id=junk["id"], reason="twice")
    assert codes(again) == ["BAD_USER_INPUT"] and "is discarded, not pending" in str(again)
    assert codes(await fv.graphql(DISCARD, id="nope", reason="x")) == ["NOT_FOUND"]


async def assert_redrive_folds_once_repaired(
    fv: Factview, fix: dict[str, Any], junk: dict[str, Any], a: str
) -> None:
    """Redrive: still failing, then repaired and folded once; a discarded letter is never
    redriven."""
    body = await fv.graphql(REDRIVE, ids=[fix["id"], junk["id"]])
    assert body["data"]["redriveDeadLetters"]["redriven"] == []
    assert [f["id"] for f in body["data"]["redriveDeadLetters"]["stillFailing"]] == [fix["id"]]
    stored = await fv.runtime.db.dead_letters.find_one({"_id": fix["id"]})
    assert stored is not None
    repaired = bytes(stored["value"]).replace(b'"amount": 2.5', b'"amount": "2.50"')
    await fv.runtime.db.dead_letters.update_one(
        {"_id": fix["id"]}, {"$set": {"value": Binary(repaired)}}
    )
    body = await fv.graphql(REDRIVE, ids=[fix["id"]])
    assert body["data"]["redriveDeadLetters"] == {"redriven": [fix["id"]], "stillFailing": []}
    view = await fv.runtime.db.accounts.find_one({"_id": a})
    assert view is not None and str(view["balance"]) == "3.50" and view["version"] == 2


async def test_staff_list_redrive_discard_and_refold(factview: Factview, tmp_path: Path) -> None:
    a = f"acc-{uuid.uuid4().hex[:8]}"
    bad = {"accountId": a, "transactionId": "fix", "amount": 2.5, "currency": "EUR"}
    records = [
        deposit(a, 1, "t1", "1.00"),
        (structured(a, data=bad), STRUCTURED),
        (structured(a, data={**bad, "transactionId": "junk"}), STRUCTURED),
        (structured(a, data={**bad, "transactionId": "cli"}), STRUCTURED),
    ]
    await produce_records(
        factview.settings.kafka_bootstrap_servers, factview.accounts_topic, a, records
    )
    letters = await eventually(lambda: mine(factview, a, "PENDING"), lambda ls: len(ls) == 3)
    fix, junk, by_cli = letters
    assert fix["status"] == "PENDING" and "amount must be a decimal string" in fix["reason"]

    await assert_pages_oldest_first(factview)
    await assert_discard_is_kept_and_audited(factview, junk)
    await assert_redrive_folds_once_repaired(factview, fix, junk, a)

    # The command line shares the code (and the audit): `factview dead-letters discard`.
    done = await cli(
        factview, "discard", by_cli["id"], "--reason", "duplicate of fix", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "discarded by cli:" in done.stdout
    refused = await cli(factview, "discard", by_cli["id"], "--reason", "again", cwd=tmp_path)
    assert refused.returncode == 1 and "is discarded, not pending" in refused.stderr
    statuses = {n["id"]: (n["status"], n["discardedBy"]) for n in await mine(factview, a)}
    assert statuses[fix["id"]] == ("REDRIVEN", None)
    assert statuses[junk["id"]] == ("DISCARDED", "staff:ops")
    assert statuses[by_cli["id"]][0] == "DISCARDED"
    assert statuses[by_cli["id"]][1].startswith("cli:")

    # Refold: the document folded again from the log, the same.
    body = await factview.graphql(REFOLD, view="account", ids=[a, "acc-unknown"])
    assert body["data"]["refold"] == [
        {"view": "account", "id": a, "exists": True, "version": 2},
        {"view": "account", "id": "acc-unknown", "exists": False, "version": None},
    ]
    assert codes(await factview.graphql(REFOLD, view="ledger", ids=[a])) == ["BAD_USER_INPUT"]
    assert codes(await factview.graphql(REFOLD, view="account", ids=[])) == ["BAD_USER_INPUT"]

    metrics = (await factview.http.get("/metrics")).text
    for line in (
        'factview_staff_operations_total{operation="discard",outcome="ok"} 1.0',
        'factview_staff_operations_total{operation="discard",outcome="refused"} 2.0',
        'factview_staff_operations_total{operation="redrive",outcome="partly"} 1.0',
        'factview_staff_operations_total{operation="redrive",outcome="ok"} 1.0',
        'factview_staff_operations_total{operation="refold",outcome="ok"} 1.0',
    ):
        assert line in metrics, line


async def test_only_staff_operate(factview: Factview) -> None:
    customer = bearer(factview.settings, role="customer", subject="cus-1")
    for query, variables in (
        (LETTERS, {}),
        (REDRIVE, {"ids": ["x"]}),
        (DISCARD, {"id": "x", "reason": "r"}),
        (REFOLD, {"view": "account", "ids": ["x"]}),
    ):
        response = await factview.http.post(
            "/graphql", json={"query": query, "variables": variables}, headers=customer
        )
        assert codes(response.json()) == ["FORBIDDEN"], query
