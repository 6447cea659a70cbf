// The accounts page: choose a customer, watch balances live, move money with read-your-writes.
import { GraphQLError, LiveClient, request } from "./graphql.js";
import {
  M_DEPOSIT,
  M_WITHDRAW,
  Q_ACCOUNT_AFTER,
  Q_CUSTOMER,
  Q_CUSTOMERS,
  Q_NAME,
  Q_OLDER,
  S_ACCOUNT,
  S_CUSTOMER,
} from "./operations.js";

const TOKEN_KEY = "factview.token";

const MOVES = {
  deposit: { query: M_DEPOSIT, done: "Deposited" },
  withdraw: { query: M_WITHDRAW, done: "Withdrew" },
};

const $ = (selector, root = document) => root.querySelector(selector);

// ---- credentials --------------------------------------------------------------------------

function stored() {
  try {
    return window.localStorage.getItem(TOKEN_KEY);
  } catch {
    return null; // storage disabled: a token lives for this visit only
  }
}

function store(token) {
  try {
    if (token) window.localStorage.setItem(TOKEN_KEY, token);
    else window.localStorage.removeItem(TOKEN_KEY);
  } catch {
    // storage disabled
  }
}

/** `#token=…` from the address, taken off it at once (it must not stay in history). */
function tokenFromLink() {
  const params = new URLSearchParams(window.location.hash.slice(1));
  const fromUrl = params.get("token");
  if (fromUrl) {
    params.delete("token");
    const rest = params.toString();
    const url = window.location.pathname + window.location.search + (rest ? `#${rest}` : "");
    window.history.replaceState(null, "", url);
  }
  return fromUrl?.trim() || null;
}

/** The token's claims, for display and the default customer only (the server verifies it). */
function claimsOf(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const claims = JSON.parse(window.atob(part));
    return claims && typeof claims === "object" ? claims : null;
  } catch {
    return null;
  }
}

const expired = (claims) => typeof claims?.exp === "number" && claims.exp * 1000 <= Date.now();

function describeClaims(claims) {
  if (!claims) return "an unreadable token";
  if (claims.role === "staff") return `staff${claims.sub ? ` (${claims.sub})` : ""}`;
  return `customer ${claims.sub ?? "(no id)"}`;
}

// ---- formatting ---------------------------------------------------------------------------

const moneyFormats = new Map();

/**
 * Money as the reader's locale writes it in that currency. The amount stays a decimal string:
 * Intl.NumberFormat formats strings exactly, and every digit the view has is shown.
 */
function formatMoney(amount, currency) {
  if (amount == null) return "—";
  const scale = (String(amount).split(".")[1] ?? "").length;
  const key = `${currency}:${scale}`;
  if (!moneyFormats.has(key)) {
    let format = null;
    try {
      const base = new Intl.NumberFormat(undefined, { style: "currency", currency });
      const digits = Math.max(base.resolvedOptions().maximumFractionDigits, scale);
      format = new Intl.NumberFormat(undefined, {
        style: "currency",
        currency,
        maximumFractionDigits: digits,
      });
    } catch {
      format = null; // no or unknown currency code
    }
    moneyFormats.set(key, format);
  }
  const format = moneyFormats.get(key);
  return format ? format.format(amount) : `${amount}${currency ? ` ${currency}` : ""}`;
}

const negate = (amount) => (String(amount).startsWith("-") ? amount.slice(1) : `-${amount}`);
const when = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const accountName = (view) => `${view?.currency ?? "—"} account`;

/** Set text only when it differs: rewriting unchanged text makes screen readers repeat it. */
function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

/** The one live region: one short sentence per change. */
function announce(text) {
  $("#announce").textContent = text;
}

// ---- page state ---------------------------------------------------------------------------

let token = null;
let claims = null;
let live = null;
let shown = null; // {id, accounts: Map<id, entry>, stops: [unsubscribe]} for the chosen customer

function showLiveState(state, detail, code) {
  const el = $("#live");
  el.hidden = false;
  el.dataset.state = state;
  setText(el, state === "live" ? "live" : state === "connecting" ? "connecting…" : `offline: ${detail}`);
  // The server closes with 4401/4403 when the token is refused or has expired.
  if (state === "down" && (code === 4401 || code === 4403)) signInAgain(detail);
}

