// The example app: the user's plan and a live credit counter, an Upgrade button that buys
// Pro through billgate's hosted checkout, and a Manage billing button that opens billgate's
// customer portal (plans, card, invoices). No build step: plain ES modules, with
// @billgate/client's browser bundle in vendor/ (graphql-ws inside).
import { Billgate } from "./vendor/billgate-client.js";

const PLAN_LINE = "user-plans"; // the product line whose product is "the plan" (examples/catalog.yaml)
const UPGRADE_TO = { productId: "pro", priceId: "pro-monthly" };

const $ = (id) => document.getElementById(id);

function show(id, text) {
  $(id).textContent = text;
  $(id).hidden = !text;
}

// Your backend signs the customer token (HS256 with BILLGATE_CUSTOMER_TOKEN_SECRET) for the
// signed-in user; the page never sees the secret. Here: serve.py's /session.
async function session() {
  const response = await fetch("session");
  if (!response.ok) throw new Error(`could not get a session (${response.status})`);
  return response.json();
}

async function main() {
  const first = await session();
  let unused = first.token;
  const billgate = new Billgate({
    url: first.billgateUrl,
    // Called again whenever the token expired (billgate closes the live connection then):
    // the client reconnects with the new token and reads the balance again.
    getToken: async () => {
      const token = unused ?? (await session()).token;
      unused = undefined;
      return token;
    },
  });
  const user = billgate.customer({ type: "USER", customerId: first.userId });
  const fail = (error) => show("error", error.message);

  const params = new URLSearchParams(location.search);
  if (params.get("checkout_status") === "complete") {
    show("notice", "Thanks! Your purchase is complete.");
    history.replaceState(null, "", location.pathname); // a reload should not thank again
  }

  const catalog = await billgate.listProducts({ customerType: "USER", limit: 100 });
  const planIds = new Set(catalog.items.filter((p) => p.productLine?.productLineId === PLAN_LINE)
    .map((p) => p.productId));

  user.onItem("credits", (credits) => {
    $("credits").textContent = credits.quantity.toLocaleString("en");
  }, fail);

  user.onCustomer((customer) => {
    const plan = customer.products.find((p) => planIds.has(p.productId));
    $("plan").textContent = plan ? plan.displayName : "none";
    $("upgrade").hidden = !plan || plan.productId === UPGRADE_TO.productId;
  }, fail);

  $("upgrade").addEventListener("click", async () => {
    $("upgrade").disabled = true;
    try {
      const here = location.origin + location.pathname;
      // billgate's hosted checkout; it comes back to `here`.
      location.assign(await user.createCheckoutUrl({ ...UPGRADE_TO, returnUrl: here, cancelUrl: here }));
    } catch (error) {
      fail(error);
      $("upgrade").disabled = false;
    }
  });

  $("manage").addEventListener("click", async () => {
    $("manage").disabled = true;
    try {
      // A link valid for an hour; the portal links back to `here`.
      const here = location.origin + location.pathname;
      location.assign((await user.createCustomerPortalUrl({ returnUrl: here })).url);
    } catch (error) {
      fail(error);
      $("manage").disabled = false;
    }
  });
}

main().catch((error) => show("error", error.message));
