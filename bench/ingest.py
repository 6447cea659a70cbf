"""Ingest: events/s from the broker into the log and views, offsets committed.

The events are produced first; then a ConsumerRunner with the real FoldEngine joins its group
(timed apart: a fixed cost of some seconds on Tansu) and is timed from its first fetch until
every event is logged, folded and its offset committed.
Baseline: `insert_many` of the very same log documents, in batches of the same size, into a
collection of the same database with the same indexes as the log: the cost of writing the
log and nothing else.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from app.store import database, ensure_indexes, make_client
from bench import history
from bench.facts import STRUCTURED, chunks, default_accounts, facts, produce
from bench.report import Result, parser, profiled, report
from bench.stack import Stack, servers
from consumers.batch import BatchOutcome
from consumers.decoding import RawRecord, decode
from consumers.document import Document
from consumers.engine import FoldEngine
from consumers.log import to_log_document
from consumers.projections import PROJECTIONS
from consumers.runner import ConsumerConfig, ConsumerRunner

GOAL = 0.5
FLAT_GOAL = 0.7


async def measure(
    stack: Stack, events: int, batch: int, accounts: int, profile: str | None = None
) -> Result:
    await stack.ensure_topics()
    placed = await produce(stack, facts(events, accounts))
    client = make_client(stack.mongo_uri)
    try:
        db = database(client, stack.database)
        await ensure_indexes(db)
        headers = tuple((k, v) for k, v in STRUCTURED)
        docs = [
            to_log_document(decode(RawRecord(topic, partition, offset, f.key, f.value, headers)))
            for f, topic, partition, offset in placed
        ]
        base_seconds = await _baseline(db, docs, batch)
        del docs
        with profiled(profile):
            run = await _factview(stack, db, events, batch)
        logged = await db.events.count_documents({})
        assert logged == events, f"log holds {logged} events, expected {events}"
    finally:
        await client.close()
    figure = events / run["seconds"]
    baseline = events / base_seconds
    return Result(
        name="ingest",
        figure=figure,
        baseline=baseline,
        unit="events/s",
        goal=f">= {GOAL}",
        met=figure / baseline >= GOAL,
        details={
            "events": events,
            "accounts": accounts,
            "max batch": batch,
            "factview seconds (joined group to last commit)": round(run["seconds"], 2),
            "group join seconds (before the clock; a fixed cost)": round(run["join"], 2),
            "events/s with the join included": round(events / (run["seconds"] + run["join"]), 1),
            "seconds to the first committed batch": round(run["first"], 2),
            "events/s after the first batch": round(run["steady"], 1),
            "batches (mean size)": f"{run['batches']} ({events / max(1, run['batches']):.0f})",
            "baseline seconds": round(base_seconds, 2),
        },
    )


async def _baseline(db: Any, docs: list[Document], batch: int) -> float:
    target = db["baseline_events"]
    await target.drop()
    for info in (await db.events.index_information()).values():
        if info["key"] != [("_id", 1)]:
            await target.create_index(info["key"])
    started = time.perf_counter()
    for part in chunks(docs, batch):
        await target.insert_many(list(part), ordered=False)
    seconds = time.perf_counter() - started
    await target.drop()
    return seconds


async def _factview(stack: Stack, db: Any, events: int, batch: int) -> dict[str, float]:
    settings = stack.settings(kafka_max_batch=batch)
    done = asyncio.Event()
    seen = {"events": 0, "batches": 0, "first": 0.0}
    first_batch = 0

    async def on_batch(outcome: BatchOutcome) -> None:
        nonlocal first_batch
        seen["batches"] += 1
        if seen["batches"] == 1:
            seen["first"] = time.perf_counter()
            first_batch = outcome.logged + outcome.duplicates
        seen["events"] += outcome.logged + outcome.duplicates + outcome.dead_lettered
        if seen["events"] >= events:
            done.set()

    runner = ConsumerRunner(
        ConsumerConfig(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            group_id=settings.kafka_group_id,
            topics=settings.kafka_topics,
            max_batch=batch,
        ),
        FoldEngine(db, PROJECTIONS, consumer_group=settings.kafka_group_id),
        on_batch,
    )
    stopping = asyncio.Event()
    joining = time.perf_counter()
    await runner.connect()
    join = time.perf_counter() - joining
    started = time.perf_counter()
    task = asyncio.create_task(runner.run(stopping))
    finished = asyncio.create_task(done.wait())
    await asyncio.wait({task, finished}, return_when=asyncio.FIRST_COMPLETED)
    seconds = time.perf_counter() - started
    if task.done():
        finished.cancel()
        task.result()
        raise RuntimeError("the consumer stopped before every event was in")
    stopping.set()
    await task
    ended = started + seconds
    steady = (events - first_batch) / max(1e-9, ended - seen["first"])
    return {
        "seconds": seconds,
        "join": join,
        "first": seen["first"] - started,
        "steady": steady,
        "batches": seen["batches"],
    }


def flat(results: list[Result]) -> Result:
    """Events/s with the fewest accounts (the longest histories) over events/s with the most."""
    ordered = sorted(results, key=lambda r: r.details["accounts"])
    fewest, most = ordered[0], ordered[-1]
    return Result(
        name="ingest-flat",
        figure=fewest.figure,
        baseline=most.figure,
        unit="events/s",
        goal=f">= {FLAT_GOAL} (events/s at {fewest.details['accounts']} accounts / "
        f"at {most.details['accounts']})",
        met=fewest.figure / most.figure >= FLAT_GOAL,
        details={
            **{
                f"{r.details['accounts']} accounts": f"{r.figure:,.1f} events/s "
                f"({r.details['events'] // r.details['accounts']} events per account; "
                f"{r.ratio:.2f} of insert_many)"
                for r in ordered
            },
            # Each size runs on its own servers, minutes apart: on a shared machine the load
            # moves between them, and each run's own insert_many baseline moves with it.
            "the same, each over its own run's insert_many": f"{fewest.ratio / most.ratio:.2f}"
            if fewest.ratio and most.ratio
            else "n/a",
        },
    )


def main() -> None:
    p = parser(__doc__ or "")
    p.add_argument("--events", type=int, default=20_000)
    p.add_argument("--batch", type=int, default=500, help="max records per batch (both sides)")
    p.add_argument(
        "--accounts",
        type=int,
        nargs="+",
        default=None,
        help="default: events / 25; several (e.g. 2 1200): one run each on fresh servers, then "
        f"events/s at the fewest over at the most (flat in history: goal >= {FLAT_GOAL})",
    )
    p.add_argument(
        "--history",
        type=int,
        metavar="ROWS",
        help="instead: fold --events events into an account already holding ROWS "
        "transactions and as many into a fresh one, per round; and time a page on each",
    )
    p.add_argument("--rounds", type=int, default=3, help="--history: rounds of each")
    p.add_argument("--page-requests", type=int, default=5, help="--history: timed per account")
    p.add_argument("--profile", metavar="PATH", help="pyinstrument text profile of factview")
    args = p.parse_args()
    if args.history is not None:
        with servers() as stack, profiled(args.profile):
            results = asyncio.run(
                history.measure(
                    stack,
                    args.history,
                    args.events,
                    args.batch,
                    rounds=args.rounds,
                    page_requests=args.page_requests,
                )
            )
        for result in results:
            report(result, args.json)
        return
    results = []
    sizes = args.accounts or [default_accounts(args.events)]
    for accounts in sizes:
        profile = args.profile
        if profile and len(sizes) > 1:
            profile = f"{profile}.{accounts}"
        with servers() as stack:
            results.append(asyncio.run(measure(stack, args.events, args.batch, accounts, profile)))
        report(results[-1], args.json)
    if len(results) > 1:
        report(flat(results), args.json)


if __name__ == "__main__":
    main()
