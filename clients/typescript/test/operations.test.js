// The seed-shaped API against a real `billgate serve`: items, checkout, plans, invoices,
// billing, grants, errors and customer tokens.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Billgate, BillgateError } from "@billgate/client";
import { mintCustomerToken } from "@billgate/client/server";
import { startBillgate } from "@billgate/test-server";
import { completeCheckout, USER } from "./helpers.js";

const RETURN_URL = "http://app.test/billing";
let server;
let backend;

before(async () => {
  server = await startBillgate({ ALLOWED_RETURN_URLS: "http://app.test/" });
  backend = new Billgate({ url: server.url, secretKey: server.secretKey });
});
after(async () => {
  await server?.stop();
});

function asUser(userId, teams) {
  return new Billgate({
    url: server.url,
    getToken: () => mintCustomerToken({ secret: server.tokenSecret, customer: USER(userId), teams }),
  });
}

async function rejects(promise, code) {
  await assert.rejects(promise, (error) => {
    assert.ok(error instanceof BillgateError, `a BillgateError, got ${error}`);
    assert.equal(error.code, code, error.message);
    return true;
  });
}

describe("items", () => {
  test("getItem, then tryDecreaseQuantity: true while the balance lasts, false (and no change) after", async () => {
    const credits = backend.customer(USER("u-items")).item("credits");
    assert.deepEqual(await credits.get(), {
      itemId: "credits", displayName: "AI credits", quantity: 100, nonNegativeQuantity: 100,
      reserved: 0, available: 100, version: 1,
    });
    assert.equal(await credits.tryDecreaseQuantity(60), true);
    assert.equal(await credits.tryDecreaseQuantity(60), false);
    assert.equal((await backend.customer(USER("u-items")).getItem("credits")).quantity, 40);
  });

  test("an idempotency key makes a retry change nothing; the same key for another amount is refused", async () => {
    const credits = backend.customer(USER("u-idem")).item("credits");
    assert.equal(await credits.tryDecreaseQuantity(5, { idempotencyKey: "job-1" }), true);
    assert.equal(await credits.tryDecreaseQuantity(5, { idempotencyKey: "job-1" }), true);
    assert.equal((await credits.get()).quantity, 95);
    await rejects(credits.tryDecreaseQuantity(6, { idempotencyKey: "job-1" }), "IDEMPOTENCY_KEY_REUSED");
  });

  test("increaseQuantity and decreaseQuantity (which may go negative); listItems", async () => {
    const customer = backend.customer(USER("u-adjust"));
    const credits = customer.item("credits");
    assert.equal((await credits.increaseQuantity(50, { description: "support gift" })).quantity, 150);
    const item = await credits.decreaseQuantity(200);
    assert.deepEqual([item.quantity, item.nonNegativeQuantity], [-50, 0]);
    assert.deepEqual((await customer.listItems()).map((i) => [i.itemId, i.quantity]), [["credits", -50]]);
  });

  test("reserve holds against available; commit uses part (one change), release lets go; too much is null", async () => {
    const credits = backend.customer(USER("u-holds")).item("credits");
    const held = await credits.reserve(70, { ttlSeconds: 60 });
    assert.deepEqual([held.amount, held.status, held.itemId], [70, "HELD", "credits"]);
    assert.deepEqual(await credits.get(), {
      itemId: "credits", displayName: "AI credits", quantity: 100, nonNegativeQuantity: 100,
      reserved: 70, available: 30, version: 2,
    });
    assert.equal(await credits.reserve(31), null);
    assert.equal(await credits.tryDecreaseQuantity(31), false);
    const committed = await credits.commit(held.id, 20);
    assert.deepEqual([committed.quantity, committed.reserved, committed.available], [80, 0, 80]);
    const again = await credits.reserve(10, { idempotencyKey: "hold-1" });
    assert.equal((await credits.reserve(10, { idempotencyKey: "hold-1" })).id, again.id);
    assert.equal((await credits.release(again.id)).available, 80);
    await rejects(credits.commit(again.id), "RESERVATION_NOT_FOUND");
  });

  test("errors carry the server's code: unknown item, a token changing balances, bad amounts", async () => {
    await rejects(backend.customer(USER("u-err")).getItem("no-such-item"), "ITEM_NOT_FOUND");
    const app = asUser("u-err");
    await rejects(app.customer(USER("u-err")).item("credits").tryDecreaseQuantity(1), "FORBIDDEN");
    await rejects(backend.customer(USER("u-err")).item("credits").tryDecreaseQuantity(-3), "INVALID_INPUT");
  });
});

