// The example app: the user's plan and a live credit counter, and an Upgrade button that
// buys Pro through billgate's hosted checkout. No build step: plain ES modules.
import { connect } from "./billgate.js";

const PLAN_LINE = "user-plans"; // the product line whose product is "the plan" (examples/catalog.yaml)
const UPGRADE_TO = { productId: "pro", priceId: "pro-monthly" };

const CREDITS = `subscription ($customer: CustomerRef!) {
  itemQuantityChanged(customer: $customer, itemId: "credits") { quantity }
}`;
const PLAN = `subscription ($customer: CustomerRef!) {
  customerChanged(customer: $customer) {
    products(first: 50) { edges { node { productId displayName subscription { status } } } }
  }
}`;
const PLANS = `{ productLines { productLineId products { productId } } }`;
const CHECKOUT = `mutation ($input: CreateCheckoutUrlInput!) {
  createCheckoutUrl(input: $input) { url userErrors { code message } }
}`;

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
  const { billgateUrl, token, userId } = await session();
  const billgate = connect({ url: billgateUrl, token });
  const customer = { type: "USER", customerId: userId };
  const fail = (error) => show("error", error.message);

  const params = new URLSearchParams(location.search);
  if (params.get("checkout_status") === "complete") {
    show("notice", "Thanks! Your purchase is complete.");
    history.replaceState(null, "", location.pathname); // a reload should not thank again
  }

  const lines = (await billgate.request(PLANS)).productLines;
  const planIds = new Set(lines.filter((l) => l.productLineId === PLAN_LINE)
    .flatMap((l) => l.products.map((p) => p.productId)));

  billgate.subscribe(CREDITS, { customer }, (data) => {
    $("credits").textContent = data.itemQuantityChanged.quantity.toLocaleString("en");
  }, fail);

  billgate.subscribe(PLAN, { customer }, (data) => {
    const owned = data.customerChanged.products.edges.map((e) => e.node);
    const plan = owned.find((p) => planIds.has(p.productId));
    $("plan").textContent = plan ? plan.displayName : "none";
    $("upgrade").hidden = !plan || plan.productId === UPGRADE_TO.productId;
  }, fail);

  $("upgrade").addEventListener("click", async () => {
    $("upgrade").disabled = true;
    try {
      const here = location.origin + location.pathname;
      const { createCheckoutUrl: result } = await billgate.request(CHECKOUT, { input: {
        customer, ...UPGRADE_TO, returnUrl: here, cancelUrl: here,
      } });
      if (result.userErrors.length) throw new Error(result.userErrors[0].message);
      location.assign(result.url); // billgate's hosted checkout; it comes back to `here`
    } catch (error) {
      fail(error);
      $("upgrade").disabled = false;
    }
  });
}

main().catch((error) => show("error", error.message));
