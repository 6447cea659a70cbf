"""What a batch brings the engine beside its events (dead letters), and what the engine reports."""

from __future__ import annotations

from dataclasses import dataclass, field

from consumers.decoding import RawRecord
from consumers.facts import FactEvent


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
