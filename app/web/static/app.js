// The accounts page: choose a customer, watch balances live, move money with read-your-writes.
import { GraphQLError, LiveClient, request } from "./graphql.js";
import {
  M_DEPOSIT,
  M_WITHDRAW,
  Q_ACCOUNT_AFTER,
  Q_CUSTOMER,
  Q_CUSTOMERS,
  Q_NAME,
  S_ACCOUNT,
  S_CUSTOMER,
} from "./operations.js";

const TOKEN_KEY = "factview.token";
const TX_SHOWN = 10;

const MOVES = {
  deposit: { query: M_DEPOSIT, done: "Deposited" },
  withdraw: { query: M_WITHDRAW, done: "Withdrew" },
};

const $ = (selector, root = document) => root.querySelector(selector);

// ---- credentials --------------------------------------------------------------------------

/** A token from `#token=…` (then kept in localStorage and taken off the URL), else the stored one. */
function readToken() {
  const params = new URLSearchParams(window.location.hash.slice(1));
  const fromUrl = params.get("token");
  let stored = null;
  try {
    if (fromUrl) window.localStorage.setItem(TOKEN_KEY, fromUrl);
    stored = window.localStorage.getItem(TOKEN_KEY);
  } catch {
    // storage may be disabled: the token from the URL still works for this visit
  }
  if (fromUrl) {
    params.delete("token");
    const rest = params.toString();
    const url = window.location.pathname + window.location.search + (rest ? `#${rest}` : "");
    window.history.replaceState(null, "", url);
  }
  return fromUrl || stored || null;
}

/** The token's claims, for display and the default customer only (the server verifies it). */
function claimsOf(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(window.atob(part)) ?? {};
  } catch {
    return {};
  }
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

// ---- page state ---------------------------------------------------------------------------

const token = readToken();
const claims = token ? claimsOf(token) : {};
const live = new LiveClient({ token, onState: showLiveState });
let shown = null; // {id, accounts: Map<id, entry>, stops: [unsubscribe]} for the chosen customer

function showLiveState(state, detail) {
  const el = $("#live");
  el.dataset.state = state;
  el.textContent =
    state === "live" ? "live" : state === "connecting" ? "connecting…" : `offline: ${detail}`;
}

function showPageError(message) {
  const el = $("#page-error");
  el.textContent = message ?? "";
  el.hidden = !message;
}

function describe(error) {
  if (error instanceof GraphQLError) {
    if (error.code === "UNAUTHENTICATED") return `Not signed in: ${error.message}`;
    if (error.code === "FORBIDDEN") return `Not allowed: ${error.message}`;
    if (error.code === "OWNER_UNAVAILABLE" || error.code === "OWNER_TIMEOUT")
      return "The accounts service did not answer; nothing was changed on this page. Try again.";
    return error.message;
  }
  return `Cannot reach factview (${error.message}).`;
}

function showAuth() {
  const el = $("#auth");
  el.replaceChildren();
  if (!token) {
    el.textContent = "No token: requests are sent without credentials.";
    return;
  }
  const who = claims.role ? `${claims.role}${claims.sub ? ` ${claims.sub}` : ""}` : "a token";
  el.append(`Signed in as ${who}. `);
  const forget = document.createElement("button");
  forget.type = "button";
  forget.className = "secondary";
  forget.textContent = "Forget token";
  forget.addEventListener("click", () => {
    try {
      window.localStorage.removeItem(TOKEN_KEY);
    } catch {
      // nothing stored
    }
    window.location.reload();
  });
  el.append(forget);
}

// ---- customers ----------------------------------------------------------------------------

let listRetry = null;

