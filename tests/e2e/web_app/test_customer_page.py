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

from app.auth import token_for
from app.settings import Settings
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
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"
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


def test_live_balances_and_writes_in_a_browser(stack: DevStack, browser: Browser) -> None:
    # The first URL printed for the page: signed in as the seeded customer, Ada (cus-0000).
    url = stack.wait_for(r"web app: (\S+)").group(1)
    accounts_owner = stack.wait_for(r"accounts owner: (\S+)").group(1)
    staff = stack.wait_for(r"staff token: (\S+)").group(1)
    page, problems = open_page(browser, url, 1280, 900)
    page.evaluate("window.sameDocument = true")  # gone if anything reloads the page

    # A customer sees itself: its name, no customer picker, its accounts in a stable order.
    expect(page.get_by_text("Signed in as Ada Lovelace")).to_be_visible(timeout=LIVE)
    expect(page.get_by_role("heading", name="Ada Lovelace", level=2)).to_be_visible()
    expect(page).to_have_title("Ada Lovelace · factview accounts")
    expect(page.get_by_label("Customer", exact=True)).to_be_hidden()
    expect(page.locator("#picker")).to_be_hidden()
    eur = account_card(page, "EUR")
    balance = eur.locator(".balance")
    amount = eur.get_by_label("Amount (EUR)")
    expect(balance).to_have_text("€14.00", timeout=LIVE)
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
    announce = page.locator("#announce")
    assert_accessible(page, "a customer's accounts")

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

    assert page.evaluate("window.sameDocument") is True
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "app.png", full_page=True)
    assert problems == []


def staff_url(stack: DevStack) -> str:
    return stack.wait_for(r"web app as staff: (\S+)").group(1)


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

    # Keyboard only: focus the amount, type, Enter submits with the form's first button.
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

    # A link with another token asks before replacing the stored one.
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

    # Signing out forgets the token.
    page.get_by_role("button", name="Sign out").click()
    only_the_form("Paste your token to see your accounts.")
    page.reload()
    only_the_form("Paste your token to see your accounts.")
    # The refused forged token's 401 is the one console error this walk makes.
    assert [p for p in problems if "401" not in p] == []


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


def test_static_files_are_compressed_and_revalidated(stack: DevStack) -> None:
    stack.wait_for(r"factview is up")
    base = f"http://127.0.0.1:{stack.port}"
    static = Path(__file__).resolve().parents[3] / "app" / "http" / "web" / "static"
    with httpx.Client(base_url=base, headers={"Accept-Encoding": "gzip"}, timeout=10) as http:
        for path, file in [
            ("/app", "index.html"),
            ("/app/app.js", "app.js"),
            ("/app/app.css", "app.css"),
        ]:
            first = http.get(path)
            assert first.status_code == 200, path
            assert first.content == (static / file).read_bytes()  # httpx unzipped it
            assert first.headers["Content-Encoding"] == "gzip", path
            assert first.num_bytes_downloaded < len(first.content) / 2, path
            assert "Accept-Encoding" in first.headers["Vary"]
            assert first.headers["Cache-Control"] == "no-cache", path
            etag = first.headers["ETag"]
            assert etag.startswith('W/"'), etag  # one validator for both encodings
            again = http.get(path, headers={"If-None-Match": etag})
            assert (again.status_code, again.content) == (304, b""), path
            assert again.headers["ETag"] == etag
        # The page keeps its policy, fresh or revalidated.
        page = http.get("/app")
        revalidated = http.get("/app", headers={"If-None-Match": page.headers["ETag"]})
        assert revalidated.status_code == 304
        for response in (page, revalidated):
            assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
            assert response.headers["X-Content-Type-Options"] == "nosniff"
        # A client that does not take gzip gets the plain bytes.
        plain = http.get("/app/app.js", headers={"Accept-Encoding": "identity"})
        assert "Content-Encoding" not in plain.headers
        assert plain.num_bytes_downloaded == len(plain.content)
