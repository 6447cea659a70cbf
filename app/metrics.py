"""Prometheus metrics of one factview process, in its own registry (tests run several)."""

from __future__ import annotations

import time
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from consumers.facts import FactEvent
from consumers.projection import Projection

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _ProjectionLag(Collector):
    """now - newest folded event time, per view, computed at scrape time."""

    def __init__(self, newest: dict[str, float]) -> None:
        self._newest = newest

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "factview_projection_lag_seconds",
            "Seconds between now and the newest event time folded into each view.",
            labels=["view"],
        )
        now = time.time()
        for view, newest in sorted(self._newest.items()):
            family.add_metric([view], max(0.0, now - newest))
        yield family


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._ingest(self.registry)
        self._serving(self.registry)
        self._outbox(self.registry)
        self.newest_folded: dict[str, float] = {}
        self.registry.register(_ProjectionLag(self.newest_folded))

    def _ingest(self, r: CollectorRegistry) -> None:
        """The consumers: records in, the log, folds, dead letters, quarantine."""
        self.consumed = Counter(
            "factview_events_consumed", "Records consumed.", ["topic", "type"], registry=r
        )
        self.logged = Counter(
            "factview_events_logged",
            "New events appended to the log.",
            ["topic", "type"],
            registry=r,
        )
        self.folded = Counter(
            "factview_events_folded", "Events folded into a view.", ["view", "type"], registry=r
        )
        self.dead_lettered = Counter(
            "factview_events_dead_lettered", "Records sent to dead_letters.", ["topic"], registry=r
        )
        self.batch_size = Histogram(
            "factview_batch_size",
            "Records per consumed batch.",
            buckets=(1, 5, 10, 50, 100, 250, 500, 1000, 5000),
            registry=r,
        )
        self.fold_seconds = Histogram(
            "factview_fold_seconds",
            "Seconds to log and fold one batch (one transaction).",
            registry=r,
        )
        self.consumer_lag = Gauge(
            "factview_consumer_lag",
            "Records behind the partition's high-water mark.",
            ["topic", "partition"],
            registry=r,
        )
        self.quarantines = Counter(
            "factview_documents_quarantined",
            "Documents whose fold raised and were marked stale instead of folded.",
            ["view"],
            registry=r,
        )
        self.quarantined = Gauge(
            "factview_quarantined_documents",
            "Documents stale in quarantine now (read at scrape time).",
            ["view"],
            registry=r,
        )

    def _serving(self, r: CollectorRegistry) -> None:
        """The API: operations, subscriptions, staff actions."""
        self.operation_seconds = Histogram(
            "factview_graphql_operation_seconds",
            "GraphQL operation latency.",
            ["operation"],
            registry=r,
        )
        self.live_subscriptions = Gauge(
            "factview_live_subscriptions", "Open GraphQL subscriptions.", registry=r
        )
        self.staff_operations = Counter(
            "factview_staff_operations",
            "Operator actions on dead letters and documents (redrive, discard, refold).",
            ["operation", "outcome"],
            registry=r,
        )

    def _outbox(self, r: CollectorRegistry) -> None:
        """What this process publishes (PUBLISH_TOPIC): the outbox and its relay."""
        self.outbox_pending = Gauge(
            "factview_outbox_pending", "Outbox rows not yet published.", registry=r
        )
        self.outbox_oldest_seconds = Gauge(
            "factview_outbox_oldest_seconds",
            "Age of the oldest outbox row not yet published.",
            registry=r,
        )
        self.published = Gauge(
            "factview_published_events",
            "Events this process's relay has published since start.",
            registry=r,
        )
        self.publisher_leader = Gauge(
            "factview_publisher_leader",
            "1 while this process holds the publishing lease.",
            registry=r,
        )

    def record_batch(
        self,
        projections: Iterable[type[Projection]],
        consumed: list[FactEvent],
        logged: list[FactEvent],
        dead_topics: list[str],
        seconds: float,
    ) -> None:
        """Count one committed batch: what came in, what was new, what each view folded."""
        self.batch_size.observe(len(consumed) + len(dead_topics))
        self.fold_seconds.observe(seconds)
        for event in consumed:
            self.consumed.labels(_topic(event), event.type).inc()
        for topic in dead_topics:
            self.consumed.labels(topic, "").inc()
            self.dead_lettered.labels(topic).inc()
        for event in logged:
            self.logged.labels(_topic(event), event.type).inc()
            for projection in projections:
                if event.type in projection.handlers:
                    self.folded.labels(projection.name, event.type).inc()
                    moment = event.time.timestamp()
                    if moment > self.newest_folded.get(projection.name, 0.0):
                        self.newest_folded[projection.name] = moment

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def _topic(event: FactEvent) -> str:
    return event.position.topic if event.position else ""