async function loadCustomers() {
  const select = $("#customer");
  clearTimeout(listRetry);
  let customers;
  try {
    customers = (await request(Q_CUSTOMERS, {}, token)).customers.nodes;
    showPageError(null);
  } catch (error) {
    if (claims.role === "customer" && claims.sub) {
      // A customer may not list everyone: offer the token's own customer.
      const one = await request(Q_NAME, { id: claims.sub }, token).catch(() => ({}));
      customers = [{ id: claims.sub, name: one.customer?.name ?? claims.sub }];
    } else {
      showPageError(describe(error));
      customers = [];
    }
  }
  const wanted = select.value || shown?.id || (claims.role === "customer" ? claims.sub : "");
  const placeholder = new Option(customers.length ? "Choose a customer…" : "No customers yet", "");
  select.replaceChildren(placeholder, ...customers.map((c) => new Option(c.name ?? c.id, c.id)));
  select.disabled = customers.length === 0;
  if (customers.some((c) => c.id === wanted)) {
    select.value = wanted;
    if (shown?.id !== wanted) showCustomer(wanted);
  }
  // The views fill in as facts arrive: until there is someone to show, look again.
  if (customers.length === 0) listRetry = setTimeout(loadCustomers, 1500);
}

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
    return;
  }
  const current = { id, accounts: new Map(), stops: [] };
  shown = current;
  $("#accounts").replaceChildren();
  $("#customer-gone").hidden = true;
  $("#customer-name").textContent = "Loading…";
  $("#customer-email").textContent = "";
  view.hidden = false;
  try {
    const { customer } = await request(Q_CUSTOMER, { id }, token);
    if (shown !== current) return;
    if (customer) applyCustomer(current, customer);
    else $("#customer-name").textContent = "Not folded yet — waiting for this customer…";
  } catch (error) {
    if (shown === current) showPageError(describe(error));
  }
  if (shown !== current) return;
  current.stops.push(
    follow(S_CUSTOMER, { id }, current, (data) => applyCustomer(current, data.customerUpdated), () => {
      $("#customer-gone").textContent = "This customer no longer exists.";
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
        if (error.code === "FORBIDDEN" || error.code === "UNAUTHENTICATED") {
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
  $("#customer-name").textContent = customer.name ?? customer.id;
  $("#customer-email").textContent = customer.email ?? "";
  for (const account of customer.accounts) applyAccount(current, account);
  $("#no-accounts").hidden = current.accounts.size > 0;
}

// ---- accounts -----------------------------------------------------------------------------

/**
 * Show an account view unless it is older than the one shown (each view counts the facts folded
 * into it in `version`), or the user's own write is still being confirmed.
 */
function applyAccount(current, account, { confirmed = false } = {}) {
  let entry = current.accounts.get(account.id);
  if (!entry) {
    entry = createCard(current, account);
    current.accounts.set(account.id, entry);
    $("#no-accounts").hidden = true;
  }
  if (entry.pending && !confirmed) return;
  if (!entry.view || account.version > entry.view.version) entry.view = account;
  else if (!confirmed) return; // older than, or the same as, what is shown
  renderAccount(entry);
}

function createCard(current, account) {
  const card = $("#account-card").content.firstElementChild.cloneNode(true);
  const entry = { card, view: null, pending: false, stop: null };
  card.dataset.accountId = account.id;
  const input = $(".amount", card);
  input.id = `amount-${account.id}`;
  $(".amount-label", card).htmlFor = input.id;
  $(".move", card).addEventListener("submit", (event) => {
    event.preventDefault();
    move(current, entry, event.submitter?.value ?? "deposit");
  });
  input.addEventListener("input", () => delete entry.idempotencyKey);
  $("#accounts").append(card);
  entry.stop = follow(S_ACCOUNT, { id: account.id }, current, (data) =>
    applyAccount(current, data.accountUpdated),
  );
  return entry;
}

function renderAccount(entry) {
  const { card, view } = entry;
  const currency = view.currency;
  card.setAttribute("aria-label", `${currency ?? ""} account`);
  $(".account-title", card).textContent = `${currency ?? "—"} account`;
  const status = $(".status", card);
  status.textContent = view.status;
  status.dataset.status = view.status;
  $(".balance", card).textContent = formatMoney(view.balance, currency);
  $(".balance", card).dataset.version = String(view.version);
  $(".pending", card).hidden = !entry.pending;
  $(".amount-label", card).textContent = `Amount${currency ? ` (${currency})` : ""}`;
  $(".account-id", card).textContent = `Account ${view.id} · version ${view.version}`;
  const txs = view.transactions.nodes.slice(-TX_SHOWN).reverse();
  $(".no-tx", card).hidden = txs.length > 0;
  $(".transactions", card).replaceChildren(...txs.map((tx) => transactionItem(tx, currency)));
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

async function move(current, entry, kind) {
  const { card } = entry;
  const form = $(".move", card);
  const input = $(".amount", card);
  const error = $(".form-error", card);
  const ok = $(".form-ok", card);
  const amount = input.value.trim();
  let refused = false;
  error.hidden = true;
  ok.textContent = "";
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
      ok.textContent = `${MOVES[kind].done} ${formatMoney(result.amount, entry.view?.currency)}.`;
      settle(current, entry, result);
    } else {
      delete entry.idempotencyKey; // a definite refusal: the next try is a new write
      fail(result.message);
    }
  } catch (err) {
    if (err instanceof GraphQLError && /Decimal|amount/i.test(err.message) && !err.code) {
      delete entry.idempotencyKey;
      fail(`“${amount}” is not an amount; write it like 12.50.`);
    } else {
      fail(describe(err));
    }
  } finally {
    controls.forEach((c) => (c.disabled = false));
    // Disabling the controls dropped the keyboard focus: give it back, on the amount.
    const now = document.activeElement;
    if (refused || (hadFocus && (!now || now === document.body || form.contains(now)))) {
      input.focus();
    }
  }

  function fail(message) {
    error.textContent = message;
    error.hidden = false;
    refused = true;
  }
}

/** After the user's own write: show a view that includes it, never an older one. */
async function settle(current, entry, result) {
  if (result.folded && result.account) {
    applyAccount(current, result.account, { confirmed: true });
    return;
  }
  // The owner accepted the write but it was not folded in time: show the owner's balance and
  // hold back views until one that includes the write has been read.
  entry.pending = true;
  $(".balance", entry.card).textContent = formatMoney(result.balance, entry.view?.currency);
  $(".pending", entry.card).hidden = false;
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

$("#customer").addEventListener("change", (event) => showCustomer(event.target.value));
$("#reload").addEventListener("click", () => loadCustomers());
showAuth();
loadCustomers();