function showPageError(message) {
  const el = $("#page-error");
  setText(el, message ?? "");
  el.hidden = !message;
}

const isAuthError = (error) => error instanceof GraphQLError && error.code === "UNAUTHENTICATED";

function describe(error) {
  if (error instanceof GraphQLError) {
    if (error.code === "FORBIDDEN") return `Not allowed: ${error.message}`;
    if (error.code === "OWNER_UNAVAILABLE" || error.code === "OWNER_TIMEOUT")
      return "The accounts service did not answer; nothing was changed on this page. Try again.";
    return error.message;
  }
  return `Cannot reach factview (${error.message}).`;
}

/**
 * The one sign-in state shown: the form (no token, or the token expired or was refused), a
 * question (a link carries another token), or who is signed in. Never two at once.
 */
function showSignIn(reason, detail = "") {
  const texts = {
    missing: "Paste your token to see your accounts.",
    stale: "Your sign-in has expired. Paste a new token.",
    invalid: `That token was not accepted${detail ? ` (${detail})` : ""}. Paste a new one.`,
  };
  stopAll();
  const form = $("#sign-in");
  form.dataset.reason = reason;
  setText($("#sign-in-reason"), texts[reason]);
  form.hidden = false;
  document.title = "Sign in · factview accounts";
}

/** Stop showing anything: no customer, no live connection, no sign-in state on screen. */
function stopAll() {
  stopShowing();
  live?.stop();
  live = null;
  token = null;
  claims = null;
  for (const id of ["#signed-in", "#switch", "#sign-in", "#picker", "#customer-view", "#live"]) {
    $(id).hidden = true;
  }
  showPageError(null);
  document.title = "factview accounts";
}

/** The token in use stopped working (expired or revoked): stop everything and ask for a new one. */
function signInAgain(detail) {
  if (!token) return;
  const reason = expired(claims) ? "stale" : "invalid";
  showSignIn(reason, reason === "invalid" ? detail : "");
}

function showSignedIn(name) {
  $("#sign-in").hidden = true;
  $("#switch").hidden = true;
  setText($("#who"), name);
  $("#signed-in").hidden = false;
}

/** A link brought a token other than the one in use: ask before replacing it. */
function askToSwitch(fromLink, current) {
  stopAll();
  setText(
    $("#switch-text"),
    `The link you opened signs you in as ${describeClaims(claimsOf(fromLink))}. ` +
      `You are signed in as ${describeClaims(claimsOf(current))}.`,
  );
  $("#switch").hidden = false;
  document.title = "Switch sign-in? · factview accounts";
  $("#switch-yes").onclick = () => {
    store(fromLink);
    $("#switch").hidden = true;
    start(fromLink);
  };
  $("#switch-no").onclick = () => {
    $("#switch").hidden = true;
    start(current);
  };
  $("#switch-yes").focus();
}

/** A token from a link (on load, or followed while the page is open). */
function arrived(fromLink) {
  const current = token ?? stored();
  // An expired token signs nobody in: only a live sign-in is worth a question.
  if (current && fromLink !== current && !expired(claimsOf(current))) {
    askToSwitch(fromLink, current); // a link must not silently replace who is signed in
  } else if (fromLink !== token) {
    store(fromLink);
    start(fromLink);
  }
}

$("#sign-in").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $("#token-input");
  const error = $("#token-error");
  const pasted = input.value.trim().replace(/^Bearer\s+/i, "");
  if (!claimsOf(pasted)) {
    error.id = "token-error";
    setText(error, "This is not a token: a token has three parts separated by dots.");
    error.hidden = false;
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", "token-error token-hint");
    input.focus();
    return;
  }
  error.hidden = true;
  input.removeAttribute("aria-invalid");
  input.setAttribute("aria-describedby", "token-hint");
  input.value = "";
  store(pasted);
  start(pasted);
});

$("#sign-out").addEventListener("click", () => {
  store(null);
  showSignIn("missing");
  $("#token-input").focus();
});

