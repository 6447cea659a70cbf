"""The accounts page as a customer uses it: live balances, writes through the forms, refusals
tied to their field, and older transactions paged back from the newest."""

from __future__ import annotations

import httpx
from playwright.sync_api import Browser, Locator, Page, expect

from tests.e2e.devstack import DevStack
from tests.e2e.web_app.browser import (
    ARTIFACTS,
    LIVE,
    account_card,
    assert_accessible,
    choose,
    open_page,
    staff_url,
)


def assert_a_customer_sees_itself(page: Page) -> Locator:
    """A customer sees itself: its name, no customer picker, its accounts in a stable order, as
    seeded. Returns its EUR account's card."""
    expect(page.get_by_text("Signed in as Ada Lovelace")).to_be_visible(timeout=LIVE)
    expect(page.get_by_role("heading", name="Ada Lovelace", level=2)).to_be_visible()
    expect(page).to_have_title("Ada Lovelace · factview accounts")
    expect(page.get_by_label("Customer", exact=True)).to_be_hidden()
    expect(page.locator("#picker")).to_be_hidden()
    eur = account_card(page, "EUR")
    expect(eur.locator(".balance")).to_have_text("€14.00", timeout=LIVE)
    expect(account_card(page, "USD").locator(".balance")).to_have_text("$250.00")
    expect(page.locator("li.account h3")).to_have_text(["EUR account", "USD account"])
    # The seeded story: the correction and the late deposit, newest first.
    expect(eur.locator(".transactions li")).to_have_count(3)
    expect(eur.locator(".transactions li").first).to_contain_text("Withdrawal-€3.00")
    expect(eur.locator(".transactions li").last).to_contain_text("Deposit (corrected)€12.00")
    # The page's live regions: the connection state, page-level alerts and the one for changes;
    # none around the customer's section, a card, a balance or a form's outcome.
    regions = page.evaluate(
        """() => [...document.querySelectorAll(
             "[aria-live], output, [role=status], [role=log], [role=alert]")
           ].map((e) => e.id || e.className || e.tagName)"""
    )
    assert sorted(regions) == ["announce", "customer-gone", "live", "page-error"]
    assert_accessible(page, "a customer's accounts")
    return eur


def assert_refusals_are_tied_to_the_amount(page: Page, eur: Locator) -> None:
    """Refused amounts, a withdrawal that fits, and an overdraft, on the EUR card at €100.00."""
    balance = eur.locator(".balance")
    amount = eur.get_by_label("Amount (EUR)")
    # Refusals show inline, tied to the field they are about, and change nothing.
    error = eur.locator(".form-error")
    amount.fill("-5")
    eur.get_by_role("button", name="Withdraw").click()
    expect(error).to_have_text("Amount must be greater than zero.")
    amount.fill("ten")
    eur.get_by_role("button", name="Deposit").click()
    expect(error).to_contain_text("is not an amount")

    # A withdrawal that fits clears the refusal and the field's error state.
    amount.fill("19.25")
    eur.get_by_role("button", name="Withdraw").click()
    expect(balance).to_have_text("€100.00")
    expect(error).to_be_hidden()
    expect(amount).not_to_have_attribute("aria-invalid", "true")

    # An overdraft: refused in the customer's terms; the balance stays; the error is linked to
    # the amount field (read out as its description when the field gets the focus back).
    amount.fill("1000")
    eur.get_by_role("button", name="Withdraw").click()
    refusal = "Not enough money in your EUR account: balance €100.00"
    expect(error).to_have_text(refusal)
    expect(amount).to_have_attribute("aria-invalid", "true")
    expect(amount).to_have_attribute("aria-describedby", str(error.get_attribute("id")))
    expect(amount).to_have_accessible_description(refusal)
    expect(amount).to_be_focused()
    expect(balance).to_have_text("€100.00")
    assert_accessible(page, "a refused withdrawal")


