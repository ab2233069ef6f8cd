// Live balances on a console customer page: itemQuantityChanged over graphql-ws, the same
// subscription any frontend uses, authorised by a short-lived token scoped to this one
// customer (never the secret key). Without JavaScript the page shows the balances as loaded.
import { createClient } from "./vendor/graphql-ws/client.js";

const QUERY = `subscription ($customer: CustomerRef!, $itemId: String!) {
  itemQuantityChanged(customer: $customer, itemId: $itemId) { quantity version }
}`;

const root = document.getElementById("live");
if (root) {
  const customer = { type: root.dataset.customerType, customerId: root.dataset.customerId };
  let token = root.dataset.token;
  const fresh = async () => {
    const url = `${root.dataset.tokenUrl}?type=${encodeURIComponent(customer.type)}&id=${encodeURIComponent(customer.customerId)}`;
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`no live token (${response.status})`);
    return (await response.json()).token;
  };
  let first = true;
  const client = createClient({
    url: `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/graphql`,
    // The page's token on the first connection, a fresh one on every reconnect.
    connectionParams: async () => {
      if (!first) token = await fresh();
      first = false;
      return { Authorization: `Bearer ${token}` };
    },
    retryAttempts: 1000,
    shouldRetry: () => true,
  });
  const format = new Intl.NumberFormat("en");
  for (const cell of document.querySelectorAll("[data-live-item]")) {
    const itemId = cell.dataset.liveItem;
    const dot = document.querySelector(`[data-live-dot="${CSS.escape(itemId)}"]`);
    client.subscribe({ query: QUERY, variables: { customer, itemId } }, {
      next: (result) => {
        const item = result.data && result.data.itemQuantityChanged;
        if (!item) return;
        cell.textContent = format.format(item.quantity);
        cell.dataset.version = String(item.version);
        if (dot) { dot.classList.add("on"); dot.title = "Live"; }
      },
      error: () => { if (dot) { dot.classList.remove("on"); dot.title = "Not live"; } },
      complete: () => {},
    });
  }
}
