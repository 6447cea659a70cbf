"""Freshness: time from producing a fact to a subscriber's `accountUpdated`, p50 and p99.

`factview serve` (API and consumers in one process, as deployed) runs in a subprocess. The
bench opens `--accounts` accounts, subscribes to each over graphql-transport-ws (gql client,
WebsocketsTransport, one connection each), then produces deposits round-robin at `--rate`
events/s for `--seconds`. An event's latency ends at the first update whose `version` covers it
(a batch may fold several deposits of one account into one update).

Baseline, measured at the same moment on the same records: a bare aiokafka consumer in its own
group on the same topic (the broker's floor: produce → fetch). The ratio is factview's p99 over
the floor's p99 (lower is better); the goal is a ratio of at most 1.5: on a shared machine the
floor moves with the load, and both are measured on the same records at the same moment.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from gql import Client, GraphQLRequest
from gql.transport.websockets import WebsocketsTransport

from app.devstack.embedded import free_port
from bench.facts import STRUCTURED, account_id, cloud_event, deposit
from bench.report import Result, parser, percentile, report
from bench.stack import Child, Stack, servers, spawn, staff_authorization, wait_http

GOAL = 1.5
SUBSCRIPTION = "subscription($id: ID!) { accountUpdated(id: $id) { id version } }"


@dataclass
class Tracker:
    """Send times per (account, version), resolved by the first update covering them."""

    sent: dict[str, dict[int, float]] = field(default_factory=lambda: defaultdict(dict))
    seen: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)

    def produced(self, account: str, version: int, at: float) -> None:
        self.sent[account][version] = at

    def updated(self, account: str, version: int, at: float) -> None:
        pending = self.sent[account]
        for v in [v for v in pending if v <= version]:
            self.latencies.append(at - pending.pop(v))
        self.seen[account] = max(version, self.seen.get(account, 0))

    @property
    def outstanding(self) -> int:
        return sum(len(p) for p in self.sent.values())


def serve(stack: Stack) -> Child:
    port = free_port()
    factview = str(Path(sys.executable).parent / "factview")
    return spawn("factview-serve", [factview, "serve", "--port", str(port)], stack.env(), port)


async def subscriber(url: str, account: str, tracker: Tracker, ready: asyncio.Event) -> None:
    transport = WebsocketsTransport(
        url=url,
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
        init_payload={"Authorization": staff_authorization()},
    )
    async with Client(transport=transport) as session:
        request = GraphQLRequest(SUBSCRIPTION, variable_values={"id": account})
        async for result in session.subscribe(request):
            now = time.perf_counter()
            version = int(result["accountUpdated"]["version"])
            if not ready.is_set():
                ready.set()  # the first message is the state at subscription time
                tracker.seen[account] = version
                continue
            tracker.updated(account, version, now)


async def floor(
    stack: Stack, sent: dict[bytes, float], latencies: list[float], ready: asyncio.Event
) -> None:
    """A bare consumer on the accounts topic: how soon any consumer could see each record."""
    consumer = AIOKafkaConsumer(
        stack.topics[1],
        bootstrap_servers=stack.bootstrap,
        group_id=f"floor-{stack.unique}",
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await consumer.start()
    try:
        while not consumer.assignment():
            await consumer.getmany(timeout_ms=100)  # joining the group
        ready.set()
        while True:
            batch = await consumer.getmany(timeout_ms=200)
            now = time.perf_counter()
            for records in batch.values():
                for record in records:
                    at = sent.pop(bytes(record.value or b""), None)
                    if at is not None:
                        latencies.append(now - at)
    finally:
        await consumer.stop()


async def open_accounts(stack: Stack, accounts: list[str]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap)
    await producer.start()
    try:
        for n, account in enumerate(accounts):
            data = {"accountId": account, "customerId": "c0", "currency": "EUR"}
            fact = cloud_event("accounts", "account.opened", account, data, n)
            await producer.send_and_wait(
                stack.topics[1], fact.value, key=fact.key, headers=STRUCTURED
            )
    finally:
        await producer.stop()


async def produce_paced(
    stack: Stack,
    accounts: list[str],
    rate: float,
    seconds: float,
    tracker: Tracker,
    floor_sent: dict[bytes, float],
) -> tuple[int, float]:
    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap, linger_ms=0)
    await producer.start()
    total = int(rate * seconds)
    versions = dict.fromkeys(accounts, 1)
    futures = []
    try:
        started = time.perf_counter()
        for n in range(total):
            delay = started + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)  # pacing to the target rate
            account = accounts[n % len(accounts)]
            fact = deposit(account, len(accounts) + n, "1.00")
            versions[account] += 1
            at = time.perf_counter()
            tracker.produced(account, versions[account], at)
            floor_sent[fact.value] = at
            futures.append(
                await producer.send(stack.topics[1], fact.value, key=fact.key, headers=STRUCTURED)
            )
        await asyncio.gather(*futures)
        elapsed = time.perf_counter() - started
    finally:
        await producer.stop()
    return total, total / elapsed


async def measure(stack: Stack, subscribers: int, rate: float, seconds: float) -> Result:
    await stack.ensure_topics()
    child = serve(stack)
    tasks: list[asyncio.Task[Any]] = []
    try:
        await wait_http(child)
        accounts = [account_id(n) for n in range(subscribers)]
        await open_accounts(stack, accounts)
        tracker = Tracker()
        url = child.url.replace("http://", "ws://") + "/graphql"
        readies = [asyncio.Event() for _ in accounts]
        tasks += [
            asyncio.create_task(subscriber(url, a, tracker, r))
            for a, r in zip(accounts, readies, strict=True)
        ]
        floor_sent: dict[bytes, float] = {}
        floor_latencies: list[float] = []
        floor_ready = asyncio.Event()
        tasks.append(asyncio.create_task(floor(stack, floor_sent, floor_latencies, floor_ready)))
        async with asyncio.timeout(60):
            # Every account opened and folded (version 1), the floor joined, before the clock.
            await asyncio.gather(floor_ready.wait(), *(r.wait() for r in readies))
        produced, achieved = await produce_paced(
            stack, accounts, rate, seconds, tracker, floor_sent
        )
        await _last_updates(tracker, tasks)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        child.stop()
    ms = [x * 1000 for x in tracker.latencies]
    floor_ms = [x * 1000 for x in floor_latencies]
    p99, floor_p99 = percentile(ms, 99), percentile(floor_ms, 99)
    return Result(
        name="freshness",
        figure=p99,
        baseline=floor_p99,
        unit="ms p99 (produce -> update)",
        goal=f"<= {GOAL} (factview p99 / floor p99)",
        met=floor_p99 > 0 and p99 / floor_p99 <= GOAL and tracker.outstanding == 0,
        details={
            "mode": "accountUpdated subscription over graphql-transport-ws (gql)",
            "events produced": produced,
            "rate achieved": f"{achieved:.0f} events/s (target {rate:.0f})",
            "subscribed accounts": subscribers,
            "factview p50 / p99 / max ms": f"{percentile(ms, 50):.1f} / {p99:.1f} / "
            f"{max(ms, default=0):.1f}",
            "floor (bare consumer) p50 / p99 ms": f"{percentile(floor_ms, 50):.1f} / "
            f"{floor_p99:.1f}",
            "events never seen by a subscriber": tracker.outstanding,
        },
        notes=["ratio = factview p99 / floor p99: how many times the broker's own latency"],
    )


async def _last_updates(tracker: Tracker, tasks: list[asyncio.Task[Any]]) -> None:
    """Wait (30 s at most) for updates still on their way; a client that failed fails the run."""
    deadline = time.monotonic() + 30
    while tracker.outstanding and time.monotonic() < deadline:
        if any(t.done() for t in tasks):
            break
        await asyncio.sleep(0.05)  # waiting for the last updates, bounded
    for task in tasks:
        if task.done() and task.exception() is not None:
            raise RuntimeError(f"a client failed: {task.exception()!r}")


def main() -> None:
    p = parser(__doc__ or "")
    p.add_argument("--rate", type=float, default=500.0, help="events/s produced")
    p.add_argument("--seconds", type=float, default=20.0, help="how long to produce")
    p.add_argument("--accounts", type=int, default=50, help="subscribed accounts (one each)")
    args = p.parse_args()
    with servers() as stack:
        result = asyncio.run(measure(stack, args.accounts, args.rate, args.seconds))
    report(result, args.json)


if __name__ == "__main__":
    main()
