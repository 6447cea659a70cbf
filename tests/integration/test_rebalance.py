"""Two consumers folding overlapping batches at once, as during a rebalance: each event once.

When a partition moves, its old owner may still be folding a batch whose offsets it never
committed while the new owner folds the same records again. Two FoldEngines (two clients, as
two processes would have) apply overlapping slices of one stream concurrently.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter

from app.store import database, ensure_indexes, make_client
from consumers.engine import FoldEngine
from consumers.facts import FactEvent
from consumers.projections import PROJECTIONS
from tests.support import oracle, stored
from tests.support.workload import workload


async def fold_all(engine: FoldEngine, batches: list[list[FactEvent]]) -> None:
    for batch in batches:
        await engine.apply(batch)


async def test_two_engines_folding_overlapping_batches_fold_each_event_once(
    mongo_uri: str,
) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    load = workload(seed, prefix="rb", accounts=6, events=400)
    events = load.decoded()
    # The old owner folds the stream in batches of 20; the new one starts a little behind
    # (the last committed offset), so every batch of one overlaps a batch of the other.
    old = [events[n : n + 20] for n in range(0, len(events), 20)]
    start = rng.randrange(1, 15)
    new = [events[n : n + 25] for n in range(start, len(events), 25)]
    new.insert(0, events[:start])
    first, second = make_client(mongo_uri), make_client(mongo_uri)
    name = f"rebalance_{uuid.uuid4().hex[:10]}"
    try:
        await ensure_indexes(database(first, name))
        engines = (
            FoldEngine(database(first, name), PROJECTIONS),
            FoldEngine(database(second, name), PROJECTIONS),
        )
        await asyncio.gather(fold_all(engines[0], old), fold_all(engines[1], new))

        db = database(first, name)
        log = Counter((e.source, e.id) for e in await stored.read_log(db))
        assert set(log) == load.unique_ids and set(log.values()) == {1}, f"seed {seed}"
        expected = oracle.views(load.facts())
        assert oracle.differences(expected, await stored.read_views(db)) == [], f"seed {seed}"
    finally:
        await first.drop_database(name)
        await first.close()
        await second.close()
