"""Signing in and out of the accounts page: no token, a refused or expired one, a link with
another token, and signing out."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect

from app.auth import token_for
from app.settings import Settings
from tests.e2e.devstack import DevStack
from tests.e2e.web_app.browser import LIVE, assert_accessible, open_page


def assert_a_link_asks_before_switching(page: Page, customer_url: str) -> None:
    """A link with another token asks before replacing the stored one (staff's, here)."""
    signed_in = page.locator("#signed-in")
    page.goto(customer_url)
    switch = page.locator("#switch")
    expect(switch).to_be_visible()
    expect(switch).to_contain_text("signs you in as customer cus-0000")
    expect(switch).to_contain_text("You are signed in as staff (dev-staff)")
    expect(signed_in).to_be_hidden()
    assert "token=" not in page.url  # taken off the address at once
    assert_accessible(page, "asked to switch")
    page.get_by_role("button", name="Stay signed in").click()
    expect(signed_in).to_contain_text("Signed in as staff (dev-staff)", timeout=LIVE)
    page.goto(customer_url)
    page.get_by_role("button", name="Switch").click()
    expect(signed_in).to_contain_text("Signed in as Ada Lovelace", timeout=LIVE)


def test_sign_in_states(stack: DevStack, browser: Browser) -> None:
    base = f"http://127.0.0.1:{stack.port}/app"
    customer_url = stack.wait_for(r"web app: (\S+)").group(1)
    staff = stack.wait_for(r"staff token: (\S+)").group(1)
    settings = Settings(_env_file=stack.env_file)  # type: ignore[call-arg]
    page, problems = open_page(browser, base, 1024, 768)
    form = page.locator("#sign-in")
    signed_in = page.locator("#signed-in")
    field = page.get_by_label("Token", exact=True)

    def only_the_form(says: str | re.Pattern[str]) -> None:
        expect(form).to_be_visible()
        expect(page.locator("#sign-in-reason")).to_have_text(says)
        expect(signed_in).to_be_hidden()
        expect(page.locator("#picker")).to_be_hidden()
        expect(page.locator("#customer-view")).to_be_hidden()

    # No token: one clear state, a field to paste one.
    only_the_form("Paste your token to see your accounts.")
    assert_accessible(page, "signed out")
    field.fill("not a token")
    page.get_by_role("button", name="Sign in").click()
    expect(field).to_have_accessible_description(re.compile("^This is not a token"))
    assert_accessible(page, "a pasted non-token")

    # A token the server refuses (a forged signature): the form again, saying so.
    field.fill(staff[:-4] + ("AAAA" if not staff.endswith("AAAA") else "BBBB"))
    page.get_by_role("button", name="Sign in").click()
    only_the_form(re.compile(r"^That token was not accepted \(.+\)\. Paste a new one\.$"))

    # An expired token, stored from an earlier visit: asked for a new one, not shown an error pile.
    stale = token_for(settings, "dev-staff", "staff", ttl_seconds=-120)
    page.evaluate("(t) => localStorage.setItem('factview.token', t)", stale)
    page.reload()
    only_the_form("Your sign-in has expired. Paste a new token.")
    assert_accessible(page, "an expired token")

    # Pasting a good token signs in.
    page.get_by_label("Token", exact=True).fill(staff)
    page.get_by_role("button", name="Sign in").click()
    expect(signed_in).to_contain_text("Signed in as staff (dev-staff)", timeout=LIVE)
    expect(form).to_be_hidden()
    expect(page.get_by_label("Customer", exact=True)).to_be_enabled(timeout=LIVE)

    assert_a_link_asks_before_switching(page, customer_url)

    # Signing out forgets the token.
    page.get_by_role("button", name="Sign out").click()
    only_the_form("Paste your token to see your accounts.")
    page.reload()
    only_the_form("Paste your token to see your accounts.")
    # The refused forged token's 401 is the one console error this walk makes.
    assert [p for p in problems if "401" not in p] == []
