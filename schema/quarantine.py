"""A document whose fold raised: stale, with the error, until `refold` folds it from the log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from consumers.quarantine import QUARANTINE


@strawberry.type(description="Why a document is stale: its fold raised; refold it once fixed.")
class Quarantine:
    error: str
    since: datetime
    # The newest events the failing fold was given (their ids).
    event_ids: list[str]

    @classmethod
    def of(cls, doc: dict[str, Any]) -> Quarantine | None:
        mark = doc.get(QUARANTINE)
        if not mark:
            return None
        return cls(
            error=mark["error"], since=mark["since"], event_ids=list(mark.get("eventIds", []))
        )


@strawberry.type
class QuarantinedDocument:
    view: str
    id: strawberry.ID
    quarantine: Quarantine
