"""A librdkafka-based client (confluent-kafka, whose wheel bundles librdkafka) produces Fact
Events to the dev broker (Tansu) in both CloudEvents content modes, and factview folds them.

librdkafka before 2.2 cannot read Tansu 0.6's ApiVersions answer (README, "Kafka clients"):
this pins a client that can, and fails if the broker or the client stop getting along."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import confluent_kafka

from tests.integration.conftest import Factview, eventually

ACCOUNT = "query($id: ID!) { account(id: $id) { currency balance version } }"


def structured(event: dict[str, Any]) -> tuple[bytes, list[tuple[str, bytes]]]:
    """The whole event as the value (CloudEvents Kafka binding, structured mode)."""
    value = json.dumps({"specversion": "1.0", "datacontenttype": "application/json", **event})
    return value.encode(), [("content-type", b"application/cloudevents+json")]


def binary(event: dict[str, Any]) -> tuple[bytes, list[tuple[str, bytes]]]:
    """Attributes as ce_ headers, the data alone as the value (binary mode)."""
    headers = [("ce_specversion", b"1.0"), ("content-type", b"application/json")]
    headers += [(f"ce_{k}", str(v).encode()) for k, v in event.items() if k != "data"]
    return json.dumps(event["data"]).encode(), headers


def produce(bootstrap: str, topic: str, records: list[tuple[str, bytes, list[Any]]]) -> None:
    producer = confluent_kafka.Producer(
        {"bootstrap.servers": bootstrap, "message.timeout.ms": 20_000, "enable.idempotence": False}
    )
    failures: list[confluent_kafka.KafkaError] = []

    def delivered(error: confluent_kafka.KafkaError | None, _: Any) -> None:
        if error is not None:
            failures.append(error)

    for key, value, headers in records:
        producer.produce(topic, value, key=key.encode(), headers=headers, on_delivery=delivered)
    assert producer.flush(30) == 0, "records still queued: the broker did not take them"
    assert failures == []


def account_event(type_: str, account_id: str, second: int, **data: Any) -> dict[str, Any]:
    return {
        "id": uuid.uuid4().hex,
        "source": "accounts",
        "type": type_,
        "subject": account_id,
        "time": f"2026-01-01T00:00:{second:02d}Z",
        "data": {"accountId": account_id, **data},
    }


async def test_confluent_kafka_produces_both_content_modes_and_factview_folds_them(
    factview: Factview,
) -> None:
    assert confluent_kafka.libversion()[1] >= 0x020200FF, "librdkafka 2.2 or later reads Tansu"
    a = f"acc-{uuid.uuid4().hex[:6]}"
    eur = {"currency": "EUR"}
    events = [
        (structured, account_event("account.opened", a, 1, customerId="c", **eur)),
        (binary, account_event("account.deposited", a, 2, transactionId="t1", amount="10", **eur)),
        (
            structured,
            account_event("account.withdrawn", a, 3, transactionId="t2", amount="3", **eur),
        ),
        (binary, account_event("account.deposited", a, 4, transactionId="t3", amount="0.5", **eur)),
    ]
    records = [(a, *encode(event)) for encode, event in events]
    await asyncio.to_thread(
        produce, factview.settings.kafka_bootstrap_servers, factview.accounts_topic, records
    )

    async def account() -> dict[str, Any] | None:
        body = await factview.graphql(ACCOUNT, id=a)
        assert "errors" not in body, body
        result: dict[str, Any] | None = body["data"]["account"]
        return result

    folded = await eventually(account, lambda v: v is not None and v["version"] == 4)
    assert folded == {"currency": "EUR", "balance": "7.50", "version": 4}
    assert await factview.runtime.db.dead_letters.count_documents({}) == 0
