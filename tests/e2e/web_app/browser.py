"""Headless Chromium (Debian's) on the pages under test: a fresh page with its console errors,
axe-core on the page as it is, and the accounts page's parts. Every wait is on a condition in the
page (Playwright's `expect` retries until its timeout)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Locator, Page, expect

from tests.e2e.devstack import DevStack

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"
LIVE = 30_000  # ms: folding through Kafka and Mongo, then the change stream
AXE = Path(__file__).parents[1] / "node" / "node_modules" / "axe-core" / "axe.min.js"


def open_page(browser: Browser, url: str, width: int, height: int) -> tuple[Page, list[str]]:
    """A fresh page on `url`, and the list its console errors and uncaught exceptions go to."""
    context = browser.new_context(
        viewport={"width": width, "height": height}, locale="en-US", timezone_id="UTC"
    )
    page = context.new_page()
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(url)
    return page, problems


def assert_accessible(page: Page, state: str) -> None:
    """axe-core (npm, pinned in tests/e2e/node) finds nothing on the page as it is now."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: `make test` installs tests/e2e/node's packages")
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text())  # through DevTools: the page's CSP stays as served
    violations = page.evaluate(
        """async () => (await axe.run(document)).violations.map(
             (v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`)"""
    )
    assert violations == [], f"axe-core, {state}: {violations}"


def choose(page: Page, name: str) -> None:
    select = page.get_by_label("Customer", exact=True)
    expect(select.locator("option", has_text=name)).to_have_count(1, timeout=LIVE)
    select.select_option(label=name)


def account_card(page: Page, currency: str) -> Locator:
    heading = page.get_by_role("heading", name=f"{currency} account")
    return page.locator("li.account").filter(has=heading)


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two CSS `rgb(…)` colours."""

    def luminance(css: str) -> float:
        channels = [int(v) / 255 for v in re.findall(r"\d+", css)[:3]]
        linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def staff_url(stack: DevStack) -> str:
    return stack.wait_for(r"web app as staff: (\S+)").group(1)
