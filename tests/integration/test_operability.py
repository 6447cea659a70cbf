"""Health, readiness, metrics, freshness hints and request ids, on real servers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest

from app.devstack.embedded import ServerProcess, mongodb_uri, start_secantus
from app.devstack.topics import ensure_topics
from tests.support.facts import account_event, at, produce
from tests.support.stack import Factview, eventually, factview_settings, running_factview, subscribe

SERIES = [
    "factview_events_consumed_total",
    "factview_events_logged_total",
    "factview_events_folded_total",
    "factview_events_dead_lettered_total",
    "factview_batch_size_bucket",
    "factview_fold_seconds_bucket",
    "factview_consumer_lag",
    "factview_projection_lag_seconds",
    "factview_graphql_operation_seconds_bucket",
    "factview_live_subscriptions",
]


@dataclass
class OwnMongo:
    """A database this module stops on purpose (so not the session's), and starts again."""

    server: ServerProcess

    def restart(self) -> None:
        self.server = start_secantus(port=self.server.port)


@pytest.fixture(scope="module")
def own_mongo() -> Iterator[OwnMongo]:
    mongo = OwnMongo(start_secantus())
    yield mongo
    mongo.server.stop()


@pytest.fixture(scope="module")
async def fv(kafka_bootstrap: str, own_mongo: OwnMongo) -> AsyncIterator[Factview]:
    settings = factview_settings(
        kafka_bootstrap, mongodb_uri(own_mongo.server.port), uuid.uuid4().hex[:10]
    )
    await ensure_topics(kafka_bootstrap, settings.kafka_topics)
    async with running_factview(settings) as instance:
        yield instance


async def test_metrics_expose_every_series_after_a_short_ingest(fv: Factview) -> None:
    a = f"acc-{uuid.uuid4().hex[:6]}"
    await produce(
        fv.settings.kafka_bootstrap_servers,
        fv.accounts_topic,
        [
            account_event("account.opened", a, at(1), customerId="c", currency="EUR"),
            account_event(
                "account.deposited", a, at(2), transactionId="t", amount="1.00", currency="EUR"
            ),
        ],
    )
    # A poison record too, so the dead-letter series has a sample.
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=fv.settings.kafka_bootstrap_servers)
    await producer.start()
    await producer.send_and_wait(fv.accounts_topic, b"not json", key=a.encode())
    await producer.stop()
    live = subscribe(fv, "subscription($id: ID!) { accountUpdated(id: $id) { id } }", id=a)
    await live.next()
    await fv.graphql("query Customers { customers { nodes { id } } }")  # a listed operation

    async def scrape() -> str:
        return (await fv.http.get("/metrics")).text

    text = await eventually(scrape, lambda t: 'factview_events_dead_lettered_total{topic="' in t)
    for series in SERIES:
        # A sample line, not just the HELP/TYPE header.
        assert any(line.startswith(series) for line in text.splitlines()), series
    assert 'factview_events_folded_total{type="account.deposited",view="account"} 1.0' in text
    assert 'factview_graphql_operation_seconds_count{operation="Customers"}' in text
    assert "factview_live_subscriptions 1.0" in text
    assert 'factview_consumer_lag{partition="' in text
    assert 'factview_projection_lag_seconds{view="account"}' in text
    await live.close()


async def test_responses_carry_freshness_and_a_request_id(fv: Factview) -> None:
    a = f"acc-{uuid.uuid4().hex[:6]}"
    await produce(
        fv.settings.kafka_bootstrap_servers,
        fv.accounts_topic,
        [
            account_event("account.opened", a, at(50), customerId="c", currency="EUR"),
        ],
    )

    async def freshness() -> dict[str, str]:
        body = await fv.graphql("{ __typename }")
        result: dict[str, str] = body["extensions"]["freshness"]
        return result

    fresh = await eventually(freshness, lambda f: f.get("account", "") >= "2026-01-01T00:00:50")
    assert fresh["account"].startswith("2026-01-01T00:00:50")
    response = await fv.http.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"X-Request-ID": "req-42"}
    )
    assert response.headers["x-request-id"] == "req-42"
    assert len((await fv.http.get("/healthz")).headers["x-request-id"]) == 32


async def test_readyz_goes_unready_when_mongo_stops_and_ready_when_it_is_back(
    fv: Factview, own_mongo: OwnMongo
) -> None:
    ready = await fv.http.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json() == {
        "ready": True,
        "checks": {"mongodb": True, "kafka": True, "rebuilding": []},
    }
    own_mongo.server.stop()
    async with httpx.AsyncClient(base_url=fv.server.url, timeout=10) as probe:
        unready = await eventually(lambda: probe.get("/readyz"), lambda r: r.status_code == 503)
        assert unready.json()["checks"]["mongodb"] is False
        assert (await probe.get("/healthz")).status_code == 200
        # The same address answers again (an empty database, as after a failover to a new
        # node): readiness follows without a restart of factview.
        own_mongo.restart()
        ready = await eventually(lambda: probe.get("/readyz"), lambda r: r.status_code == 200)
        assert ready.json()["checks"]["mongodb"] is True
