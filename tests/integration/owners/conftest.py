"""Each test gets its own owner (a real Starlette app on a port) and a reader of its topic."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.integration.owners.harness import Owner, serving
from upstream import accounts, customers


@pytest.fixture
async def customers_owner(
    kafka_bootstrap: str, unique: str, tmp_path: Path
) -> AsyncIterator[Owner]:
    async with serving(customers, "customers", kafka_bootstrap, unique, tmp_path) as owner:
        yield owner


@pytest.fixture
async def accounts_owner(kafka_bootstrap: str, unique: str, tmp_path: Path) -> AsyncIterator[Owner]:
    async with serving(accounts, "accounts", kafka_bootstrap, unique, tmp_path) as owner:
        yield owner
