"""Operating the ingest: dead letters (list, redrive, discard) and documents (refold, quarantined).

One service for the CLI and for staff GraphQL, so both do the same thing. A GraphQL action is
audited as one log line (`staff operation`, with who, what and the outcome) and one count in
`factview_staff_operations_total`; a CLI action prints its outcome to the operator instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from app.metrics import Metrics
from consumers import dead_letters
from consumers.document import Document
from consumers.engine import FoldEngine
from consumers.projection import Projection, Settled
from consumers.quarantine import QUARANTINE
from consumers.rebuild.refold import refold_documents

log = structlog.get_logger("factview.operations")


@dataclass
class Operations:
    db: AsyncDatabase[Document]
    # The views the process folds: a redrive folds into them, quarantine is looked for in them.
    projections: tuple[type[Projection], ...]
    consumer_group: str
    # Who acts: a token's subject in GraphQL, `cli:user@host` on the command line.
    actor: str
    metrics: Metrics | None = None
    # Redriven events are folded like any: views that publish write their outbox rows.
    publish: bool = False
    # The command line prints each outcome to the operator instead of a log line.
    log_audit: bool = True

    def _audit(self, operation: str, outcome: str, **fields: Any) -> None:
        if self.log_audit:
            log.info(
                "staff operation", operation=operation, actor=self.actor, outcome=outcome, **fields
            )
        if self.metrics is not None:
            self.metrics.staff_operations.labels(operation, outcome).inc()

    async def redrive(self, ids: list[str] | None) -> dead_letters.RedriveOutcome:
        engine = FoldEngine(
            self.db, self.projections, consumer_group=self.consumer_group, publish=self.publish
        )
        outcome = await dead_letters.redrive(engine, ids)
        self._audit(
            "redrive",
            "ok" if not outcome.still_failing else "partly",
            ids=ids,
            redriven=outcome.redriven,
            still_failing=sorted(outcome.still_failing),
        )
        return outcome

    async def discard(self, letter_id: str, reason: str) -> Document:
        try:
            letter = await dead_letters.discard(self.db, letter_id, reason, self.actor)
        except dead_letters.NotDiscardable as exc:
            self._audit("discard", "refused", id=letter_id, error=str(exc))
            raise
        self._audit("discard", "ok", id=letter_id, reason=reason)
        return letter

    async def quarantined(
        self, first: int, after: tuple[str, str] | None
    ) -> tuple[list[tuple[str, Document]], bool]:
        """Stale documents of every view, by (view, id), from after `after`; whether more follow."""
        found: list[tuple[str, Document]] = []
        names = [p.name for p in self.projections]
        start = names.index(after[0]) if after is not None and after[0] in names else 0
        for projection in self.projections[start:]:
            query: Document = {QUARANTINE: {"$exists": True}}
            if after is not None and projection.name == after[0]:
                query["_id"] = {"$gt": after[1]}
            cursor = self.db[projection.collection].find(query).sort("_id", ASCENDING)
            found += [(projection.name, doc) async for doc in cursor.limit(first + 1 - len(found))]
            if len(found) > first:
                break
        return found[:first], len(found) > first

    async def refold(
        self, projection: type[Projection], ids: list[str]
    ) -> dict[str, Settled | None]:
        states = await refold_documents(self.db, projection, ids, self.projections)
        self._audit("refold", "ok", view=projection.name, ids=ids)
        return states
