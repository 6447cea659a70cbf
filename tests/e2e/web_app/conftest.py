"""Started once for the package: the `factview dev` stack and one headless Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.e2e.devstack import DevStack, running_dev_stack
from tests.e2e.web_app.browser import CHROMIUM, CHROMIUM_ARGS


@pytest.fixture(scope="package")
def stack() -> Iterator[DevStack]:
    with running_dev_stack() as dev:
        yield dev


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()
