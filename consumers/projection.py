"""What a projection is: a declaration with a name, a version, a collection and pure handlers."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from consumers.facts import FactEvent, position

State = dict[str, Any]
Row = dict[str, Any]
Handler = Callable[[State, FactEvent], State]
# A document as stored, and its rows in order.
Settled = tuple[State, list[Row]]

# Where a fold keeps a document's child rows while it runs (row key -> row); never stored.
ROWS = "rows"


@dataclass(frozen=True, slots=True)
class Published:
    """What one state of a document publishes: JSON-ready data, a version that grows with every
    change of the data, and the business time of the newest fact behind it."""

    data: dict[str, Any]
    version: int
    time: datetime


@dataclass(frozen=True)
class Publication:
    """A view's declaration that it publishes each change of its documents as a Fact Event."""

    type: str  # the CloudEvents type, e.g. "customer-overview.changed"
    entity: str  # names what is published in event ids, e.g. "customer-overview"
    describe: Callable[[dict[str, Any]], Published]  # pure: no I/O, no clock


def handles(event_type: str) -> Callable[[Handler], Handler]:
    """Mark a static method as the pure handler of one event type."""

    def mark(fn: Handler) -> Handler:
        fn.__handles__ = event_type  # type: ignore[attr-defined]
        return fn

    return mark


@dataclass(frozen=True)
class Join:
    """Documents of another view embedded into this one, matched on `on` (e.g. customerId)."""

    view: str
    on: str
    # The joined documents' fields `joined` reads: the engine and the replay fetch only these.
    fields: tuple[str, ...] = ()

    def projection(self) -> dict[str, int] | None:
        """A MongoDB projection of `fields` (and `on`), or None (whole documents)."""
        if not self.fields:
            return None
        return {"_id": 0, self.on: 1, **{name: 1 for name in self.fields}}


@dataclass(frozen=True)
class Rows:
    """Child rows a view keeps beside each document, one MongoDB document each.

    What grows with an entity's history (an account's transactions) lives here, so the
    document itself stays the same size however long the history. Handlers see the rows the
    batch's events name under `state["rows"]` (row key -> row) and return them changed, as
    values; the engine writes them. Rows are ordered by `pos` (the position of the event that
    placed them, `consumers.facts.position`), and `running` holds the sum of `value` over every
    row up to and including this one, kept by the engine: a row arriving late, or one whose
    value changes, shifts the rows after it by the difference, on the server.

    A view with rows has handlers that do not depend on arrival order (a late event is applied
    as it comes, never by folding the history again): the property tests hold them to that.
    """

    collection: str
    # The field of a row naming its document (e.g. accountId); rows are indexed by it and `pos`.
    parent: str
    # The data field that names the row an event is about (e.g. transactionId).
    key_field: str
    # The running total a row carries, and the document fields holding the total and the count.
    running: str
    total: str
    count: str
    value: Callable[[Row], Decimal]

    def key(self, event: FactEvent) -> str | None:
        value = event.data.get(self.key_field)
        return value if isinstance(value, str) and value else None


def row_id(parent: str, key: str) -> str:
    """A row's `_id`: its document and its own key; the length prefix keeps the pair unambiguous."""
    return f"{len(parent)}:{parent}/{key}"


def parent_of(row_id_: str) -> str:
    length, _, rest = row_id_.partition(":")
    return rest[: int(length)]


class Projection:
    """Subclasses declare; the engine (consumers/engine.py) does all the I/O.

    A handler gets a state the engine owns for this fold and returns the next state: no I/O,
    no clock, nothing but the state and the event, so folding the log again gives the same view.
    """

    name: ClassVar[str]
    version: ClassVar[int]
    collection: ClassVar[str]
    # The data field that names the document an event belongs to (e.g. "accountId").
    key_field: ClassVar[str]
    join: ClassVar[Join | None] = None
    rows: ClassVar[Rows | None] = None
    # Set when each change of a document is published as a Fact Event (consumers/outbox.py).
    publishes: ClassVar[Publication | None] = None
    handlers: ClassVar[dict[str, Handler]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.handlers = {}
        for attr in vars(cls).values():
            # The mark may sit on the staticmethod wrapper or on the function inside it.
            fn = getattr(attr, "__func__", attr)
            event_type = getattr(attr, "__handles__", None) or getattr(fn, "__handles__", None)
            if event_type is not None:
                cls.handlers[event_type] = fn

    @classmethod
    def key(cls, event: FactEvent) -> str | None:
        value = event.data.get(cls.key_field)
        return value if isinstance(value, str) and value else None

    @classmethod
    def initial(cls, key: str) -> State:
        """The state of a document before any of its events."""
        return {"id": key}

    @classmethod
    def joined(cls, state: State, others: list[State]) -> State:
        """Embed the joined view's documents; only called when `join` is declared."""
        return state

    @classmethod
    def visible(cls, state: State) -> bool:
        """Whether queries should see this document (e.g. not deleted)."""
        return True

    @classmethod
    def visible_query(cls) -> dict[str, Any]:
        """`visible` as a MongoDB filter, for reads that select many documents."""
        return {}


def fold(
    projection: type[Projection], key: str, events: Iterable[FactEvent], state: State | None = None
) -> State:
    """Fold events (already deduplicated) into a state, in business-time order."""
    current = state if state is not None else projection.initial(key)
    if projection.rows is not None and ROWS not in current:
        current[ROWS] = {}
    for event in sorted(events, key=lambda e: e.order):
        handler = projection.handlers.get(event.type)
        if handler is None:
            continue
        current = handler(current, event)
        current["version"] = current.get("version", 0) + 1
        previous = current.get("updatedAt")
        current["updatedAt"] = event.time if previous is None or event.time > previous else previous
        # The newest event folded, whatever order they came in (views with rows take late ones).
        last = current.get("_last")
        if not last or event.order > tuple(last):
            current["_last"] = list(event.order)
    return current


def copy_state(state: State) -> State:
    """A copy a handler may change: the original stays as read (the engine compares against it)."""
    copied: State = {}
    for name, value in state.items():
        if isinstance(value, list):
            copied[name] = [dict(v) if isinstance(v, dict) else v for v in value]
        elif isinstance(value, dict):
            copied[name] = dict(value)
        else:
            copied[name] = value
    return copied


def settle(projection: type[Projection], state: State) -> Settled:
    """A whole fold's document and its rows in order, running totals set: what is stored.

    The engine gets the same values a row at a time (consumers/rows.py); this is the
    from-scratch form, for rebuilds, refolds and tests.
    """
    rows_of = projection.rows
    document = {k: v for k, v in state.items() if k != ROWS}
    if rows_of is None:
        return document, []
    rows = sorted(state.get(ROWS, {}).values(), key=lambda r: r["pos"])
    total = Decimal("0.00")
    settled: list[Row] = []
    for row in rows:
        total += rows_of.value(row)
        settled.append(
            {
                "_id": row_id(document["id"], row["id"]),
                **row,
                rows_of.running: total,
                "_rev": document.get("version", 0),
            }
        )
    document[rows_of.total] = total
    document[rows_of.count] = len(settled)
    return document, settled


__all__ = [
    "ROWS",
    "Handler",
    "Join",
    "Projection",
    "Row",
    "Rows",
    "Settled",
    "State",
    "copy_state",
    "fold",
    "position",
    "settle",
]
