"""Memory: RSS of a `factview consume` process over a long ingest; flat after warm-up?

The events are produced first; then `factview consume` (a subprocess, as deployed) ingests
them while its VmRSS and VmHWM are read from /proc every `--interval` seconds. Progress is the
log's size (an estimated count, cheap for the server).

Baseline: the RSS once `--warmup` of the events are in. The figure: the highest RSS seen after
that point. Bounded batches and no unbounded caches mean a ratio near 1.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from app.store import database, make_client
from bench.facts import default_accounts, facts, produce
from bench.report import Result, parser, report
from bench.stack import Child, Stack, rss_kib, servers, spawn

GOAL = 1.25
WINDOW = 200


def consume(stack: Stack) -> Child:
    factview = str(Path(sys.executable).parent / "factview")
    return spawn("factview-consume", [factview, "consume"], stack.env())


async def measure(
    stack: Stack, events: int, accounts: int, warmup: float, interval: float, timeout: float
) -> Result:
    await stack.ensure_topics()
    produced_at = time.perf_counter()
    # A sliding window of active accounts: documents stop growing once their window has
    # passed, so any growth of RSS is the process's, not the batches' working set.
    await produce(stack, facts(events, accounts, window=WINDOW), keep=False)
    produce_seconds = time.perf_counter() - produced_at
    client = make_client(stack.mongo_uri)
    child = consume(stack)
    samples: list[tuple[float, int, int]] = []  # (seconds, events logged, RSS KiB)
    try:
        db = database(client, stack.database)
        started = time.perf_counter()
        logged = 0
        while logged < events:
            if child.process.poll() is not None:
                raise RuntimeError(f"factview consume exited:\n{child.tail()}")
            if time.perf_counter() - started > timeout:
                raise RuntimeError(f"only {logged} of {events} events in after {timeout:.0f}s")
            rss, _ = rss_kib(child.process.pid)
            logged = await db.events.estimated_document_count()
            samples.append((time.perf_counter() - started, logged, rss))
            await asyncio.sleep(interval)  # the sampling period
        _, peak = rss_kib(child.process.pid)
        seconds = time.perf_counter() - started
    finally:
        child.stop()
        await client.close()
    warm_index = next(i for i, s in enumerate(samples) if s[1] >= warmup * events)
    warm = samples[warm_index][2]
    after = max(s[2] for s in samples[warm_index:])
    final = samples[-1][2]
    return Result(
        name="memory",
        figure=after / 1024,
        baseline=warm / 1024,
        unit="MiB RSS",
        goal=f"<= {GOAL} (max RSS after warm-up / RSS at warm-up)",
        met=after / warm <= GOAL,
        details={
            "events": events,
            "accounts": f"{accounts} (movements to a sliding window of {WINDOW})",
            "produce seconds (before consuming)": round(produce_seconds, 1),
            "ingest seconds (process start included)": round(seconds, 1),
            "warm-up": f"{warmup:.0%} of the events, at {samples[warm_index][0]:.1f} s",
            "RSS at the end MiB": round(final / 1024, 1),
            "peak RSS (VmHWM) MiB": round(peak / 1024, 1),
            "timeline (events in: MiB)": timeline(samples, events),
        },
    )


def timeline(samples: list[tuple[float, int, int]], events: int, points: int = 10) -> str:
    marks: list[str] = []
    for n in range(1, points + 1):
        target = events * n / points
        hit = next((s for s in samples if s[1] >= target), samples[-1])
        marks.append(f"{n * 100 // points}%: {hit[2] / 1024:.0f}")
    return ", ".join(marks)


def main() -> None:
    p = parser(__doc__ or "")
    p.add_argument("--events", type=int, default=30_000, help="up to 1,000,000 (slow here)")
    p.add_argument("--accounts", type=int, default=None, help="default: events / 25")
    p.add_argument("--warmup", type=float, default=0.2, help="fraction of events")
    p.add_argument("--interval", type=float, default=0.5, help="seconds between samples")
    p.add_argument("--timeout", type=float, default=7200.0, help="give up after (seconds)")
    args = p.parse_args()
    accounts = args.accounts or default_accounts(args.events)
    with servers() as stack:
        result = asyncio.run(
            measure(stack, args.events, accounts, args.warmup, args.interval, args.timeout)
        )
    report(result, args.json)


if __name__ == "__main__":
    main()
