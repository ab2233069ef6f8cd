// The portal page follows changes made elsewhere (a renewal, another tab, the app): it
// subscribes to customerChanged over graphql-ws with a token scoped to this one customer
// and reloads when the state differs from what the page shows (data-state, the same
// signature the server renders: view.Portal.signature). Comparing states, not counting
// messages, also catches a change made between rendering the page and subscribing.
// Without JavaScript the page shows the state as loaded.
import { createClient } from "./vendor/graphql-ws/client.js";

const QUERY = `subscription ($customer: CustomerRef!) {
  customerChanged(customer: $customer) {
    subscriptions(first: 25) { edges { node {
      productId status cancelAtPeriodEnd scheduledChange { toProductId toPriceId }
    } } }
    invoices(first: 25) { edges { node { status } } }
  }
}`;
const RELOADED_FOR = "billgate-portal-reloaded-for";

function signature(customer) {
  const plans = customer.subscriptions.edges.map((e) => e.node)
    .filter((s) => s.status !== "CANCELED")
    .map((s) => {
      const change = s.scheduledChange;
      const later = change ? `${change.toProductId}/${change.toPriceId ?? ""}` : "";
      return `${s.productId ?? ""}:${s.status}:${s.cancelAtPeriodEnd ? 1 : 0}:${later}`;
    })
    .sort();
  const invoices = customer.invoices.edges.map((e) => e.node.status);
  return `${plans.join(",")}|${invoices.join(",")}`;
}

const root = document.getElementById("live");
// A form being sent (or a link followed) is never cut short by a reload.
let leaving = false;
addEventListener("submit", () => { leaving = true; }, true);
addEventListener("beforeunload", () => { leaving = true; });
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
  client.subscribe({ query: QUERY, variables: { customer } }, {
    next: (result) => {
      const state = result.data && result.data.customerChanged;
      if (!state || leaving) return;
      const now = signature(state);
      // Never reload twice for one state (a page that cannot show it would loop).
      if (now === root.dataset.state || sessionStorage.getItem(RELOADED_FOR) === now) return;
      // A plan being chosen is not thrown away: wait for the next change.
      if (document.activeElement && document.activeElement.tagName === "SELECT") return;
      sessionStorage.setItem(RELOADED_FOR, now);
      // The page itself, without a message meant for the change that led here.
      location.replace(location.pathname);
    },
    error: () => {},
    complete: () => {},
  });
}