describe("catalog and grants", () => {
  test("listProducts pages through the catalog ({ items, nextCursor }); tokens never see server-only ones", async () => {
    const first = await backend.listProducts({ customerType: "USER", limit: 2 });
    assert.equal(first.items.length, 2);
    assert.ok(first.nextCursor);
    const rest = await backend.listProducts({ customerType: "USER", cursor: first.nextCursor });
    assert.equal(rest.nextCursor, null);
    const all = [...first.items, ...rest.items].map((p) => p.productId).sort();
    assert.deepEqual(all, ["credit-pack", "enterprise", "free", "internal-grant", "pro"]);
    const seenByUser = (await asUser("u-cat").listProducts({ customerType: "USER" })).items.map((p) => p.productId);
    assert.ok(!seenByUser.includes("internal-grant"));
    const anonymous = new Billgate({ url: server.url });
    assert.equal((await anonymous.getProduct("pro")).prices[0].amounts[0].amount, "19.00");
  });

  test("grantProduct (secret key) gives the product; the customer's listProducts and hasAccess show it", async () => {
    const ref = USER("u-grant");
    const granted = await backend.grantProduct({ customer: ref, productId: "credit-pack" });
    assert.equal(granted.ownedProduct.productId, "credit-pack");
    assert.equal(granted.subscription, null);
    const user = asUser("u-grant").customer(ref);
    const owned = await user.listProducts();
    assert.deepEqual(owned.items.map((p) => p.productId).sort(), ["credit-pack", "free"]);
    assert.equal(owned.nextCursor, null);
    assert.equal(await user.hasAccess("credit-pack"), true);
    assert.equal(await user.hasAccess("pro"), false);
    assert.equal((await user.getItem("credits")).quantity, 600);
    await rejects(asUser("u-grant").customer(ref).grantProduct({ productId: "credit-pack" }), "FORBIDDEN");
    await rejects(backend.grantProduct({ customer: ref, productId: "nope" }), "PRODUCT_NOT_FOUND");
  });
});

