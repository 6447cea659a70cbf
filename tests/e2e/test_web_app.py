"""The accounts page as a person uses it: headless Chromium (Debian's) on the `factview dev` stack.

Every wait is on a condition in the page (Playwright's `expect` retries until its timeout).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Locator,
    Page,
    Route,
    expect,
    sync_playwright,
)

from tests.e2e.devstack import DevStack, running_dev_stack

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
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
LIVE = 30_000  # ms: folding through Kafka and Mongo, then the change stream


@pytest.fixture(scope="module")
def stack() -> Iterator[DevStack]:
    with running_dev_stack() as dev:
        yield dev


@pytest.fixture(scope="module")
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


def choose(page: Page, name: str) -> None:
    select = page.get_by_label("Customer", exact=True)
    expect(select.locator("option", has_text=name)).to_have_count(1, timeout=LIVE)
    select.select_option(label=name)


def account_card(page: Page, currency: str) -> Locator:
    heading = page.get_by_role("heading", name=f"{currency} account")
    return page.locator("li.account").filter(has=heading)


def test_live_balances_and_writes_in_a_browser(stack: DevStack, browser: Browser) -> None:
    # The first URL printed for the page (with a token once dev mints them).
    url = stack.wait_for(r"web app: (\S+)").group(1)
    accounts_owner = stack.wait_for(r"accounts owner: (\S+)").group(1)
    staff = stack.wait_for(r"staff token: (\S+)").group(1)
    page, problems = open_page(browser, url, 1280, 900)
    page.evaluate("window.sameDocument = true")  # gone if anything reloads the page

    choose(page, "Ada Lovelace")
    eur = account_card(page, "EUR")
    balance = eur.locator("output.balance")
    amount = eur.get_by_label("Amount (EUR)")
    expect(balance).to_have_text("€7.00", timeout=LIVE)
    expect(account_card(page, "USD").locator("output.balance")).to_have_text("$250.00")

    # A deposit through the form: the new balance is shown from the mutation's fresh view.
    amount.fill("5.25")
    eur.get_by_role("button", name="Deposit").click()
    expect(eur.locator(".form-ok")).to_have_text("Deposited €5.25.")
    expect(balance).to_have_text("€12.25")
    expect(eur.locator(".transactions li").first).to_contain_text("Deposit€5.25")
    expect(amount).to_have_value("")

    # A fact the owner produces on its own (not through the page) arrives live.
    account_id = eur.get_attribute("data-account-id")
    r = httpx.post(
        f"{accounts_owner}/accounts/{account_id}/deposits",
        json={"amount": "100.00"},
        headers={"Authorization": f"Bearer {staff}"},
        timeout=10,
    )
    assert r.status_code == 201, r.text
    expect(balance).to_have_text("€112.25", timeout=LIVE)

    # Refusals show inline, next to the form, and change nothing.
    error = eur.locator(".form-error")
    amount.fill("-5")
    eur.get_by_role("button", name="Withdraw").click()
    expect(error).to_have_text("amount must be greater than zero")
    amount.fill("ten")
    eur.get_by_role("button", name="Deposit").click()
    expect(error).to_contain_text("is not an amount")

    # A withdrawal that fits clears the refusal.
    amount.fill("12.25")
    eur.get_by_role("button", name="Withdraw").click()
    expect(balance).to_have_text("€100.00")
    expect(error).to_be_hidden()

    # An overdraft: the owner refuses, in its own words, and the balance stays.
    amount.fill("1000")
    eur.get_by_role("button", name="Withdraw").click()
    expect(error).to_be_visible()
    expect(error).to_contain_text("cannot withdraw 1000.00")
    expect(balance).to_have_text("€100.00")

    assert page.evaluate("window.sameDocument") is True
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "app.png", full_page=True)
    assert problems == []


def staff_url(stack: DevStack) -> str:
    """The page as staff (any customer) when dev prints such a URL, else the plain one."""
    stack.wait_for(r"Ctrl-C stops everything")  # the whole banner is out
    for line in stack.lines:
        if match := re.search(r"web app as staff: (\S+)", line):
            return match.group(1)
    return stack.wait_for(r"web app: (\S+)").group(1)


def test_phone_width_and_keyboard(stack: DevStack, browser: Browser) -> None:
    url = staff_url(stack)
    page, problems = open_page(browser, url, 375, 812)
    choose(page, "Grace Hopper")
    eur = account_card(page, "EUR")
    balance = eur.locator("output.balance")
    expect(balance).to_have_text("€1,042.25", timeout=LIVE)

    # Keyboard only: focus the amount, type, Enter submits with the form's first button.
    eur.get_by_label("Amount (EUR)").focus()
    page.keyboard.type("0.75")
    page.keyboard.press("Enter")
    expect(balance).to_have_text("€1,043.00")
    expect(eur.get_by_label("Amount (EUR)")).to_be_focused()
    page.keyboard.press("Tab")  # from the amount field to the Deposit button
    expect(eur.get_by_role("button", name="Deposit")).to_be_focused()

    # Nothing is wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "app-375.png", full_page=True)
    assert problems == []


def test_graphiql_loads_without_internet(stack: DevStack, browser: Browser) -> None:
    stack.wait_for(r"factview is up")
    context = browser.new_context()
    outside: list[str] = []

    def only_here(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:  # as on a machine without internet
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_here)
    page = context.new_page()
    page.goto(f"http://127.0.0.1:{stack.port}/graphql", wait_until="load")
    expect(page.get_by_test_id("graphiql-container")).to_be_visible(timeout=LIVE)
    expect(page.locator(".graphiql-execute-button")).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "graphiql.png")
    assert outside == []
    context.close()


def alans_account(port: int, staff: str) -> str:
    """The demo's account with no movements, once the seed data is folded."""
    deadline = time.monotonic() + LIVE / 1000
    while time.monotonic() < deadline:
        listing = httpx.post(
            f"http://127.0.0.1:{port}/graphql",
            json={"query": "{ customers { nodes { name accounts { id } } } }"},
            headers={"Authorization": f"Bearer {staff}"},
            timeout=10,
        ).json()
        for customer in listing["data"]["customers"]["nodes"]:
            if customer["name"] == "Alan Turing" and customer["accounts"]:
                return str(customer["accounts"][0]["id"])
        time.sleep(0.1)  # poll interval, bounded by the deadline
    raise AssertionError("Alan Turing's account was not folded in time")