/** Sign in with `candidate`: check it with the server, then show what this caller may see. */
async function start(candidate) {
  stopAll();
  token = candidate;
  claims = claimsOf(candidate);
  if (expired(claims)) {
    signInAgain();
    return;
  }
  if (claims?.exp) {
    // Move to the sign-in form when the token runs out, not at the next failed request.
    const left = claims.exp * 1000 - Date.now();
    if (left < 2 ** 31) setTimeout(() => token === candidate && signInAgain(), left);
  }
  if (claims?.role === "customer" && claims.sub) {
    // A customer sees itself only: no picker, its own accounts straight away.
    let name = claims.sub;
    try {
      const { customer } = await request(Q_NAME, { id: claims.sub }, token);
      name = customer?.name ?? name;
    } catch (error) {
      if (token !== candidate) return; // signed in with another token meanwhile
      if (isAuthError(error)) return signInAgain(error.message);
      showPageError(describe(error));
    }
    if (token !== candidate) return;
    showSignedIn(name);
    openLive(candidate);
    showCustomer(claims.sub);
    return;
  }
  try {
    await loadCustomers();
  } catch (error) {
    if (token !== candidate) return;
    if (isAuthError(error)) return signInAgain(error.message);
    showPageError(describe(error));
  }
  if (token !== candidate) return;
  showSignedIn(describeClaims(claims));
  $("#picker").hidden = false;
  openLive(candidate);
}

function openLive(candidate) {
  live = new LiveClient({
    token: candidate,
    onState: (state, detail, code) => token === candidate && showLiveState(state, detail, code),
  });
}

// ---- customers (staff) --------------------------------------------------------------------

let listRetry = null;

async function loadCustomers() {
  const select = $("#customer");
  clearTimeout(listRetry);
  const customers = (await request(Q_CUSTOMERS, {}, token)).customers.nodes;
  showPageError(null);
  const wanted = select.value || shown?.id || "";
  const placeholder = new Option(customers.length ? "Choose a customer…" : "No customers yet", "");
  select.replaceChildren(placeholder, ...customers.map((c) => new Option(c.name ?? c.id, c.id)));
  select.disabled = customers.length === 0;
  if (customers.some((c) => c.id === wanted)) select.value = wanted;
  // The views fill in as facts arrive: until there is someone to show, look again.
  if (customers.length === 0) listRetry = setTimeout(() => loadCustomers().catch(() => {}), 1500);
}

// A customer is shown on commit: a click in the list, Enter, or leaving the list. Arrow keys only
// move through it (on a closed list they change its value and fire `change` at each step).
let browsing = false;
const BROWSE_KEYS = new Set(["ArrowUp", "ArrowDown", "Home", "End", "PageUp", "PageDown"]);

function commitCustomer() {
  browsing = false;
  const id = $("#customer").value;
  if (id !== (shown?.id ?? "")) showCustomer(id);
}

$("#customer").addEventListener("keydown", (event) => {
  if (event.key === "Enter") {
    event.preventDefault();
    commitCustomer();
  } else if (event.altKey || event.key === " " || event.key === "F4") {
    browsing = false; // opens the pop-up list, where a choice is a commit
  } else if (BROWSE_KEYS.has(event.key) || event.key.length === 1) {
    browsing = true;
  }
});
$("#customer").addEventListener("pointerdown", () => (browsing = false));
$("#customer").addEventListener("change", () => browsing || commitCustomer());
$("#customer").addEventListener("blur", () => browsing && commitCustomer());
$("#reload").addEventListener("click", () =>
  loadCustomers().catch((error) => (isAuthError(error) ? signInAgain(error.message) : showPageError(describe(error)))),
);

// ---- one customer -------------------------------------------------------------------------

function stopShowing() {
  if (!shown) return;
  for (const stop of shown.stops) stop();
  for (const entry of shown.accounts.values()) entry.stop?.();
  shown = null;
}

async function showCustomer(id) {
  stopShowing();
  const view = $("#customer-view");
  if (!id) {
    view.hidden = true;
    document.title = "factview accounts";
    return;
  }
  const current = { id, accounts: new Map(), stops: [] };
  shown = current;
  $("#accounts").replaceChildren();
  $("#customer-gone").hidden = true;
  setText($("#customer-name"), "Loading…");
  setText($("#customer-email"), "");
  view.setAttribute("aria-busy", "true");
  view.hidden = false;
  try {
    const { customer } = await request(Q_CUSTOMER, { id }, token);
    if (shown !== current) return;
    if (customer) applyCustomer(current, customer);
    else setText($("#customer-name"), "Not folded yet — waiting for this customer…");
  } catch (error) {
    if (shown !== current) return;
    if (isAuthError(error)) return signInAgain(error.message);
    showPageError(describe(error));
  } finally {
    if (shown === current) view.removeAttribute("aria-busy");
  }
  if (shown !== current) return;
  current.stops.push(
    follow(S_CUSTOMER, { id }, current, (data) => applyCustomer(current, data.customerUpdated), () => {
      setText($("#customer-gone"), "This customer no longer exists.");
      $("#customer-gone").hidden = false;
    }),
  );
}