describe("checkout, plans, invoices and billing (a customer token, as in a browser)", () => {
  test("buy Pro, switch to Enterprise, page the invoices, cancel and undo, read billing", async () => {
    const ref = USER("u-plans");
    const user = asUser("u-plans").customer(ref);
    await rejects(user.createCheckoutUrl({ productId: "pro", priceId: "pro-monthly", returnUrl: "https://evil.test/" }),
                  "RETURN_URL_NOT_ALLOWED");
    const url = await user.createCheckoutUrl({ productId: "pro", priceId: "pro-monthly", returnUrl: RETURN_URL });
    assert.match(url, new RegExp(`^${server.base}/checkout/`));
    await completeCheckout(url);
    const state = await user.getCustomer();
    assert.deepEqual(state.products.map((p) => p.productId), ["pro"]);
    assert.deepEqual(state.products[0].switchOptions.map((p) => p.productId), ["enterprise"]);

    const preview = await user.previewSwitchSubscription({ fromProductId: "pro", toProductId: "enterprise" });
    assert.deepEqual(preview.lines.map((l) => l.kind), ["proration_credit", "proration_debit"]);
    assert.equal(preview.amountDueNow, preview.lines.reduce((sum, l) => sum + l.amount, 0));
    assert.ok(preview.amountDueNow > 0 && preview.creditToAccount === 0);
    const portal = await user.createCustomerPortalUrl({ returnUrl: RETURN_URL });
    assert.match(portal.url, new RegExp(`^${server.base}/portal/enter\\?token=`));
    await rejects(user.payInvoice("not-an-invoice"), "INVALID_INPUT");
    const switched = await user.switchSubscription({ fromProductId: "pro", toProductId: "enterprise" });
    assert.deepEqual([switched.productId, switched.status], ["enterprise", "ACTIVE"]);

    const first = await user.listInvoices({ limit: 1 });
    assert.equal(first.items.length, 1);
    assert.ok(first.nextCursor, "a second page");
    const second = await user.listInvoices({ limit: 1, cursor: first.nextCursor });
    assert.equal(second.nextCursor, null);
    const invoices = [...first.items, ...second.items];
    assert.deepEqual(invoices.map((i) => i.status), ["PAID", "PAID"]);
    assert.equal(invoices[1].amountTotal, 1900);
    assert.match(invoices[1].hostedInvoiceUrl, /^http:\/\/127\.0\.0\.1:\d+\//);
    assert.match(invoices[1].number, /^INV-\d{4}-\d{6}$/);
    assert.equal(invoices[1].pdfUrl, `${invoices[1].hostedInvoiceUrl}/pdf`);

    const canceled = await user.cancelSubscription({ productId: "enterprise" });
    assert.equal(canceled.cancelAtPeriodEnd, true);
    await rejects(user.cancelSubscription({ productId: "credit-pack" }), "SUBSCRIPTION_NOT_FOUND");
    assert.equal((await user.uncancelSubscription({ productId: "enterprise" })).cancelAtPeriodEnd, false);
    const subscriptions = await user.listSubscriptions({ status: ["ACTIVE"] });
    assert.deepEqual(subscriptions.items.map((s) => s.productId), ["enterprise"]);
    assert.equal((await user.getCurrentSubscription({ productLineId: "user-plans" })).productId, "enterprise");
    assert.equal(await user.hasAccess(), true); // any subscription with access now

    // A test-mode checkout saves no card: billing is empty until one is set (here through
    // `request`, the way to run any operation the client has no method for).
    assert.deepEqual(await user.getBilling(), { hasCustomer: false, defaultPaymentMethod: null });
    await backend.request(`mutation ($customer: CustomerRef!) {
      setTestPaymentMethod(input: {customer: $customer, cardNumber: "4242424242424242"}) { userErrors { code } } }`,
    { customer: ref });
    const billing = await user.getBilling();
    assert.equal(billing.hasCustomer, true);
    assert.deepEqual([billing.defaultPaymentMethod.brand, billing.defaultPaymentMethod.last4], ["visa", "4242"]);
    // The seed's app-level cancel, with the secret key.
    const ended = await backend.cancelSubscription({ customer: ref, productId: "enterprise", immediately: true });
    assert.equal(ended.status, "CANCELED");
    assert.equal(await user.getCurrentSubscription(), null);
    assert.equal(await user.hasAccess(), false);
    // Test mode has no Stripe: the SetupIntent is refused with the server's code.
    await rejects(user.createPaymentMethodSetupIntent(), "LIVE_MODE_ONLY");
  });

  test("team tokens: members read the team, only admins buy for it", async () => {
    const team = { type: "TEAM", customerId: "acme" };
    const member = asUser("u-member", { acme: "member" }).customer(team);
    const admin = asUser("u-admin", { acme: "admin" }).customer(team);
    assert.deepEqual(await member.listProducts(), { items: [], nextCursor: null });
    await rejects(member.createCheckoutUrl({ productId: "team", returnUrl: RETURN_URL }), "FORBIDDEN");
    assert.match(await admin.createCheckoutUrl({ productId: "team", returnUrl: RETURN_URL }), /\/checkout\//);
    await rejects(asUser("u-outsider").customer(team).listProducts(), "FORBIDDEN");
  });
});

describe("credentials", () => {
  test("a refused token (HTTP 401) makes the client ask getToken again and retry once", async () => {
    const tokens = [
      await mintCustomerToken({ secret: "not-the-server-secret", customer: USER("u-401") }),
      await mintCustomerToken({ secret: server.tokenSecret, customer: USER("u-401") }),
    ];
    let calls = 0;
    const app = new Billgate({ url: server.url, getToken: () => tokens[calls++] });
    assert.equal((await app.customer(USER("u-401")).getItem("credits")).quantity, 100);
    assert.equal(calls, 2);
  });

  test("a wrong secret key stays refused (UNAUTHENTICATED, HTTP 401); an unreachable server is NETWORK_ERROR", async () => {
    const wrong = new Billgate({ url: server.url, secretKey: "sk_test_wrong" });
    await assert.rejects(wrong.customer(USER("x")).getItem("credits"),
                         (error) => error.code === "UNAUTHENTICATED" && error.status === 401);
    const nowhere = new Billgate({ url: "http://127.0.0.1:9/graphql", secretKey: "k" });
    await rejects(nowhere.listProducts(), "NETWORK_ERROR");
  });

  test("mintCustomerToken: HS256 with sub, teams and exp; a token names a user", async () => {
    const token = await mintCustomerToken({ secret: "s", customer: USER("u-1"), teams: { acme: "admin" }, ttlSeconds: 60 });
    const [header, claims] = token.split(".").slice(0, 2).map((part) => JSON.parse(Buffer.from(part, "base64url")));
    assert.equal(header.alg, "HS256");
    assert.deepEqual([claims.sub, claims.teams, claims.exp - claims.iat], ["u-1", { acme: "admin" }, 60]);
    await assert.rejects(mintCustomerToken({ secret: "s", customer: { type: "TEAM", customerId: "acme" } }), TypeError);
    await assert.rejects(mintCustomerToken({ secret: "s", customer: USER("u"), teams: { acme: "owner" } }), TypeError);
    await assert.rejects(mintCustomerToken({ secret: "", customer: USER("u") }), TypeError);
  });
});