def test_graphiql_subscription_sees_a_deposit_made_in_another_tab(
    stack: DevStack, browser: Browser
) -> None:
    """The issue's person: GraphiQL in two tabs, subscribed in one, depositing in the other."""
    graphiql = stack.wait_for(r"GraphiQL as staff: (\S+)").group(1)
    staff = stack.wait_for(r"staff token: (\S+)").group(1)
    account_id = alans_account(stack.port, staff)
    context = browser.new_context(viewport={"width": 1400, "height": 900})

    def run_in_tab(query: str, shows: str) -> Page:
        page = context.new_page()
        page.goto(graphiql)
        editor = page.locator(".graphiql-query-editor .CodeMirror")
        expect(editor).to_be_visible(timeout=LIVE)
        # As if typed: GraphiQL's editor (CodeMirror) takes the text through its own API.
        editor.evaluate("(node, text) => node.CodeMirror.setValue(text)", query)
        response = page.locator(".graphiql-response")
        deadline = time.monotonic() + LIVE / 1000
        # GraphiQL reparses the editor in the background; run before that and it sends the
        # old document's way (HTTP), which factview answers with a coded error: run again.
        while time.monotonic() < deadline:
            page.locator(".graphiql-execute-button").click()
            expect(response).to_contain_text(
                re.compile(f"{re.escape(shows)}|BAD_REQUEST"), timeout=LIVE
            )
            if shows in response.inner_text():
                return page
        raise AssertionError(f"GraphiQL never showed {shows!r}: {response.inner_text()}")

    watching = run_in_tab(
        f'subscription Watch {{ accountUpdated(id: "{account_id}") {{ balance }} }}', '"0.00"'
    )
    depositing = run_in_tab(
        f'mutation Pay {{ deposit(accountId: "{account_id}", amount: "3.50") '
        "{ __typename ... on DepositSucceeded { folded balance } } }",
        "DepositSucceeded",
    )
    assert '"folded": true' in depositing.locator(".graphiql-response").inner_text()
    expect(watching.locator(".graphiql-response")).to_contain_text('"3.50"', timeout=LIVE)
    ARTIFACTS.mkdir(exist_ok=True)
    watching.screenshot(path=ARTIFACTS / "graphiql-subscription.png")
    context.close()
