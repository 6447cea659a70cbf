"""Writing a batch's child rows at a constant cost per event (see `consumers.projection.Rows`).

A batch changes some rows of a document: new rows, and rows whose fields changed. Each change
is a step in the running total at the row's position (+value for a row placed there, -value
for a row that left it). The rows already stored after a step are shifted by it with one
`update_many` and `$inc` per stretch between steps, on the server, and a placed row's running
total is the stored total just before its position plus the steps up to it. Rows arriving in
business-time order (the common case) need neither: they go after every stored row, so each is
one insert and the document's total is the stored total plus the batch's steps.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import accumulate

from pymongo import ASCENDING, DeleteOne, InsertOne, ReplaceOne, UpdateMany, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from consumers.document import Document
from consumers.facts import position
from consumers.projection import Row, Rows, State, row_id

Write = InsertOne[Document] | ReplaceOne[Document] | UpdateOne | UpdateMany | DeleteOne
# Fields the engine keeps on a row, beside what the handlers give it.
REV = "_rev"


def content(rows: Rows, row: Row) -> Row:
    """What the handlers decide of a row (not its id, running total or feed revision)."""
    return {k: v for k, v in row.items() if k not in ("_id", rows.running, REV)}


async def load(
    db: AsyncDatabase[Document],
    rows: Rows,
    wanted: dict[str, set[str]],
    session: AsyncClientSession | None = None,
) -> dict[str, dict[str, Row]]:
    """The stored rows a batch names (document -> row key -> row), in one read."""
    ids = [row_id(parent, key) for parent, keys in wanted.items() for key in keys]
    found: dict[str, dict[str, Row]] = defaultdict(dict)
    if not ids:
        return found
    cursor = db[rows.collection].find(
        {"_id": {"$in": ids}}, session=session, batch_size=len(ids) + 1
    )
    async for doc in cursor:
        found[doc[rows.parent]][doc["id"]] = doc
    return found


@dataclass
class Plan:
    """One document's row writes, and its new total and count."""

    writes: list[Write] = field(default_factory=list)
    total: Decimal = Decimal("0.00")
    count: int = 0


def _steps(
    rows: Rows, changes: Iterable[tuple[Row | None, Row | None]]
) -> list[tuple[str, Decimal]]:
    steps: list[tuple[str, Decimal]] = []
    for old, new in changes:
        if old is not None and new is not None and old["pos"] == new["pos"]:
            steps.append((new["pos"], rows.value(new) - rows.value(old)))
            continue
        if old is not None:
            steps.append((old["pos"], -rows.value(old)))
        if new is not None:
            steps.append((new["pos"], rows.value(new)))
    return sorted(s for s in steps if s[1])


Change = tuple[Row | None, Row | None]


async def plan(
    db: AsyncDatabase[Document],
    rows: Rows,
    parent: str,
    stored: Document | None,
    state: State,
    before: dict[str, Row],
    after: dict[str, Row],
    session: AsyncClientSession | None = None,
) -> Plan:
    """The writes that turn the stored rows of `parent` into `after` (reads first, no writes)."""
    changes = _changes(rows, before, after)
    base = _Stored.of(db, rows, parent, stored, session)
    result = Plan(total=base.total, count=base.count)
    if not changes:
        return result
    steps = _Steps.of(_steps(rows, changes))
    rev = state.get("version", 0)
    placed = await _place(rows, parent, changes, base, steps, rev, result)
    # Stored rows after each step move by the steps so far; placed rows are written after.
    result.writes[:0] = _shifts(rows, parent, base, steps, rev)
    replaced = {old["id"] for old, new in changes if old is not None and new is not None}
    for row in placed:
        result.writes.append(
            ReplaceOne({"_id": row["_id"]}, row, upsert=True)
            if row["id"] in replaced
            else InsertOne(row)
        )
    result.total = base.total + steps.upto[-1]
    return result


def _changes(rows: Rows, before: dict[str, Row], after: dict[str, Row]) -> list[Change]:
    """(stored, new) for each row new or changed, then (stored, None) for each row gone."""
    changes: list[Change] = [
        (before.get(key), new)
        for key, new in after.items()
        if key not in before or content(rows, before[key]) != content(rows, new)
    ]
    changes += [(old, None) for key, old in before.items() if key not in after]
    return changes


