"""The accounts page as staff use it: the customer picker by keyboard, at phone width."""

from __future__ import annotations

from playwright.sync_api import Browser, Locator, Page, expect

from tests.e2e.devstack import DevStack
from tests.e2e.web_app.browser import (
    ARTIFACTS,
    LIVE,
    account_card,
    assert_accessible,
    contrast,
    open_page,
    staff_url,
)


def deposit_by_keyboard(page: Page, eur: Locator) -> None:
    """Keyboard only: focus the amount, type, Enter submits with the form's first button; Tab
    then reaches the Deposit button, whose focus outline stands out from the card."""
    balance = eur.locator(".balance")
    eur.get_by_label("Amount (EUR)").focus()
    page.keyboard.type("0.75")
    page.keyboard.press("Enter")
    expect(balance).to_have_text("€1,043.00")
    expect(page.locator("#announce")).to_have_text("Deposited €0.75. EUR account balance €1,043.00")
    expect(eur.get_by_label("Amount (EUR)")).to_be_focused()
    page.keyboard.press("Tab")  # from the amount field to the Deposit button
    deposit = eur.get_by_role("button", name="Deposit")
    expect(deposit).to_be_focused()
    # The focus outline stands out from the card it sits on (WCAG 1.4.11: 3:1).
    outline = deposit.evaluate("(b) => getComputedStyle(b).outlineColor")
    card = eur.locator("article").evaluate("(a) => getComputedStyle(a).backgroundColor")
    assert contrast(outline, card) >= 3, (outline, card)


def test_staff_picker_keyboard_and_phone_width(stack: DevStack, browser: Browser) -> None:
    page, problems = open_page(browser, staff_url(stack), 375, 812)
    expect(page.get_by_text("Signed in as staff (dev-staff)")).to_be_visible(timeout=LIVE)
    select = page.get_by_label("Customer", exact=True)
    expect(select.locator("option", has_text="Grace Hopper")).to_have_count(1, timeout=LIVE)
    loads: list[str] = []
    page.on(
        "request",
        lambda request: "query Customer(" in (request.post_data or "") and loads.append("load"),
    )
    page.evaluate(
        """() => { window.busy = [];
             new MutationObserver(() => window.busy.push(
               document.querySelector("#customer-view").getAttribute("aria-busy"))
             ).observe(document.querySelector("#customer-view"), {attributes: true}); }"""
    )
    assert_accessible(page, "the staff picker")

    # Arrow keys move through the list without loading each customer on the way.
    select.focus()
    for _ in range(10):
        if select.locator("option:checked").inner_text() == "Grace Hopper":
            break
        page.keyboard.press("ArrowDown")
    expect(select.locator("option:checked")).to_have_text("Grace Hopper")
    expect(page.locator("#customer-view")).to_be_hidden()
    assert loads == []
    page.keyboard.press("Enter")  # the commit
    expect(page.get_by_role("heading", name="Grace Hopper", level=2)).to_be_visible(timeout=LIVE)
    expect(page).to_have_title("Grace Hopper · factview accounts")
    expect(page.locator("#customer-view")).not_to_have_attribute("aria-busy", "true")
    assert loads == ["load"]
    assert page.evaluate("window.busy") == ["true", None]  # busy while loading, then not

    eur = account_card(page, "EUR")
    balance = eur.locator(".balance")
    expect(balance).to_have_text("€1,042.25", timeout=LIVE)

    deposit_by_keyboard(page, eur)
    # A staff member refusing a customer's overdraft reads about "this" account, not "your".
    eur.get_by_label("Amount (EUR)").fill("5000")
    eur.get_by_role("button", name="Withdraw").click()
    expect(eur.locator(".form-error")).to_have_text(
        "Not enough money in this EUR account: balance €1,043.00"
    )

    # Nothing is wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    assert_accessible(page, "a customer chosen by staff, at 375 px")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "app-375.png", full_page=True)
    assert problems == []
