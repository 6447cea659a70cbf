// GraphQL for the page: queries and mutations over fetch, subscriptions over the
// graphql-transport-ws protocol spoken directly on the browser's WebSocket.

const ENDPOINT = "/graphql";

export class GraphQLError extends Error {
  constructor(errors) {
    super(errors.map((e) => e.message).join("; "));
    this.errors = errors;
    this.code = errors[0]?.extensions?.code ?? null;
  }
}

/** POST a document; resolves to `data`, rejects with GraphQLError (or a network error). */
export async function request(query, variables, token, extraHeaders = {}) {
  const headers = { "content-type": "application/json", accept: "application/json", ...extraHeaders };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(ENDPOINT, {
    method: "POST",
    headers,
    body: JSON.stringify({ query, variables }),
  });
  let body;
  try {
    body = await response.json();
  } catch {
    throw new Error(`GraphQL endpoint answered ${response.status}`);
  }
  if (body.errors?.length) throw new GraphQLError(body.errors);
  if (!response.ok) throw new Error(`GraphQL endpoint answered ${response.status}`);
  return body.data;
}

// Close codes after which trying again with the same credentials is pointless.
const FATAL_CLOSE = new Set([4400, 4401, 4403]);

/**
 * One graphql-transport-ws connection, reopened (with backoff) when it drops; every
 * subscription still wanted is sent again on the new connection, and the server answers
 * each with the view's current state first, so nothing is missed across a reconnect.
 */
export class LiveClient {
  constructor({ token, onState }) {
    this.token = token;
    this.onState = onState ?? (() => {});
    this.subs = new Map(); // id -> {payload, sink}
    this.nextId = 1;
    this.socket = null;
    this.acked = false;
    this.retry = 0;
    this.stopped = false;
    this.connect();
  }

  url() {
    const url = new URL(ENDPOINT, window.location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    url.hash = "";
    return url.toString();
  }

  connect() {
    this.acked = false;
    this.onState("connecting");
    const socket = new WebSocket(this.url(), "graphql-transport-ws");
    this.socket = socket;
    socket.onopen = () => {
      const payload = this.token ? { Authorization: `Bearer ${this.token}` } : {};
      this.send({ type: "connection_init", payload });
    };
    socket.onmessage = (event) => this.receive(event.data);
    socket.onclose = (event) => this.closed(socket, event);
  }

  send(message) {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  receive(text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    const sub = message.id ? this.subs.get(message.id) : undefined;
    switch (message.type) {
      case "connection_ack":
        this.acked = true;
        this.retry = 0;
        this.onState("live");
        for (const [id, { payload }] of this.subs) this.send({ id, type: "subscribe", payload });
        break;
      case "ping":
        this.send({ type: "pong", payload: message.payload });
        break;
      case "next":
        if (!sub) break;
        if (message.payload?.errors?.length) sub.sink.error(new GraphQLError(message.payload.errors));
        else sub.sink.next(message.payload.data);
        break;
      case "error":
        if (!sub) break;
        this.subs.delete(message.id);
        sub.sink.error(new GraphQLError(message.payload ?? [{ message: "subscription failed" }]));
        break;
      case "complete":
        if (!sub) break;
        this.subs.delete(message.id);
        sub.sink.complete();
        break;
      default:
        break; // pong, or anything newer than this client
    }
  }

  closed(socket, event) {
    if (socket !== this.socket || this.stopped) return;
    this.socket = null;
    if (FATAL_CLOSE.has(event.code)) {
      this.onState("down", event.reason || `refused (${event.code})`, event.code);
      return;
    }
    const delay = Math.min(10_000, 500 * 2 ** this.retry++);
    this.onState("down", `disconnected; retrying in ${Math.round(delay / 1000)} s`);
    setTimeout(() => this.stopped || this.connect(), delay);
  }

  /** Close for good (signing out): no reconnect, no more updates. */
  stop() {
    this.stopped = true;
    this.subs.clear();
    this.socket?.close(1000);
    this.socket = null;
  }

  /** Subscribe; `sink` has next(data), error(err), complete(). Returns the unsubscribe function. */
  subscribe(query, variables, sink) {
    const id = String(this.nextId++);
    const payload = { query, variables };
    this.subs.set(id, { payload, sink });
    if (this.acked) this.send({ id, type: "subscribe", payload });
    return () => {
      if (this.subs.delete(id) && this.acked) this.send({ id, type: "complete" });
    };
  }
}
