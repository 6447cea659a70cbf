"""GraphiQL in a browser: it loads without internet, and a subscription in one tab sees a deposit
made in another."""

from __future__ import annotations

import re
import time
from urllib.parse import urlsplit

import httpx
from playwright.sync_api import Browser, Page, Route, expect

from tests.e2e.devstack import DevStack
from tests.e2e.web_app.browser import ARTIFACTS, LIVE


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