def test_live_balances_and_writes_in_a_browser(stack: DevStack, browser: Browser) -> None:
    # The first URL printed for the page: signed in as the seeded customer, Ada (cus-0000).
    url = stack.wait_for(r"web app: (\S+)").group(1)
    accounts_owner = stack.wait_for(r"accounts owner: (\S+)").group(1)
    staff = stack.wait_for(r"staff token: (\S+)").group(1)
    page, problems = open_page(browser, url, 1280, 900)
    page.evaluate("window.sameDocument = true")  # gone if anything reloads the page

    eur = assert_a_customer_sees_itself(page)
    balance = eur.locator(".balance")
    amount = eur.get_by_label("Amount (EUR)")
    announce = page.locator("#announce")

    # A deposit through the form: the new balance from the mutation's fresh view, announced once.
    amount.fill("5.25")
    eur.get_by_role("button", name="Deposit").click()
    expect(eur.locator(".form-ok")).to_have_text("Deposited €5.25.")
    expect(balance).to_have_text("€19.25")
    expect(announce).to_have_text("Deposited €5.25. EUR account balance €19.25")
    expect(eur.locator(".transactions li").first).to_contain_text("Deposit€5.25")
    expect(amount).to_have_value("")

    # A fact the owner produces on its own (not through the page) arrives live, and is announced
    # as one short sentence naming the account.
    account_id = eur.get_attribute("data-account-id")
    r = httpx.post(
        f"{accounts_owner}/accounts/{account_id}/deposits",
        json={"amount": "100.00"},
        headers={"Authorization": f"Bearer {staff}"},
        timeout=10,
    )
    assert r.status_code == 201, r.text
    expect(balance).to_have_text("€119.25", timeout=LIVE)
    expect(announce).to_have_text("EUR account balance €119.25")

    assert_refusals_are_tied_to_the_amount(page, eur)

    assert page.evaluate("window.sameDocument") is True
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "app.png", full_page=True)
    assert problems == []


def test_older_transactions_page_back_from_the_newest(stack: DevStack, browser: Browser) -> None:
    owners = stack.wait_for(r"customers owner: (\S+)\s+accounts owner: (\S+)")
    staff = stack.wait_for(r"staff token: (\S+)").group(1)
    with httpx.Client(headers={"Authorization": f"Bearer {staff}"}, timeout=10) as owner:
        r = owner.post(f"{owners.group(1)}/customers", json={"name": "Ida", "email": "ida@x.org"})
        customer_id = r.json()["customerId"]
        r = owner.post(
            f"{owners.group(2)}/accounts", json={"customerId": customer_id, "currency": "EUR"}
        )
        account_id = r.json()["accountId"]
        for n in range(1, 13):  # 12 deposits: more than the newest page of 10
            r = owner.post(
                f"{owners.group(2)}/accounts/{account_id}/deposits", json={"amount": f"{n}.00"}
            )
            assert r.status_code == 201, r.text

    page, problems = open_page(browser, staff_url(stack), 1024, 900)
    choose(page, "Ida")
    eur = account_card(page, "EUR")
    rows = eur.locator(".transactions li")
    expect(eur.locator(".balance")).to_have_text("€78.00", timeout=LIVE)
    expect(rows).to_have_count(10)  # the newest 10, newest first
    expect(rows.first).to_contain_text("Deposit€12.00")
    expect(rows.last).to_contain_text("Deposit€3.00")
    older = eur.get_by_role("button", name="Show older transactions")
    older.click()
    expect(rows).to_have_count(12)
    expect(rows.last).to_contain_text("Deposit€1.00")
    expect(older).to_be_hidden()
    expect(rows.nth(10)).to_be_focused()  # where the list went on, not lost to the page
    # A new transaction pushes the page's oldest out of the newest 10: it stays listed.
    eur.get_by_label("Amount (EUR)").fill("13")
    eur.get_by_role("button", name="Deposit").click()
    expect(eur.locator(".balance")).to_have_text("€91.00")
    expect(rows).to_have_count(13)
    expect(rows).to_contain_text([f"€{n}.00" for n in range(13, 0, -1)])
    assert_accessible(page, "older transactions shown")
    assert problems == []
