"""The demo owners against a real Tansu broker: facts out of the outbox, refusals, idempotency,
and a relay that outlives a broker that is not up yet. Real servers, real clients, no mocks."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from aiokafka import AIOKafkaConsumer
from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.bindings.kafka import KafkaMessage, from_kafka
from cloudevents.core.formats.json import JSONFormat
from starlette.applications import Starlette

from app.auth import Role, verifier_from
from app.devstack.embedded import ServerProcess, free_port, start_tansu
from app.devstack.topics import ensure_topics
from app.http.serving import start_server
from tests.support.stack import OWNER_AUTH, TEST_JWT_SECRET, bearer
from upstream import accounts, customers

LOG_DIR = Path(__file__).resolve().parents[3] / "test-artifacts" / "server-logs"
RFC3339_MICROS_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
WAIT = 20.0  # seconds a fact may take to reach the topic before the test fails
# The owners verify with factview's own verifier and settings (app.auth), as in production.
VERIFIER = verifier_from(OWNER_AUTH)


@dataclass(frozen=True)
class Fact:
    key: str
    partition: int
    headers: dict[str, bytes]
    raw: dict[str, Any]  # the JSON value as sent, to check the wire format itself
    event: BaseCloudEvent


@dataclass
class TopicReader:
    """Reads a topic from the start with a real consumer, keeping every record decoded."""

    consumer: AIOKafkaConsumer
    facts: list[Fact] = field(default_factory=list)

    async def until(self, done: Callable[[list[Fact]], bool], timeout: float = WAIT) -> list[Fact]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not done(self.facts):
            if loop.time() > deadline:
                seen = [(f.key, f.event.get_type()) for f in self.facts]
                raise AssertionError(f"condition not met within {timeout}s; saw {seen}")
            batches = await self.consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    headers = dict(record.headers)
                    event = from_kafka(
                        KafkaMessage(headers=headers, key=record.key, value=record.value),
                        JSONFormat(),
                    )
                    self.facts.append(
                        Fact(
                            record.key.decode(),
                            record.partition,
                            headers,
                            json.loads(record.value),
                            event,
                        )
                    )
        return self.facts

    async def for_subject(self, subject: str, count: int) -> list[Fact]:
        await self.until(lambda facts: sum(f.key == subject for f in facts) >= count)
        return [f for f in self.facts if f.key == subject]


@asynccontextmanager
async def reading(bootstrap: str, topic: str) -> AsyncIterator[TopicReader]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        yield TopicReader(consumer)
    finally:
        await consumer.stop()


@asynccontextmanager
async def running(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """The owner on a free port, and a client that calls it as staff (as factview relays)."""
    port = free_port()
    server = await start_server(app, "127.0.0.1", port)
    try:
        async with httpx.AsyncClient(
            base_url=server.url, timeout=10, headers=bearer(OWNER_AUTH)
        ) as client:
            yield client
    finally:
        await server.stop()


@dataclass
class Owner:
    http: httpx.AsyncClient
    topic: str
    reader: TopicReader


@pytest.fixture
async def customers_owner(
    kafka_bootstrap: str, unique: str, tmp_path: Path
) -> AsyncIterator[Owner]:
    topic = f"customers.facts.{unique}"
    await ensure_topics(kafka_bootstrap, [topic])
    app = customers.create_app(
        str(tmp_path / "customers.db"), kafka_bootstrap, topic, verifier=VERIFIER
    )
    async with running(app) as http, reading(kafka_bootstrap, topic) as reader:
        yield Owner(http, topic, reader)


@pytest.fixture
async def accounts_owner(kafka_bootstrap: str, unique: str, tmp_path: Path) -> AsyncIterator[Owner]:
    topic = f"accounts.facts.{unique}"
    await ensure_topics(kafka_bootstrap, [topic])
    app = accounts.create_app(
        str(tmp_path / "accounts.db"), kafka_bootstrap, topic, verifier=VERIFIER
    )
    async with running(app) as http, reading(kafka_bootstrap, topic) as reader:
        yield Owner(http, topic, reader)


def assert_fact(fact: Fact, source: str, type_: str, data: dict[str, Any]) -> None:
    event = fact.event
    assert event.get_specversion() == "1.0"
    assert event.get_source() == source
    assert event.get_type() == type_
    assert event.get_subject() == fact.key  # record key = entity id = subject
    assert event.get_datacontenttype() == "application/json"
    assert event.get_data() == data
    assert str(uuid.UUID(event.get_id())) == event.get_id()
    assert RFC3339_MICROS_UTC.fullmatch(fact.raw["time"]), fact.raw["time"]
    assert fact.headers.get("content-type") == b"application/cloudevents+json"  # structured


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]


async def test_customer_facts_arrive_in_order_as_cloudevents(customers_owner: Owner) -> None:
    http = customers_owner.http
    created = await http.post("/customers", json={"name": "Ada", "email": "ada@example.com"})
    assert created.status_code == 201, created.text
    body = created.json()
    customer_id = body["customerId"]
    assert body["name"] == "Ada" and body["email"] == "ada@example.com"
    assert body["source"] == "customers" and len(body["factIds"]) == 1

    updated = await http.patch(f"/customers/{customer_id}", json={"name": "Ada L."})
    assert updated.status_code == 200, updated.text
    assert updated.json()["email"] == "ada@example.com"  # the whole entity, not the change
    assert (await http.get(f"/customers/{customer_id}")).json() == {
        "customerId": customer_id,
        "name": "Ada L.",
        "email": "ada@example.com",
    }

    deleted = await http.delete(f"/customers/{customer_id}")
    assert deleted.status_code == 200, deleted.text
    assert_error(await http.get(f"/customers/{customer_id}"), 404, "not_found")
    assert_error(await http.delete(f"/customers/{customer_id}"), 404, "not_found")
    assert_error(
        await http.patch(f"/customers/{customer_id}", json={"name": "X"}), 404, "not_found"
    )

    facts = await customers_owner.reader.for_subject(customer_id, 3)
    fact_ids = [*body["factIds"], *updated.json()["factIds"], *deleted.json()["factIds"]]
    assert [f.event.get_id() for f in facts] == fact_ids
    assert_fact(
        facts[0],
        "customers",
        "customer.registered",
        {"customerId": customer_id, "name": "Ada", "email": "ada@example.com"},
    )
    assert_fact(
        facts[1],
        "customers",
        "customer.updated",
        {"customerId": customer_id, "name": "Ada L.", "email": "ada@example.com"},
    )
    assert_fact(facts[2], "customers", "customer.deleted", {"customerId": customer_id})


async def test_account_facts_and_refusals(accounts_owner: Owner) -> None:
    http = accounts_owner.http
    opened = await http.post("/accounts", json={"customerId": "c-1", "currency": "EUR"})
    assert opened.status_code == 201, opened.text
    account_id = opened.json()["accountId"]
    assert opened.json()["status"] == "OPEN" and opened.json()["balance"] == "0.00"
    base = f"/accounts/{account_id}"

    deposit = await http.post(f"{base}/deposits", json={"amount": "10"})
    assert deposit.status_code == 201, deposit.text
    assert deposit.json()["amount"] == "10.00" and deposit.json()["balance"] == "10.00"
    deposit_tx = deposit.json()["transactionId"]

    withdrawal = await http.post(f"{base}/withdrawals", json={"amount": "3.5"})
    assert withdrawal.status_code == 201, withdrawal.text
    assert withdrawal.json()["amount"] == "3.50" and withdrawal.json()["balance"] == "6.50"

    assert_error(
        await http.post(f"{base}/withdrawals", json={"amount": "6.51"}), 409, "insufficient_funds"
    )
    # A correction that would leave the balance negative is refused, and rolled back.
    assert_error(
        await http.post(f"{base}/transactions/{deposit_tx}/correction", json={"amount": "3.49"}),
        409,
        "insufficient_funds",
    )
    corrected = await http.post(
        f"{base}/transactions/{deposit_tx}/correction", json={"amount": "12.00"}
    )
    assert corrected.status_code == 200, corrected.text
    assert corrected.json()["balance"] == "8.50"

    closed = await http.post(f"{base}/close")
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "CLOSED"
    assert_error(await http.post(f"{base}/deposits", json={"amount": "1"}), 409, "account_closed")
    assert_error(await http.post(f"{base}/close"), 409, "account_closed")
    assert_error(await http.post("/accounts/nope/deposits", json={"amount": "1"}), 404, "not_found")
    assert_error(await http.get("/accounts/nope"), 404, "not_found")

    state = (await http.get(base)).json()
    assert state["balance"] == "8.50" and state["status"] == "CLOSED"

    # The close fact was emitted last; per-key order means every earlier fact has arrived too,
    # so the refused writes provably emitted nothing.
    responses = [opened, deposit, withdrawal, corrected, closed]
    facts = await accounts_owner.reader.for_subject(account_id, len(responses))
    assert [f.event.get_id() for f in facts] == [i for r in responses for i in r.json()["factIds"]]
    assert all(r.json()["source"] == "accounts" for r in responses)
    assert_fact(
        facts[0],
        "accounts",
        "account.opened",
        {"accountId": account_id, "customerId": "c-1", "currency": "EUR"},
    )
    assert_fact(
        facts[1],
        "accounts",
        "account.deposited",
        {
            "accountId": account_id,
            "transactionId": deposit_tx,
            "amount": "10.00",
            "currency": "EUR",
        },
    )
    assert_fact(
        facts[2],
        "accounts",
        "account.withdrawn",
        {
            "accountId": account_id,
            "transactionId": withdrawal.json()["transactionId"],
            "amount": "3.50",
            "currency": "EUR",
        },
    )
    assert_fact(
        facts[3],
        "accounts",
        "account.transaction-corrected",
        {"accountId": account_id, "transactionId": deposit_tx, "amount": "12.00"},
    )
    assert_fact(facts[4], "accounts", "account.closed", {"accountId": account_id})
    assert len({f.partition for f in facts}) == 1


async def test_invalid_requests_are_refused_with_422(accounts_owner: Owner) -> None:
    http = accounts_owner.http
    for body in ({"customerId": "c"}, {"customerId": "c", "currency": "eur"}, {"currency": "EUR"}):
        assert_error(await http.post("/accounts", json=body), 422, "validation_error")
    assert_error(
        await http.post(
            "/accounts", content=b"{not json", headers={"content-type": "application/json"}
        ),
        422,
        "validation_error",
    )
    opened = await http.post("/accounts", json={"customerId": "c", "currency": "USD"})
    base = f"/accounts/{opened.json()['accountId']}"
    for amount in ("1.001", "-1", "0", "NaN", "Infinity", "ten", True, None, [1]):
        response = await http.post(f"{base}/deposits", json={"amount": amount})
        assert_error(response, 422, "validation_error")
    # A JSON number is read exactly (never as a float) and normalised to two places.
    exact = await http.post(f"{base}/deposits", content=b'{"amount": 0.1}')
    assert exact.status_code == 201, exact.text
    assert exact.json()["amount"] == "0.10"
    assert_error(await http.get("/no/such/route"), 404, "not_found")


async def test_idempotency_key_replays_and_refuses_reuse(accounts_owner: Owner) -> None:
    http = accounts_owner.http
    open_key = {"Idempotency-Key": f"open-{uuid.uuid4()}"}
    opened = await http.post(
        "/accounts", json={"customerId": "c", "currency": "EUR"}, headers=open_key
    )
    again = await http.post(
        "/accounts", json={"currency": "EUR", "customerId": "c"}, headers=open_key
    )
    assert (
        (again.status_code, again.json())
        == (opened.status_code, opened.json())
        == (201, opened.json())
    )
    account_id = opened.json()["accountId"]
    base = f"/accounts/{account_id}"

    key = {"Idempotency-Key": f"deposit-{uuid.uuid4()}"}
    first = await http.post(f"{base}/deposits", json={"amount": "5.00"}, headers=key)
    replay = await http.post(f"{base}/deposits", json={"amount": "5.00"}, headers=key)
    assert first.status_code == 201
    assert (replay.status_code, replay.json()) == (first.status_code, first.json())
    reused = await http.post(f"{base}/deposits", json={"amount": "6.00"}, headers=key)
    assert_error(reused, 422, "idempotency_key_reused")
    assert_error(
        await http.post(f"{base}/withdrawals", json={"amount": "5.00"}, headers=key),
        422,
        "idempotency_key_reused",
    )

    marker = await http.post(f"{base}/deposits", json={"amount": "1.00"})
    assert (await http.get(base)).json()["balance"] == "6.00"
    # The marker is the last fact for this account; once it is in, nothing else can be pending.
    marker_id = marker.json()["factIds"][0]
    await accounts_owner.reader.until(lambda facts: marker_id in {f.event.get_id() for f in facts})
    facts = [f for f in accounts_owner.reader.facts if f.key == account_id]
    expected = [*opened.json()["factIds"], *first.json()["factIds"], marker_id]
    assert [f.event.get_id() for f in facts] == expected


async def test_concurrent_withdrawals_never_overdraw(accounts_owner: Owner) -> None:
    http = accounts_owner.http
    opened = await http.post("/accounts", json={"customerId": "c", "currency": "EUR"})
    base = f"/accounts/{opened.json()['accountId']}"
    await http.post(f"{base}/deposits", json={"amount": "10.00"})
    responses = await asyncio.gather(
        *(http.post(f"{base}/withdrawals", json={"amount": "3.00"}) for _ in range(6))
    )
    assert sorted(r.status_code for r in responses) == [201, 201, 201, 409, 409, 409]
    assert (await http.get(base)).json()["balance"] == "1.00"


async def test_concurrent_retries_with_one_idempotency_key_write_once(
    accounts_owner: Owner,
) -> None:
    http = accounts_owner.http
    opened = await http.post("/accounts", json={"customerId": "c", "currency": "EUR"})
    account_id = opened.json()["accountId"]
    base = f"/accounts/{account_id}"
    # A client that timed out retries the same deposit several times at once.
    key = {"Idempotency-Key": f"retry-{uuid.uuid4()}"}
    responses = await asyncio.gather(
        *(http.post(f"{base}/deposits", json={"amount": "5.00"}, headers=key) for _ in range(6))
    )
    assert {r.status_code for r in responses} == {201}, [r.text for r in responses]
    assert len({r.text for r in responses}) == 1  # every retry replays the one write
    assert (await http.get(base)).json()["balance"] == "5.00"
    # Exactly one deposit fact was published for it.
    marker = await http.post(f"{base}/deposits", json={"amount": "1.00"})
    marker_id = marker.json()["factIds"][0]
    await accounts_owner.reader.until(lambda facts: marker_id in {f.event.get_id() for f in facts})
    deposits = [
        f
        for f in accounts_owner.reader.facts
        if f.key == account_id and f.event.get_type() == "account.deposited"
    ]
    assert [f.event.get_id() for f in deposits] == [*responses[0].json()["factIds"], marker_id]


async def test_relay_survives_a_broker_that_is_not_up_yet(unique: str, tmp_path: Path) -> None:
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"  # nothing listens here yet
    topic = f"accounts.facts.{unique}"
    app = accounts.create_app(str(tmp_path / "accounts.db"), bootstrap, topic, verifier=VERIFIER)
    broker: ServerProcess | None = None
    try:
        async with running(app) as http:
            opened = await http.post("/accounts", json={"customerId": "c", "currency": "EUR"})
            assert opened.status_code == 201, opened.text  # the write does not need the broker
            account_id = opened.json()["accountId"]

            LOG_DIR.mkdir(parents=True, exist_ok=True)
            broker = await asyncio.to_thread(start_tansu, port=port, log_dir=LOG_DIR)
            await ensure_topics(bootstrap, [topic])
            deposit = await http.post(f"/accounts/{account_id}/deposits", json={"amount": "2.00"})

            async with reading(bootstrap, topic) as reader:
                facts = await reader.for_subject(account_id, 2)
            assert [f.event.get_id() for f in facts] == [
                *opened.json()["factIds"],
                *deposit.json()["factIds"],
            ]
    finally:
        if broker is not None:
            await asyncio.to_thread(broker.stop)


# --- who may write: the owners verify the relayed token and authorize each write -------------


def as_caller(role: Role, subject: str) -> dict[str, str]:
    return bearer(OWNER_AUTH, role, subject)


def signed(**claims: Any) -> dict[str, str]:
    """A token with exactly these claims (plus the right aud and iss), signed with the secret."""
    payload = {"aud": OWNER_AUTH.auth_audience, "iss": OWNER_AUTH.auth_issuer, **claims}
    return {"Authorization": f"Bearer {jwt.encode(payload, TEST_JWT_SECRET, algorithm='HS256')}"}


async def test_owners_take_no_write_without_a_valid_token(
    accounts_owner: Owner, customers_owner: Owner
) -> None:
    http = accounts_owner.http
    opened = await http.post("/accounts", json={"customerId": "c-1", "currency": "EUR"})
    base = f"/accounts/{opened.json()['accountId']}"
    deposit = await http.post(f"{base}/deposits", json={"amount": "10.00"})
    transaction = deposit.json()["transactionId"]
    forged = jwt.encode(
        {"sub": "ops", "role": "staff", "aud": "factview", "iss": "factview", "exp": 2**40},
        "some-other-secret-of-at-least-32-chars",
        algorithm="HS256",
    )
    for headers in (
        {"Authorization": ""},  # none at all (the client's default header, blanked)
        {"Authorization": "Bearer garbage"},
        {"Authorization": f"Bearer {forged}"},
        signed(sub="ops", role="staff", exp=int(time.time()) - 120),  # expired
    ):
        for method, path, body in (
            ("POST", f"{base}/withdrawals", {"amount": "10.00"}),
            ("POST", f"{base}/transactions/{transaction}/correction", {"amount": "0.00"}),
            ("POST", f"{base}/close", None),
            ("GET", base, None),
            ("POST", "/accounts", {"customerId": "c-1", "currency": "EUR"}),
        ):
            response = await http.request(method, path, json=body, headers=headers)
            assert_error(response, 401, "unauthenticated")
            # Generic to the caller: which check failed is in the owner's log only.
            assert response.json()["error"]["message"] == "a valid bearer token is required"
        patched = await customers_owner.http.patch(
            "/customers/c-1", json={"name": "Mallory"}, headers=headers
        )
        assert_error(patched, 401, "unauthenticated")
    state = (await http.get(base)).json()
    assert (state["balance"], state["status"]) == ("10.00", "OPEN")
    assert [t["amount"] for t in state["transactions"]] == ["10.00"]


async def test_a_customer_writes_only_to_itself_and_its_accounts(
    accounts_owner: Owner, customers_owner: Owner
) -> None:
    staff = customers_owner.http
    ann = (await staff.post("/customers", json={"name": "Ann", "email": "a@example.com"})).json()
    bob = (await staff.post("/customers", json={"name": "Bob", "email": "b@example.com"})).json()
    as_ann = as_caller("customer", ann["customerId"])

    # Customers: itself only; registering is staff's.
    assert_error(
        await staff.patch(f"/customers/{bob['customerId']}", json={"name": "X"}, headers=as_ann),
        403,
        "forbidden",
    )
    assert_error(
        await staff.delete(f"/customers/{bob['customerId']}", headers=as_ann), 403, "forbidden"
    )
    assert_error(
        await staff.post("/customers", json={"name": "Eve", "email": "e@x.com"}, headers=as_ann),
        403,
        "forbidden",
    )
    own = await staff.patch(
        f"/customers/{ann['customerId']}", json={"name": "Ann B."}, headers=as_ann
    )
    assert own.status_code == 200, own.text
    assert (await staff.get(f"/customers/{bob['customerId']}")).json()["name"] == "Bob"

    # Accounts: its own only; corrections are staff's.
    http = accounts_owner.http
    bobs = (
        await http.post("/accounts", json={"customerId": bob["customerId"], "currency": "EUR"})
    ).json()["accountId"]
    await http.post(f"/accounts/{bobs}/deposits", json={"amount": "50.00"})
    assert_error(
        await http.post(
            "/accounts", json={"customerId": bob["customerId"], "currency": "EUR"}, headers=as_ann
        ),
        403,
        "forbidden",
    )
    opened = await http.post(
        "/accounts", json={"customerId": ann["customerId"], "currency": "EUR"}, headers=as_ann
    )
    assert opened.status_code == 201, opened.text
    anns = opened.json()["accountId"]
    deposit = await http.post(f"/accounts/{anns}/deposits", json={"amount": "5.00"}, headers=as_ann)
    assert deposit.status_code == 201, deposit.text
    for method, path, body in (
        ("POST", f"/accounts/{bobs}/withdrawals", {"amount": "50.00"}),
        ("POST", f"/accounts/{bobs}/deposits", {"amount": "1.00"}),
        ("POST", f"/accounts/{bobs}/close", None),
        ("GET", f"/accounts/{bobs}", None),
        ("POST", "/accounts/no-such-account/deposits", {"amount": "1.00"}),  # no probing either
        (
            "POST",
            f"/accounts/{anns}/transactions/{deposit.json()['transactionId']}/correction",
            {"amount": "500.00"},
        ),
    ):
        response = await http.request(method, path, json=body, headers=as_ann)
        assert_error(response, 403, "forbidden")
    assert (await http.get(f"/accounts/{bobs}")).json()["balance"] == "50.00"
    assert (await http.get(f"/accounts/{anns}")).json()["balance"] == "5.00"
    # Staff may do all of it.
    assert_error(
        await http.post("/accounts/no-such-account/deposits", json={"amount": "1.00"}),
        404,
        "not_found",
    )
    corrected = await http.post(
        f"/accounts/{anns}/transactions/{deposit.json()['transactionId']}/correction",
        json={"amount": "6.00"},
    )
    assert corrected.status_code == 200, corrected.text


async def test_idempotency_keys_are_scoped_to_their_caller(accounts_owner: Owner) -> None:
    http = accounts_owner.http
    as_ann, as_bob = as_caller("customer", "ann"), as_caller("customer", "bob")
    anns = (await http.post("/accounts", json={"customerId": "ann", "currency": "EUR"})).json()
    bobs = (await http.post("/accounts", json={"customerId": "bob", "currency": "EUR"})).json()
    key = {"Idempotency-Key": f"k-{uuid.uuid4()}"}

    first = await http.post(
        f"/accounts/{anns['accountId']}/deposits",
        json={"amount": "5.00"},
        headers={**as_ann, **key},
    )
    assert first.status_code == 201, first.text
    # Another caller using the same key makes its own write: it neither collides with Ann's
    # key (squatting, or learning that Ann used it) nor gets Ann's answer back.
    other = await http.post(
        f"/accounts/{bobs['accountId']}/deposits",
        json={"amount": "5.00"},
        headers={**as_bob, **key},
    )
    assert other.status_code == 201, other.text
    assert other.json()["transactionId"] != first.json()["transactionId"]
    # Ann's own retry still replays her first answer.
    retry = await http.post(
        f"/accounts/{anns['accountId']}/deposits",
        json={"amount": "5.00"},
        headers={**as_ann, **key},
    )
    assert retry.json() == first.json()
    assert (await http.get(f"/accounts/{anns['accountId']}")).json()["balance"] == "5.00"
    assert (await http.get(f"/accounts/{bobs['accountId']}")).json()["balance"] == "5.00"


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": str(int(time.time()) + 600)},  # a numeric string
        {"exp": int(time.time()) + 10**10},  # lives ~300 years
        {"iat": int(time.time()), "exp": int(time.time()) + 25 * 3600},  # over 24 h
        {"exp": int(time.time()) + 600, "nbf": "0"},
    ],
    ids=["string-exp", "no-iat-far-exp", "iat-25h", "string-nbf"],
)
async def test_owners_refuse_tokens_with_odd_dates_or_long_lives(
    accounts_owner: Owner, claims: dict[str, Any]
) -> None:
    http = accounts_owner.http
    opened = await http.post("/accounts", json={"customerId": "c", "currency": "EUR"})
    response = await http.post(
        f"/accounts/{opened.json()['accountId']}/deposits",
        json={"amount": "1.00"},
        headers=signed(sub="ops", role="staff", **claims),
    )
    assert_error(response, 401, "unauthenticated")


async def test_owners_refuse_amounts_out_of_bounds_without_expanding_them(
    accounts_owner: Owner,
) -> None:
    http = accounts_owner.http
    opened = await http.post("/accounts", json={"customerId": "c", "currency": "EUR"})
    base = f"/accounts/{opened.json()['accountId']}"
    for raw in (
        b'{"amount": "1E+5000000"}',
        b'{"amount": 1E+5000000}',
        b'{"amount": "1E-5000000"}',
        b'{"amount": "1000000000000000"}',
        b'{"amount": "0.' + b"0" * 5000 + b'1"}',
    ):
        response = await http.post(f"{base}/deposits", content=raw)
        assert_error(response, 422, "validation_error")
        assert len(response.content) < 500
    assert (await http.get(base)).json()["balance"] == "0.00"
