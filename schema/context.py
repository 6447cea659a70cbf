"""The typed context every resolver gets: what it may read, nothing it may not."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from strawberry.types import Info as StrawberryInfo

from app.views import ViewReader


@dataclass
class Context:
    views: ViewReader
    request: Any = None
    response: Any = None


Info = StrawberryInfo[Context, None]
