// A small billgate client for browsers: GraphQL over fetch, subscriptions over graphql-ws.
// Copy it into your app. Both carry the customer token your backend gave the page.
import { createClient } from "./vendor/graphql-ws/client.js";

export function connect({ url, token }) {
  const authorization = `Bearer ${token}`;

  async function request(query, variables = {}) {
    // Cross-origin: billgate must list this page's origin in BILLGATE_ALLOWED_ORIGINS.
    const response = await fetch(`${url}/graphql`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: authorization },
      body: JSON.stringify({ query, variables }),
    });
    const body = await response.json();
    if (body.errors && body.errors.length) throw new Error(body.errors[0].message);
    return body.data;
  }

  // Browsers cannot set headers on a WebSocket: the token goes in connectionParams
  // (the connection_init payload), where billgate reads it.
  const ws = createClient({
    url: url.replace(/^http/, "ws") + "/graphql",
    connectionParams: { Authorization: authorization },
  });

  function subscribe(query, variables, onData, onError) {
    return ws.subscribe({ query, variables }, {
      next: (result) => (result.errors ? onError(new Error(result.errors[0].message)) : onData(result.data)),
      error: (error) => onError(error instanceof Error ? error : new Error("the live connection failed")),
      complete: () => {},
    });
  }

  return { request, subscribe };
}
