"""What a projection is: a declaration with a name, a version, a collection and pure handlers."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from consumers.facts import FactEvent
from consumers.outbox import Publication

State = dict[str, Any]
Handler = Callable[[State, FactEvent], State]


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
    # The joined documents' fields `joined` reads: the engine and the replay fetch only these,
    # not whole documents (an account's transaction list is most of its bytes).
    fields: tuple[str, ...] = ()

    def projection(self) -> dict[str, int] | None:
        """A MongoDB projection of `fields` (and `on`), or None (whole documents)."""
        if not self.fields:
            return None
        return {"_id": 0, self.on: 1, **{name: 1 for name in self.fields}}


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


def fold(
    projection: type[Projection], key: str, events: Iterable[FactEvent], state: State | None = None
) -> State:
    """Fold events (already deduplicated) into a state, in business-time order."""
    current = state if state is not None else projection.initial(key)
    for event in sorted(events, key=lambda e: e.order):
        handler = projection.handlers.get(event.type)
        if handler is None:
            continue
        current = handler(current, event)
        current["version"] = current.get("version", 0) + 1
        previous = current.get("updatedAt")
        current["updatedAt"] = event.time if previous is None or event.time > previous else previous
        current["_last"] = list(event.order)
    return current
