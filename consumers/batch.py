"""A batch split into events and dead letters for the engine, and what the engine reports of it."""

from __future__ import annotations

from dataclasses import dataclass, field

import structlog

from consumers.decoding import PoisonRecord, RawRecord, decode
from consumers.facts import FactEvent

log = structlog.get_logger("factview.consumer")


@dataclass(frozen=True, slots=True)
class DeadLetter:
    record: RawRecord
    reason: str


@dataclass
class BatchOutcome:
    logged: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    refolded: int = 0
    published: int = 0
    changed: dict[str, list[str]] = field(default_factory=dict)
    # Documents whose fold raised in this batch, by view: marked stale, not folded (quarantine).
    quarantined: dict[str, dict[str, str]] = field(default_factory=dict)
    # What the batch held and what of it was new to the log (metrics count these).
    consumed: list[FactEvent] = field(default_factory=list)
    dead_topics: list[str] = field(default_factory=list)
    fresh: list[FactEvent] = field(default_factory=list)
    seconds: float = 0.0


def split(records: list[RawRecord]) -> tuple[list[FactEvent], list[DeadLetter]]:
    """Decode what can be decoded; the rest become dead letters with their reason."""
    events: list[FactEvent] = []
    dead: list[DeadLetter] = []
    for record in records:
        try:
            events.append(decode(record))
        except PoisonRecord as exc:
            log.warning(
                "poison record",
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                reason=str(exc),
            )
            dead.append(DeadLetter(record, f"PoisonRecord: {exc}"))
    return events, dead
