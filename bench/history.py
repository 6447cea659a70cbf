"""History: does an account's long past cost anything per event? And what does a page cost?

`bench.ingest --history ROWS`. One account is preloaded with ROWS transactions by the real
FoldEngine in big batches (no broker: the log, the rows and the summary exactly as the
consumer writes them). Then, in alternating rounds, `--events` new movements are folded into
that account and as many into a freshly opened one, in batches of `--batch`, with the same mix
as the other benches (deposits, withdrawals, corrections of the account's newest transaction),
timed around `FoldEngine.apply` only. The figure is the long account's cost per event, the
baseline the fresh account's; equal costs (a ratio near 1) mean the fold is flat in history.

Then `account(id) { transactions(last: 20) }` is served by factview (uvicorn, as in the query
bench) and timed on the long account and on one of `SMALL` rows: a page is one indexed range
read, whose cost on MongoDB is the page, but on SecantusDB the whole range it bounds (the
server materialises every index match before it sorts and limits).
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Iterable, Iterator
from typing import Any

import httpx

from app.store import database, ensure_indexes, make_client
from bench.facts import (
    Fact,
    account_id,
    cloud_event,
    customer_id,
    decoded,
    movement,
    record_versions,
)
from bench.report import Result, percentile
from bench.stack import Stack, spawn_uvicorn, staff_authorization, wait_http
from consumers.engine import FoldEngine
from consumers.projections import PROJECTIONS
from consumers.projections.account import AccountProjection

GOAL = 1.1
SMALL = 100
PAGE = """
query($id: ID!) {
  account(id: $id) { transactionCount transactions(last: 20) { nodes { amount balanceAfter } } }
}
"""
ROWS = AccountProjection.rows
assert ROWS is not None


class Stream:
    """Facts in business-time order, one sequence for the whole run (ids and times unique)."""

    def __init__(self, seed: int = 11) -> None:
        self.seq = 0
        self.rng = random.Random(seed)
        self.last: dict[str, str] = {}

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    def open(self, n: int) -> list[Fact]:
        """A customer and an account of their own (each account its own customer's)."""
        cid, aid = customer_id(n), account_id(n)
        registered = {"customerId": cid, "name": f"Customer {n}", "email": f"{cid}@example.com"}
        opened = {"accountId": aid, "customerId": cid, "currency": "EUR"}
        return [
            cloud_event("customers", "customer.registered", cid, registered, self._next()),
            cloud_event("accounts", "account.opened", aid, opened, self._next()),
        ]

    def movements(self, n: int, count: int, corrections: bool = True) -> Iterator[Fact]:
        aid = account_id(n)
        for _ in range(count):
            if corrections:
                yield movement(self.rng, aid, self._next(), self.last)
            else:
                # Preloading counts rows: every fact is a new transaction.
                yield movement(self.rng, aid, self._next(), {})


async def _fold(
    engine: FoldEngine, stack: Stack, stream: Iterable[Fact], batch: int
) -> tuple[int, float]:
    """Fold the facts in batches; the events folded and the seconds inside `apply`."""
    count, seconds = 0, 0.0
    pending: list[Any] = []
    for event in decoded(stack, stream):
        pending.append(event)
        if len(pending) == batch:
            seconds += await _apply(engine, pending)
            count, pending = count + len(pending), []
    if pending:
        seconds += await _apply(engine, pending)
        count += len(pending)
    return count, seconds


async def _apply(engine: FoldEngine, events: list[Any]) -> float:
    started = time.perf_counter()
    await engine.apply(events)
    return time.perf_counter() - started


async def measure(
    stack: Stack,
    rows: int,
    events: int,
    batch: int,
    rounds: int = 3,
    preload_batch: int = 5000,
    page_requests: int = 5,
) -> list[Result]:
    client = make_client(stack.mongo_uri)
    try:
        db = database(client, stack.database)
        await ensure_indexes(db)
        await record_versions(db)  # so the served app does not rebuild the preloaded views
        engine = FoldEngine(db, PROJECTIONS)
        stream = Stream()
        long_account, small_account = 0, 1
        started = time.perf_counter()
        await _fold(engine, stack, stream.open(long_account), batch)
        await _fold(
            engine, stack, stream.movements(long_account, rows, corrections=False), preload_batch
        )
        preload_seconds = time.perf_counter() - started
        await _fold(engine, stack, stream.open(small_account), batch)
        await _fold(engine, stack, stream.movements(small_account, SMALL, False), batch)

        fresh, long = await _rounds(engine, stack, stream, long_account, rounds, events, batch)
        counts = {
            aid: await db[ROWS.collection].count_documents({ROWS.parent: aid})
            for aid in (account_id(long_account), account_id(small_account))
        }
        pages = await _pages(stack, list(counts), page_requests)
    finally:
        await client.close()
    long_us, fresh_us = statistics.median(long) * 1e6, statistics.median(fresh) * 1e6
    big, small = (account_id(long_account), account_id(small_account))
    fold_result = Result(
        name="ingest-history",
        figure=long_us,
        baseline=fresh_us,
        unit="us per event folded (median of rounds)",
        goal=f"<= {GOAL} (the long account's cost per event / a fresh account's)",
        met=long_us / fresh_us <= GOAL,
        details={
            "preloaded rows": f"{rows} into {big}, in batches of {preload_batch}, "
            f"{preload_seconds:.1f} s ({rows / preload_seconds:,.0f} events/s)",
            "rounds": f"{rounds} x {events} events into each, batches of {batch}, alternating",
            "long account us/event per round": ", ".join(f"{x * 1e6:.0f}" for x in long),
            "fresh account us/event per round": ", ".join(f"{x * 1e6:.0f}" for x in fresh),
            "rows at the end": ", ".join(f"{k} {v}" for k, v in counts.items()),
        },
    )
    return [fold_result, _page_result(pages, counts, big, small, page_requests)]


async def _rounds(
    engine: FoldEngine,
    stack: Stack,
    stream: Stream,
    long_account: int,
    rounds: int,
    events: int,
    batch: int,
) -> tuple[list[float], list[float]]:
    """Seconds per event folded, per round: into a fresh account, and into the long one."""
    fresh: list[float] = []
    long: list[float] = []
    for r in range(rounds):
        account = 2 + r
        await _fold(engine, stack, stream.open(account), batch)

        async def fold_fresh(account: int = account) -> None:
            n, s = await _fold(engine, stack, stream.movements(account, events), batch)
            fresh.append(s / n)

        async def fold_long() -> None:
            n, s = await _fold(engine, stack, stream.movements(long_account, events), batch)
            long.append(s / n)

        # Alternate which goes first: a machine that gets busier favours neither.
        for step in (fold_fresh, fold_long) if r % 2 == 0 else (fold_long, fold_fresh):
            await step()
    return fresh, long


def _page_result(
    pages: dict[str, list[float]], counts: dict[str, int], big: str, small: str, requests: int
) -> Result:
    ms = {k: [x * 1000 for x in v] for k, v in pages.items()}
    return Result(
        name="page-history",
        figure=statistics.median(ms[big]),
        baseline=statistics.median(ms[small]),
        unit="ms per `account { transactions(last: 20) }` (median)",
        goal="n/a (measures the server: O(page) on MongoDB, O(rows in range) on SecantusDB)",
        met=None,
        details={
            f"{big} ({counts[big]} rows) ms": _spread(ms[big]),
            f"{small} ({counts[small]} rows) ms": _spread(ms[small]),
            "requests": f"{requests} each, one at a time, alternating accounts",
        },
    )


def _spread(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):.1f}, min {min(values):.1f}, "
        f"p90 {percentile(values, 90):.1f}, max {max(values):.1f}"
    )


