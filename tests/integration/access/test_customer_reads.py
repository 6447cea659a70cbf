"""Authorization of reads: a customer reads its own data only (by id, in history, through
connections, in freshness), and cannot tell another's id from a missing one."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from app.writes.consistency import Facts
from tests.integration.access.harness import ACCOUNT, as_role
from tests.support.facts import account_event, at, produce
from tests.support.stack import Factview, eventually


async def test_a_customer_reading_anothers_account_by_id_gets_null_and_forbidden(
    fv: Factview, two_customers: dict[str, str]
) -> None:
    body = await as_role(fv, "customer", two_customers["ann"], ACCOUNT, id=two_customers["bob_acc"])
    assert body["data"] == {"account": None}
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert "900" not in str(body)
    own = await as_role(fv, "customer", two_customers["ann"], ACCOUNT, id=two_customers["ann_acc"])
    assert own["data"]["account"]["balance"] == "5.00"


EVENTS = "query($s: ID!) { events(subject: $s) { nodes { type data } } }"


ACCOUNT_AS_OF = "query($id: ID!, $t: DateTime) { account(id: $id, asOf: $t) { id balance } }"


CUSTOMER_AS_OF = (
    "query($id: ID!, $t: DateTime) { customer(id: $id, asOf: $t) { name accounts { balance } } }"
)


@pytest.mark.parametrize(
    ("query", "subject", "field"),
    [
        (EVENTS, "bob_acc", "events"),
        (EVENTS, "bob", "events"),
        (ACCOUNT_AS_OF, "bob_acc", "account"),
        (CUSTOMER_AS_OF, "bob", "customer"),
    ],
    ids=["events of its account", "events of the customer", "account asOf", "customer asOf"],
)
async def test_a_customer_reading_anothers_history_gets_forbidden(
    fv: Factview, two_customers: dict[str, str], query: str, subject: str, field: str
) -> None:
    ann, target = two_customers["ann"], two_customers[subject]
    t = at(10).isoformat()
    body = await as_role(fv, "customer", ann, query, s=target, id=target, t=t)
    assert body["data"] is None or body["data"] == {field: None}, body
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"], body
    assert "900" not in str(body) and "Bob" not in str(body)
    # The same question about its own data is answered (the refusal is about whose data it is).
    mine = two_customers["ann_acc" if subject.endswith("_acc") else "ann"]
    own = await as_role(fv, "customer", ann, query, s=mine, id=mine, t=t)
    assert "errors" not in own and own["data"][field], own


async def test_a_customer_sees_only_itself_through_connections_and_edges(
    fv: Factview, two_customers: dict[str, str]
) -> None:
    ann, bob = two_customers["ann"], two_customers["bob"]
    listing = await as_role(
        fv, "customer", ann, "{ customers(first: 100) { nodes { id accounts { id balance } } } }"
    )
    assert listing["data"]["customers"]["nodes"] == [
        {"id": ann, "accounts": [{"id": two_customers["ann_acc"], "balance": "5.00"}]}
    ]
    other = await as_role(
        fv,
        "customer",
        ann,
        "query($id: ID!) { customer(id: $id) { id name accounts { id } } }",
        id=bob,
    )
    assert other["data"] == {"customer": None}
    assert other["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert "Bob" not in str(other)
    staff = await as_role(fv, "staff", "ops", "{ customers(first: 100) { nodes { id } } }")
    seen = {n["id"] for n in staff["data"]["customers"]["nodes"]}
    assert {ann, bob} <= seen


def without(body: dict[str, Any], *ids: str) -> str:
    text = json.dumps(body, sort_keys=True)
    for one in ids:
        text = text.replace(one, "ID")
    return text


async def test_a_customer_cannot_tell_anothers_id_from_a_missing_one(
    fv: Factview, two_customers: dict[str, str]
) -> None:
    ann, foreign, missing = two_customers["ann"], two_customers["bob_acc"], "acc-nobody"
    for query in (
        ACCOUNT,
        'query($id: ID!) { account(id: $id, asOf: "2026-01-01T00:00:09Z") { id } }',
        "query($id: ID!) { events(subject: $id) { nodes { id } } }",
    ):
        of_foreign = await as_role(fv, "customer", ann, query, id=foreign)
        of_missing = await as_role(fv, "customer", ann, query, id=missing)
        assert of_foreign["errors"][0]["extensions"]["code"] == "FORBIDDEN", of_foreign
        assert without(of_foreign, foreign) == without(of_missing, missing)
    # Staff still tell them apart: a missing account is simply null.
    staff = await as_role(fv, "staff", "ops", ACCOUNT, id=missing)
    assert staff == {"data": {"account": None}} or "errors" not in staff


async def test_a_consistency_token_on_a_foreign_account_is_refused_before_any_wait(
    fv: Factview, two_customers: dict[str, str]
) -> None:
    never = Facts("accounts", (uuid.uuid4().hex,)).token()  # would wait fold_wait_seconds (5 s)
    started = time.monotonic()
    body = await as_role(
        fv,
        "customer",
        two_customers["ann"],
        "query($id: ID!, $t: String) { account(id: $id, consistencyToken: $t) { id } }",
        id=two_customers["bob_acc"],
        t=never,
    )
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert time.monotonic() - started < 2.0


async def test_freshness_tells_a_customer_only_about_what_it_may_read(
    fv: Factview, two_customers: dict[str, str]
) -> None:
    # Bob acts later than anything of Ann's: staff see it, Ann must not.
    await produce(
        fv.settings.kafka_bootstrap_servers,
        fv.accounts_topic,
        [
            account_event(
                "account.deposited",
                two_customers["bob_acc"],
                at(500),
                transactionId=f"t-{uuid.uuid4().hex[:6]}",
                amount="1.00",
                currency="EUR",
            )
        ],
    )
    staff = await eventually(
        lambda: as_role(fv, "staff", "ops", "{ __typename }"),
        lambda b: b["extensions"]["freshness"].get("account", "") >= at(500).isoformat(),
    )
    assert staff["extensions"]["freshness"]["account"] >= at(500).isoformat()
    ann = await as_role(fv, "customer", two_customers["ann"], "{ __typename }")
    # Her customer view embeds her account, so it is as fresh as that account: still no later.
    assert ann["extensions"]["freshness"] == {
        "account": at(2).isoformat(),
        "customer": at(2).isoformat(),
    }
