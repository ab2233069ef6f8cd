// The portal page follows changes made elsewhere (a renewal, another tab, the app): it
// subscribes to customerChanged over graphql-ws with a token scoped to this one customer
// and reloads when the customer changes after the first snapshot. Without JavaScript the
// page shows the state as loaded.
import { createClient } from "./vendor/graphql-ws/client.js";

const QUERY = `subscription ($customer: CustomerRef!) {
  customerChanged(customer: $customer) { customerId }
}`;

const root = document.getElementById("live");
if (root) {
  const customer = { type: root.dataset.customerType, customerId: root.dataset.customerId };
  let token = root.dataset.token;
  let first = true;
  const client = createClient({
    url: `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/graphql`,
    connectionParams: async () => {
      if (!first) {
        const response = await fetch(root.dataset.tokenUrl, { credentials: "same-origin" });
        if (!response.ok) throw new Error(`no live token (${response.status})`);
        token = (await response.json()).token;
      }
      first = false;
      return { Authorization: `Bearer ${token}` };
    },
    retryAttempts: 20,
    shouldRetry: () => true,
  });
  let snapshot = true;
  client.subscribe({ query: QUERY, variables: { customer } }, {
    next: () => {
      if (snapshot) { snapshot = false; return; }
      // A form being filled in is not thrown away: reload only when nothing is focused.
      if (document.activeElement && document.activeElement.tagName === "SELECT") return;
      location.reload();
    },
    error: () => {},
    complete: () => {},
  });
}
