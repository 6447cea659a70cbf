// Subscribe to one account with the graphql-ws client and print each update as a JSON line;
// exit after `count` updates. Usage: node subscribe.mjs WS_URL TOKEN ACCOUNT_ID COUNT
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const [url, token, accountId, count] = process.argv.slice(2);
const client = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: { Authorization: `Bearer ${token}` },
  retryAttempts: 0,
});
let seen = 0;
client.subscribe(
  {
    query: "subscription($id: ID!) { accountUpdated(id: $id) { id balance version } }",
    variables: { id: accountId },
  },
  {
    next: (message) => {
      console.log(JSON.stringify(message));
      seen += 1;
      if (seen >= Number(count)) {
        client.dispose();
        process.exit(0);
      }
    },
    error: (error) => {
      console.error(JSON.stringify(error, Object.getOwnPropertyNames(error)));
      process.exit(2);
    },
    complete: () => process.exit(seen >= Number(count) ? 0 : 3),
  },
);
