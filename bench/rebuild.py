"""Rebuild: events/s of `consumers.rebuild.shadow.rebuild` over the log, view by view.

The log is filled directly (the same documents the consumer writes; no broker needed).
Baseline: a raw scan of the whole log (every document decoded, as the driver does) plus a bulk
write (`insert_many`, same chunk size) of the very documents the rebuild produced, in every
collection it wrote (each view's documents and its rows). The log is
scanned once, untimed, before either side, so both start with a warm cache.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from app.store import database, ensure_indexes, make_client
from bench.facts import chunks, decoded, default_accounts, facts
from bench.report import Result, parser, profiled, report
from bench.stack import Stack, servers
from consumers.document import Document
from consumers.log import to_log_document
from consumers.projections import PROJECTIONS
from consumers.rebuild.shadow import rebuild

GOAL = 0.7
CHUNK = 500


async def fill_log(db: Any, stack: Stack, events: int, accounts: int) -> None:
    docs: list[Document] = []
    for event in decoded(stack, facts(events, accounts)):
        docs.append(to_log_document(event))
        if len(docs) >= 5000:
            await db.events.insert_many(docs, ordered=False)
            docs = []
    if docs:
        await db.events.insert_many(docs, ordered=False)


async def scan(db: Any) -> int:
    count = 0
    async for _ in db.events.find({}, batch_size=CHUNK):
        count += 1
    return count


async def measure(stack: Stack, events: int, accounts: int, profile: str | None = None) -> Result:
    client = make_client(stack.mongo_uri)
    try:
        db = database(client, stack.database)
        await ensure_indexes(db)
        await fill_log(db, stack, events, accounts)
        await scan(db)  # warm the cache for both sides
        timings: dict[str, float] = {}
        with profiled(profile):
            for projection in PROJECTIONS:
                started = time.perf_counter()
                await rebuild(db, projection, PROJECTIONS)
                timings[projection.name] = time.perf_counter() - started
        # Every collection the rebuild wrote: each view's documents and its rows, if any.
        names = [p.collection for p in PROJECTIONS]
        names += [p.rows.collection for p in PROJECTIONS if p.rows is not None]
        rebuilt = {name: [doc async for doc in db[name].find({})] for name in names}
        started = time.perf_counter()
        scanned = await scan(db)
        scan_seconds = time.perf_counter() - started
        for name, docs in rebuilt.items():
            target = db[f"baseline_{name}"]
            await target.drop()
            for part in chunks(docs, CHUNK):
                await target.insert_many(list(part), ordered=False)
        base_seconds = time.perf_counter() - started
        assert scanned == events, f"log holds {scanned} events, expected {events}"
    finally:
        await client.close()
    seconds = sum(timings.values())
    figure, baseline = events / seconds, events / base_seconds
    return Result(
        name="rebuild",
        figure=figure,
        baseline=baseline,
        unit="events/s",
        goal=f">= {GOAL}",
        met=figure / baseline >= GOAL,
        details={
            "events in the log": events,
            "documents": ", ".join(f"{n} {len(d)}" for n, d in rebuilt.items()),
            "rebuild seconds": ", ".join(f"{n} {t:.2f}" for n, t in timings.items()),
            "baseline seconds (scan + write)": f"{scan_seconds:.2f} + "
            f"{base_seconds - scan_seconds:.2f}",
        },
    )


def main() -> None:
    p = parser(__doc__ or "")
    p.add_argument("--events", type=int, default=50_000)
    p.add_argument("--accounts", type=int, default=None, help="default: events / 25")
    p.add_argument("--profile", metavar="PATH", help="pyinstrument text profile of the rebuild")
    args = p.parse_args()
    accounts = args.accounts or default_accounts(args.events)
    with servers() as stack:
        result = asyncio.run(measure(stack, args.events, accounts, args.profile))
    report(result, args.json)


if __name__ == "__main__":
    main()
