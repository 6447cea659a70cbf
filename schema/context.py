"""The typed context every resolver gets: what it may read or call, nothing else."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from strawberry.types import Info as StrawberryInfo

from app.access import GuardedViews
from app.live.hub import LiveHub
from app.metrics import Metrics
from app.read.freshness import Freshness
from app.writes.owners import Owners
from consumers.projection import Projection


@dataclass
class Context:
    # GuardedViews (app/access.py) in every served request: reads as the caller may see them.
    views: GuardedViews
    # The views the process folds (Runtime.projections): staff operations act on them.
    projections: tuple[type[Projection], ...]
    request: Any = None
    response: Any = None
    # Absent in a runtime started without serving (nothing then resolves writes or updates).
    live: LiveHub | None = None
    owners: Owners | None = None
    # Read-your-writes: the longest a write or a consistent read waits for its facts.
    fold_wait_seconds: float = 5.0
    # The `Authorization` value that was verified for this caller: the HTTP request's, or over a
    # websocket the connection_init payload's (never the upgrade request's headers).
    authorization: str | None = None
    # graphql-transport-ws: the connection_init payload (strawberry sets it).
    connection_params: Any = None
    metrics: Metrics | None = None
    freshness: Freshness | None = None
    # The consumer group whose dead letters staff operate (schema/operations.py).
    consumer_group: str = "factview"


Info = StrawberryInfo[Context, None]