/**
 * Keep a subscription going for as long as `current` is shown: after an error it is sent
 * again (with backoff), unless the server refused it for good.
 */
function follow(query, variables, current, onData, onComplete = () => {}) {
  let stop = null;
  let attempt = 0;
  let timer = null;
  const start = () => {
    stop = live.subscribe(query, variables, {
      next: (data) => {
        attempt = 0;
        if (shown === current) onData(data);
      },
      complete: () => shown === current && onComplete(),
      error: (error) => {
        if (shown !== current) return;
        if (isAuthError(error)) return signInAgain(error.message);
        if (error.code === "FORBIDDEN") {
          showPageError(`Live updates refused: ${describe(error)}`);
          return;
        }
        timer = setTimeout(start, Math.min(10_000, 500 * 2 ** attempt++));
      },
    });
  };
  start();
  return () => {
    clearTimeout(timer);
    stop?.();
  };
}

function applyCustomer(current, customer) {
  const name = customer.name ?? customer.id;
  setText($("#customer-name"), name);
  setText($("#customer-email"), customer.email ?? "");
  document.title = `${name} · factview accounts`;
  for (const account of customer.accounts) applyAccount(current, account);
  $("#no-accounts").hidden = current.accounts.size > 0;
}

// ---- accounts -----------------------------------------------------------------------------

/** Cards stay in one order, whatever order the views arrive in: by currency, then id. */
const cardOrder = (view) => `${view.currency ?? "~"}\u0000${view.id}`;

/**
 * Show an account view unless it is older than the one shown (each view counts the facts folded
 * into it in `version`), or the user's own write is still being confirmed. Returns whether the
 * balance shown changed; a change the user did not make is announced.
 */
function applyAccount(current, account, { confirmed = false, quiet = false } = {}) {
  let entry = current.accounts.get(account.id);
  if (!entry) {
    entry = createCard(current, account);
    current.accounts.set(account.id, entry);
    $("#no-accounts").hidden = true;
  }
  if (entry.pending && !confirmed) return false;
  if (!entry.view || account.version > entry.view.version) entry.view = account;
  else if (!confirmed) return false; // older than, or the same as, what is shown
  const before = entry.shownBalance;
  renderAccount(entry);
  const changed = before !== undefined && before !== entry.shownBalance;
  if (changed && !quiet) announce(`${accountName(entry.view)} balance ${entry.shownBalance}`);
  return changed;
}

function createCard(current, account) {
  const card = $("#account-card").content.firstElementChild.cloneNode(true);
  const entry = {
    card,
    view: null,
    pending: false,
    stop: null,
    shownBalance: undefined,
    rows: [], // the transactions listed, newest first
    older: null, // {cursor, hasPrevious} once older pages were asked for
  };
  card.dataset.accountId = account.id;
  card.dataset.order = cardOrder(account);
  const input = $(".amount", card);
  input.id = `amount-${account.id}`;
  $(".amount-label", card).htmlFor = input.id;
  $(".form-error", card).id = `error-${account.id}`;
  $(".move", card).addEventListener("submit", (event) => {
    event.preventDefault();
    move(current, entry, event.submitter?.value ?? "deposit");
  });
  input.addEventListener("input", () => delete entry.idempotencyKey);
  $(".older", card).addEventListener("click", () => showOlder(current, entry));
  const list = $("#accounts");
  const next = [...list.children].find((other) => other.dataset.order > card.dataset.order);
  list.insertBefore(card, next ?? null);
  entry.stop = follow(S_ACCOUNT, { id: account.id }, current, (data) =>
    applyAccount(current, data.accountUpdated),
  );
  return entry;
}

