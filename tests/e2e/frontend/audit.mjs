// The graphql-http audit of the GraphQL-over-HTTP specification, against a running server.
// Usage: node audit.mjs URL TOKEN. Prints one JSON line per audit: {id, name, status, reason}.
import { auditServer } from "graphql-http";

const [url, token] = process.argv.slice(2);

// Every request carries the caller's token, as any real client of factview does.
function fetchFn(input, init = {}) {
  const headers = new Headers(init.headers);
  headers.set("authorization", `Bearer ${token}`);
  return fetch(input, { ...init, headers });
}

for (const result of await auditServer({ url, fetchFn })) {
  const { id, name, status } = result;
  const reason = status === "ok" ? undefined : result.reason;
  console.log(JSON.stringify({ id, name, status, reason }));
}