@dataclass(frozen=True)
class _Stored:
    """The document's stored total, count and newest position, and the reads behind them."""

    rows: Rows
    parent: str
    collection: AsyncCollection[Document]
    session: AsyncClientSession | None
    exists: bool
    total: Decimal
    count: int
    last: str

    @classmethod
    def of(
        cls,
        db: AsyncDatabase[Document],
        rows: Rows,
        parent: str,
        stored: Document | None,
        session: AsyncClientSession | None,
    ) -> _Stored:
        last_order = (stored or {}).get("_last") or ("", "", "")
        return cls(
            rows=rows,
            parent=parent,
            collection=db[rows.collection],
            session=session,
            exists=stored is not None,
            total=Decimal((stored or {}).get(rows.total, Decimal("0.00"))),
            count=int((stored or {}).get(rows.count, 0)),
            last=position((last_order[0], last_order[1], last_order[2])),
        )

    def may_follow(self, at: str) -> bool:
        """Whether a stored row may come after position `at` (else `at` is past them all)."""
        return self.exists and at <= self.last

    async def total_before(self, at: str) -> Decimal:
        # The stored running total just before `at`: the stored total when `at` is past every
        # stored row, else the first stored row after it, minus that row's own value.
        if not self.may_follow(at):
            return self.total
        successor = await self.collection.find_one(
            {self.rows.parent: self.parent, "pos": {"$gt": at}},
            sort=[("pos", ASCENDING)],
            session=self.session,
        )
        if successor is None:
            return self.total
        return Decimal(successor[self.rows.running]) - self.rows.value(successor)


@dataclass(frozen=True)
class _Steps:
    """The batch's steps by position, with the sum of the steps up to each (`upto[i]`: the
    first i), summed once: a batch may place many rows of one document."""

    positions: list[str]
    upto: list[Decimal]

    @classmethod
    def of(cls, steps: list[tuple[str, Decimal]]) -> _Steps:
        return cls(
            positions=[at for at, _ in steps],
            upto=list(accumulate((d for _, d in steps), initial=Decimal("0.00"))),
        )

    def through(self, at: str) -> Decimal:
        """The sum of the steps at or before `at`."""
        return self.upto[bisect_right(self.positions, at)]


async def _place(
    rows: Rows,
    parent: str,
    changes: list[Change],
    base: _Stored,
    steps: _Steps,
    rev: int,
    result: Plan,
) -> list[Row]:
    """Deletes and in-place updates go to `result`; rows placed at a new position come back,
    with their running totals, to be written after the shifts."""
    placed: list[Row] = []
    for old, new in changes:
        if new is None:
            assert old is not None
            result.writes.append(DeleteOne({"_id": row_id(parent, old["id"])}))
            result.count -= 1
        elif old is None or old["pos"] != new["pos"]:
            running = await base.total_before(new["pos"]) + steps.through(new["pos"])
            placed.append(
                {"_id": row_id(parent, new["id"]), **new, rows.running: running, REV: rev}
            )
            result.count += old is None
        else:
            result.writes.append(
                UpdateOne(
                    {"_id": row_id(parent, new["id"])}, {"$set": {**content(rows, new), REV: rev}}
                )
            )
    return placed


def _shifts(rows: Rows, parent: str, base: _Stored, steps: _Steps, rev: int) -> list[Write]:
    """One `$inc` per stretch between steps, over the stored rows in it, by the steps so far."""
    shifts: list[Write] = []
    positions = steps.positions
    for i, at in enumerate(positions):
        shift = steps.upto[i + 1]
        if not base.may_follow(at) or not shift:
            continue
        span: Document = {"$gte": at}
        if i + 1 < len(positions):
            span["$lt"] = positions[i + 1]
        shifts.append(
            UpdateMany(
                {rows.parent: parent, "pos": span},
                {"$inc": {rows.running: shift}, "$set": {REV: rev}},
            )
        )
    return shifts


# The command each write goes in, in the order a batch sends them (see `in_phases`).
_PHASE: dict[type, int] = {DeleteOne: 0, UpdateMany: 1, UpdateOne: 1, ReplaceOne: 1, InsertOne: 2}


def in_phases(writes: list[Write]) -> list[Write]:
    """A batch's row writes in an order that goes to the server in at most three commands.

    An ordered bulk write is sent as one command per run of one kind (delete, update, insert),
    so the documents' plans one after another (one's shifts and inserts, then the next's) cost
    a round trip at every switch: about 15 a batch of 500 with a correction every 50 events.
    Writes of different documents never touch each other's rows; within a document, the shifts
    must come before the rows they placed (a placed row's running total already counts them,
    and a shift's range would take it in again). Deletes, then updates (shifts, changed rows,
    moved rows replaced, each document's in its own order), then inserts keep that.
    """
    return sorted(writes, key=lambda write: _PHASE[type(write)])