function renderAccount(entry) {
  const { card, view } = entry;
  const currency = view.currency;
  if (card.dataset.order !== cardOrder(view)) {
    // The currency became known (an account's facts may come before its opening): re-place it.
    card.dataset.order = cardOrder(view);
    const list = $("#accounts");
    const next = [...list.children].find((o) => o !== card && o.dataset.order > card.dataset.order);
    list.insertBefore(card, next ?? null);
  }
  setText($(".account-title", card), accountName(view));
  const status = $(".status", card);
  setText(status, view.status);
  status.dataset.status = view.status;
  entry.shownBalance = formatMoney(view.balance, currency);
  setText($(".balance", card), entry.shownBalance);
  $(".balance", card).dataset.version = String(view.version);
  $(".pending", card).hidden = !entry.pending;
  setText($(".amount-label", card), `Amount${currency ? ` (${currency})` : ""}`);
  setText($(".account-id", card), `Account ${view.id} · version ${view.version}`);
  renderTransactions(entry);
}

/**
 * Newest first: the view's latest page, then the older pages the user asked for. Once older
 * pages are shown, rows that a new transaction pushes out of the latest page stay listed.
 */
function renderTransactions(entry) {
  const { card, view } = entry;
  const latest = view.transactions.nodes.slice().reverse();
  let rows = latest;
  if (entry.older) {
    const fresh = new Set(latest.map((tx) => tx.id));
    rows = [...latest, ...entry.rows.filter((tx) => !fresh.has(tx.id))];
  }
  entry.rows = rows;
  $(".no-tx", card).hidden = rows.length > 0;
  const key = JSON.stringify(rows);
  if (entry.txKey !== key) {
    entry.txKey = key;
    $(".transactions", card).replaceChildren(...rows.map((tx) => transactionItem(tx, view.currency)));
  }
  const more = entry.older ? entry.older.hasPrevious : view.transactions.pageInfo.hasPreviousPage;
  $(".older", card).hidden = !more;
}

/** The page of transactions before the oldest shown (keyset cursor, so nothing is skipped). */
async function showOlder(current, entry) {
  const button = $(".older", entry.card);
  const before = entry.older?.cursor ?? entry.view.transactions.pageInfo.startCursor;
  button.disabled = true;
  try {
    const { account } = await request(Q_OLDER, { id: entry.view.id, before }, token);
    if (shown !== current || !account) return;
    const page = account.transactions;
    const shownBefore = entry.rows.length;
    entry.rows = [...entry.rows, ...page.nodes.slice().reverse()];
    entry.older = { cursor: page.pageInfo.startCursor, hasPrevious: page.pageInfo.hasPreviousPage };
    renderTransactions(entry);
    if (button.hidden) {
      // The button went away with the focus on it: continue from the first row it brought.
      const first = $(".transactions", entry.card).children[shownBefore];
      first?.setAttribute("tabindex", "-1");
      first?.focus();
    }
  } catch (error) {
    if (isAuthError(error)) return signInAgain(error.message);
    showPageError(describe(error));
  } finally {
    button.disabled = false;
  }
}

function transactionItem(tx, currency) {
  const li = document.createElement("li");
  const kind = document.createElement("span");
  kind.textContent = `${tx.kind === "DEPOSIT" ? "Deposit" : "Withdrawal"}${tx.corrected ? " (corrected)" : ""}`;
  const amount = document.createElement("span");
  amount.className = "tx-amount";
  amount.dataset.kind = tx.kind;
  amount.textContent = formatMoney(tx.kind === "DEPOSIT" ? tx.amount : negate(tx.amount), currency);
  const at = document.createElement("time");
  at.className = "tx-when";
  at.dateTime = tx.occurredAt;
  at.textContent = when.format(new Date(tx.occurredAt));
  const after = document.createElement("span");
  after.className = "tx-after";
  after.textContent = `balance ${formatMoney(tx.balanceAfter, currency)}`;
  li.append(kind, amount, at, after);
  return li;
}

function newKey() {
  return window.crypto?.randomUUID?.() ?? `${Date.now()}-${Math.random().toString(16).slice(2)}`;
}

/** A refusal in the user's terms, about this account. */
function refusal(result, entry) {
  const view = entry.view;
  const whose = claims?.role === "customer" ? "your" : "this";
  switch (result.__typename) {
    case "InsufficientFunds":
      return `Not enough money in ${whose} ${accountName(view)}: balance ${formatMoney(view?.balance, view?.currency)}`;
    case "AccountClosed":
      return `This ${accountName(view)} is closed: no money can move in or out.`;
    case "NotFound":
      return "This account no longer exists.";
    case "ValidationFailed": {
      const text = result.message ?? "Check the amount.";
      return text.charAt(0).toUpperCase() + text.slice(1) + (/[.!?]$/.test(text) ? "" : ".");
    }
    default:
      return result.message ?? "The write was refused.";
  }
}

