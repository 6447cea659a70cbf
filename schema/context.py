"""The typed context every resolver gets: what it may read or call, nothing else."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from strawberry.types import Info as StrawberryInfo

from app.live import LiveHub
from app.owners import Owners
from app.views import ViewReader


@dataclass
class Context:
    views: ViewReader
    request: Any = None
    response: Any = None
    # Absent in a runtime started without serving (nothing then resolves writes or updates).
    live: LiveHub | None = None
    owners: Owners | None = None
    # Read-your-writes: the longest a write or a consistent read waits for its facts.
    fold_wait_seconds: float = 5.0
    # graphql-transport-ws: the connection_init payload (strawberry sets it).
    connection_params: Any = None


Info = StrawberryInfo[Context, None]