async def _pages(stack: Stack, accounts: list[str], requests: int) -> dict[str, list[float]]:
    """Latency of the page query on each account, served by factview over HTTP."""
    # A page of the long account can take longer than the default operation timeout (10 s)
    # on SecantusDB; the bench measures it rather than the 504.
    env = stack.env(OPERATION_TIMEOUT_SECONDS="600")
    child = spawn_uvicorn("factview-pages", "bench.apps:factview", env)
    timings: dict[str, list[float]] = {a: [] for a in accounts}
    try:
        await wait_http(child)
        headers = {"Authorization": staff_authorization()}
        async with httpx.AsyncClient(base_url=child.url, timeout=300, headers=headers) as http:
            for n in range(requests + 1):
                for account in accounts:
                    started = time.perf_counter()
                    response = await http.post(
                        "/graphql", json={"query": PAGE, "variables": {"id": account}}
                    )
                    took = time.perf_counter() - started
                    response.raise_for_status()
                    answer = response.json()
                    if "errors" in answer:
                        raise RuntimeError(f"page query failed: {answer['errors']}")
                    nodes = answer["data"]["account"]["transactions"]["nodes"]
                    if len(nodes) != min(20, answer["data"]["account"]["transactionCount"]):
                        raise RuntimeError(f"{account}: a page of {len(nodes)} rows")
                    if n:  # the first round warms the server's caches
                        timings[account].append(took)
    finally:
        child.stop()
    return timings
