"""Where a fold that raises is caught: the document is kept as it was and marked stale.

A bug in a handler, or data no handler foresaw, must not stop a partition: the failing document
keeps its stored state with a `_quarantine` mark (the error, since when, the events it was given),
its events stay logged, and `refold` folds it from the log once the handler is fixed.
"""

from __future__ import annotations

from datetime import UTC, datetime

from consumers.batch import BatchOutcome
from consumers.facts import FactEvent
from consumers.projection import Projection, State, copy_state, fold, settle

# The mark on a document whose fold raised: {error, since, eventIds}; `refold` clears it.
QUARANTINE = "_quarantine"


def fold_or_quarantine(
    projection: type[Projection],
    key: str,
    events: list[FactEvent],
    current: State | None,
    outcome: BatchOutcome,
    stored: State | None = None,
    whole: bool = False,
) -> State:
    """The fold (`whole`: of a document's whole log); or, when it raises (a bug, data no
    handler foresaw), the document as it was, marked stale, so the partition keeps folding."""
    try:
        state = fold(projection, key, events, copy_state(current) if current else None)
        return settle(projection, state)[0] if whole else state
    except Exception as exc:
        kept = copy_state(stored or current or projection.initial(key))
        return quarantined(projection, key, events, kept, exc, outcome)


def quarantined(
    projection: type[Projection],
    key: str,
    events: list[FactEvent],
    kept: State,
    exc: Exception,
    outcome: BatchOutcome,
) -> State:
    """`kept` marked stale with the error; the outcome counts it."""
    error = f"{type(exc).__name__}: {exc}"
    outcome.quarantined.setdefault(projection.name, {})[key] = error
    kept[QUARANTINE] = {
        "error": error,
        "since": datetime.now(UTC),
        "eventIds": [e.id for e in sorted(events, key=lambda e: e.order)][-10:],
    }
    return kept