async function move(current, entry, kind) {
  const { card } = entry;
  const form = $(".move", card);
  const input = $(".amount", card);
  const error = $(".form-error", card);
  const ok = $(".form-ok", card);
  const amount = input.value.trim();
  let refused = false;
  error.hidden = true;
  input.removeAttribute("aria-invalid");
  input.removeAttribute("aria-describedby");
  setText(ok, "");
  if (!amount) {
    fail("Enter an amount, such as 12.50.");
    input.focus();
    return;
  }
  // One key per intended write: sending the same form again after a lost answer cannot
  // move the money twice (the owner remembers the key).
  const key = `${kind}:${amount}`;
  if (entry.idempotencyKey?.startsWith(`${key}:`) !== true) entry.idempotencyKey = `${key}:${newKey()}`;
  const controls = [...form.elements];
  const hadFocus = form.contains(document.activeElement);
  controls.forEach((c) => (c.disabled = true));
  try {
    const variables = { accountId: entry.view?.id ?? card.dataset.accountId, amount };
    const headers = { "Idempotency-Key": entry.idempotencyKey };
    const { result } = await request(MOVES[kind].query, variables, token, headers);
    if (result.__typename.endsWith("Succeeded")) {
      delete entry.idempotencyKey;
      input.value = "";
      const done = `${MOVES[kind].done} ${formatMoney(result.amount, entry.view?.currency)}.`;
      setText(ok, done);
      settle(current, entry, result, done);
    } else {
      delete entry.idempotencyKey; // a definite refusal: the next try is a new write
      fail(refusal(result, entry));
    }
  } catch (err) {
    if (isAuthError(err)) {
      signInAgain(err.message);
      return;
    }
    if (err instanceof GraphQLError && /Decimal|amount/i.test(err.message) && !err.code) {
      delete entry.idempotencyKey;
      fail(`“${amount}” is not an amount; write it like 12.50.`);
    } else {
      fail(describe(err));
    }
  } finally {
    controls.forEach((c) => (c.disabled = false));
    // Disabling the controls dropped the keyboard focus: give it back, on the amount (where
    // a refusal is read out, as the field's description).
    const now = document.activeElement;
    if (refused || (hadFocus && (!now || now === document.body || form.contains(now)))) {
      input.focus();
    }
  }

  function fail(message) {
    setText(error, message);
    error.hidden = false;
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", error.id);
    refused = true;
  }
}

/** After the user's own write: show a view that includes it, never an older one. */
async function settle(current, entry, result, done) {
  if (result.folded && result.account) {
    applyAccount(current, result.account, { confirmed: true, quiet: true });
    announce(`${done} ${accountName(entry.view)} balance ${entry.shownBalance}`);
    return;
  }
  // The owner accepted the write but it was not folded in time: show the owner's balance and
  // hold back views until one that includes the write has been read.
  entry.pending = true;
  entry.shownBalance = formatMoney(result.balance, entry.view?.currency);
  setText($(".balance", entry.card), entry.shownBalance);
  $(".pending", entry.card).hidden = false;
  announce(`${done} ${accountName(entry.view)} balance ${entry.shownBalance}`);
  for (let attempt = 0; attempt < 5 && shown === current; attempt++) {
    try {
      const { account } = await request(
        Q_ACCOUNT_AFTER,
        { id: entry.card.dataset.accountId, token: result.consistencyToken },
        token,
      );
      entry.pending = false;
      if (account) applyAccount(current, account, { confirmed: true });
      $(".pending", entry.card).hidden = true;
      return;
    } catch {
      // CONSISTENCY_TIMEOUT or a network error: ask again
    }
  }
  entry.pending = false; // give up holding back; live updates carry on from here
  $(".pending", entry.card).hidden = true;
}

// ---- start --------------------------------------------------------------------------------

window.addEventListener("hashchange", () => {
  const fromLink = tokenFromLink();
  if (fromLink) arrived(fromLink);
});
{
  const fromLink = tokenFromLink();
  const current = stored();
  if (fromLink) arrived(fromLink);
  else if (current) start(current);
  else showSignIn("missing");
}
