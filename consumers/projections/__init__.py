"""The registry: every view factview keeps, in the order the engine folds them."""

from __future__ import annotations

from consumers.projection import Projection
from consumers.projections.account import AccountProjection
from consumers.projections.customer import CustomerProjection

# Joined views come after the views they embed.
PROJECTIONS: tuple[type[Projection], ...] = (AccountProjection, CustomerProjection)


def by_name(name: str) -> type[Projection]:
    for projection in PROJECTIONS:
        if projection.name == name or projection.collection == name:
            return projection
    known = ", ".join(p.name for p in PROJECTIONS)
    raise KeyError(f"unknown view {name!r} (known: {known})")
